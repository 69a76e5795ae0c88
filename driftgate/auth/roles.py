"""Who may call: the roles and the authenticated principal.

    viewer < operator < admin      a hierarchy: each role may do what the one below it may
    gateway                        outside it: a gateway may only watch its config, report its state
                                   and fetch artifacts (driftgate.auth.table says which RPCs)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["HIERARCHY", "Principal", "Role", "parse_role"]


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"
    GATEWAY = "gateway"


# rank in the operator hierarchy; the gateway role has none
HIERARCHY: dict[Role, int] = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


def parse_role(text: str) -> Role:
    """The role named ``text``; ValueError naming the roles there are."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise ValueError(f"unknown role {text!r}: one of {', '.join(r.value for r in Role)}") from None


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the token's name (what the audit log records) and its role."""

    name: str
    role: Role
