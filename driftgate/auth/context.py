"""The authenticated principal of the call being served, for the handlers that record who acted.

The interceptor (driftgate.auth.interceptor) sets it for each call it admits; a handler reads it
with :func:`current_principal` or, for the audit log, :func:`audit_actor`. It is a ContextVar, not
an argument, because grpc hands a handler only its request and its context; every call runs in its
own task, so the value never leaks from one call into another (``asyncio.to_thread`` copies it).
"""

from __future__ import annotations

from contextvars import ContextVar

from driftgate.auth.roles import Principal

__all__ = ["audit_actor", "current_principal", "set_principal"]

_PRINCIPAL: ContextVar[Principal | None] = ContextVar("driftgate_principal", default=None)


def set_principal(principal: Principal | None) -> None:
    _PRINCIPAL.set(principal)


def current_principal() -> Principal | None:
    return _PRINCIPAL.get()


def audit_actor(claimed: str = "") -> str:
    """Who acted, for the audit log: the token's name; a different actor the client names is kept
    beside it, marked as claimed ("ops-token (claimed: alice)"). Outside an authenticated call (the
    registry's own loops, tests of the core) the claimed actor as given."""
    principal = _PRINCIPAL.get()
    if principal is None:
        return claimed
    if claimed and claimed != principal.name:
        return f"{principal.name} (claimed: {claimed})"
    return principal.name
