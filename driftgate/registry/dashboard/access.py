"""Who may see and do what in the dashboard: principals, roles, and the table of least roles per route.

The dashboard authenticates with the control plane's tokens: an ``Authenticator`` turns a token into a
``Principal`` (a name and a role) or None. Roles are ordered viewer < operator < admin; the ``gateway``
role (a gateway's own token) may watch, report and fetch on the gRPC API and nothing here.

``ROUTE_ROLES`` (``DASHBOARD_ROUTES`` of the one auth table, driftgate/auth/table.py) names the least
role of every route; the app refuses to build when a route has no row, so no page can be added without
deciding who may open it. ``PUBLIC`` routes carry no data (the login form, the stylesheet and vendored scripts).
"""

from __future__ import annotations

from typing import Protocol

from driftgate.auth.roles import Principal  # one principal type for the gRPC API and the dashboard
from driftgate.auth.table import DASHBOARD_ROUTES as ROUTE_ROLES  # every page is in the one auth table

__all__ = [
    "ADMIN",
    "GATEWAY",
    "OPERATOR",
    "PUBLIC",
    "ROUTE_ROLES",
    "VIEWER",
    "Authenticator",
    "Principal",
    "allows",
]

PUBLIC = "public"
VIEWER = "viewer"
OPERATOR = "operator"
ADMIN = "admin"
GATEWAY = "gateway"

# the people's roles, least first; a role not listed here (gateway) is allowed nothing but PUBLIC routes
_RANK = {VIEWER: 1, OPERATOR: 2, ADMIN: 3}




class Authenticator(Protocol):
    """The control plane's token store, as the dashboard uses it (awaited on the event loop)."""

    async def authenticate(self, token: str) -> Principal | None: ...


def allows(role: str, least: str) -> bool:
    """Whether a principal with ``role`` may use a route whose least role is ``least``."""
    if least == PUBLIC:
        return True
    return _RANK.get(role, 0) >= _RANK[least]
