"""The web dashboard the registry serves: overview, models (traffic, drift, accuracy), rollouts and the audit
log, and operators' actions; authenticated with the control plane's tokens.

    access    roles and the least role of every route (ROUTE_ROLES)
    sessions  browser sessions (HttpOnly, SameSite=Strict cookie; per-session CSRF token)
    readout   what the pages show, read from the registry's core objects (no transport)
    app       the Starlette app: routes, the auth guard, templates
    server    uvicorn in the registry's event loop
"""

from driftgate.dashboard.access import ROUTE_ROLES, Authenticator
from driftgate.dashboard.app import build_app
from driftgate.dashboard.readout import Readout, RegistryParts
from driftgate.dashboard.server import DashboardServer
from driftgate.dashboard.sessions import SessionStore

__all__ = [
    "ROUTE_ROLES",
    "Authenticator",
    "DashboardServer",
    "Readout",
    "RegistryParts",
    "SessionStore",
    "build_app",
]
