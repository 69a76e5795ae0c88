"""The web dashboard the registry serves: overview, models (traffic, drift, accuracy), rollouts and the audit
log, and operators' actions; authenticated with the control plane's tokens.

    access    roles and the least role of every route (ROUTE_ROLES)
    sessions  browser sessions (HttpOnly, SameSite=Strict cookie; per-session CSRF token)
    readout   what the pages show, read from the registry's core objects (no transport)
    app       the Starlette app: routes, the auth guard, templates
    server    uvicorn in the registry's event loop
"""

from driftgate.registry.dashboard.access import ROUTE_ROLES, Authenticator
from driftgate.registry.dashboard.app import build_app
from driftgate.registry.dashboard.readout import Readout, RegistryParts
from driftgate.registry.dashboard.server import DashboardServer
from driftgate.registry.dashboard.sessions import SessionStore

__all__ = [
    "ROUTE_ROLES",
    "Authenticator",
    "DashboardServer",
    "Readout",
    "RegistryParts",
    "SessionStore",
    "build_app",
]
