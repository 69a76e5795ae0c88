"""THE table: every RPC the registry serves, by full method name, and the least role it needs.

One row per method; a method without a row is refused for every caller (deny by default), and
tests/auth/test_auth_table.py calls every method of every service the registry serves with every
role, so a new RPC without a row fails the suite. Adding an RPC: add its row here, in its service's
block, with the least role that may call it (reads: VIEWER).

Decisions (docs/security.md explains them):
- viewer: every read (models, traffic, drift, events, gateways, accuracy, rollouts, policies), and
  server reflection (it only describes the API, which is public in the protos).
- operator: traffic, shadow, per-model settings (batching, drift thresholds) and accuracy alert
  settings (operational tuning of one model), labels (SubmitLabels), rollout pause/resume/abort/
  promote/rollback.
- admin: what changes which code or model runs, or who may call: register, retire, retrain, the
  retrain policy, tokens; and reading artifacts (a model file is the business's property).
- gateway: WatchConfig, ReportStatus, FetchArtifact only. ReportStatus is for gateways alone (its
  readiness states gate traffic changes and its scored rows feed the live AUC).
- grpc.health.v1 is open to everyone (Kubernetes probes carry no token).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from driftgate.auth.roles import HIERARCHY, Principal, Role

__all__ = ["ADMIN", "DASHBOARD_ROUTES", "GATEWAY_ONLY", "OPERATOR", "PUBLIC", "TABLE", "VIEWER", "Access", "refusal"]


@dataclass(frozen=True, slots=True)
class Access:
    """Who may call one method: ``least`` of the viewer < operator < admin hierarchy (None: no
    role of it), ``gateway`` tokens as well, or anyone at all (``public``, no token needed)."""

    least: Role | None
    gateway: bool = False
    public: bool = False

    def allows(self, role: Role) -> bool:
        if self.public:
            return True
        if role is Role.GATEWAY:
            return self.gateway
        return self.least is not None and HIERARCHY[role] >= HIERARCHY[self.least]

    def describe(self) -> str:
        """The roles that may call, for a refusal: "operator (or admin)", "gateway", "admin or gateway"."""
        if self.public:
            return "no role"
        names = []
        if self.least is not None:
            higher = [r.value for r, rank in HIERARCHY.items() if rank > HIERARCHY[self.least]]
            names.append(self.least.value + (f" (or {', '.join(higher)})" if higher else ""))
        if self.gateway:
            names.append("gateway")
        return " or ".join(names)


PUBLIC = Access(None, public=True)
VIEWER = Access(Role.VIEWER)
OPERATOR = Access(Role.OPERATOR)
ADMIN = Access(Role.ADMIN)
GATEWAY_ONLY = Access(None, gateway=True)

_CONTROL = "/driftgate.v1.Control/"
_FEEDBACK = "/driftgate.v1.Feedback/"
_ROLLOUTS = "/driftgate.v1.Rollouts/"

TABLE: Mapping[str, Access] = {
    # driftgate.v1.Control: catalogue
    _CONTROL + "RegisterVersion": ADMIN,
    _CONTROL + "ListModels": VIEWER,
    _CONTROL + "GetModel": VIEWER,
    _CONTROL + "RetireVersion": ADMIN,
    _CONTROL + "UpdateModelSettings": OPERATOR,
    # traffic
    _CONTROL + "SetTraffic": OPERATOR,
    _CONTROL + "SetShadow": OPERATOR,
    _CONTROL + "GetTraffic": VIEWER,
    # gateways
    _CONTROL + "WatchConfig": Access(Role.VIEWER, gateway=True),
    _CONTROL + "ReportStatus": GATEWAY_ONLY,
    _CONTROL + "FetchArtifact": Access(Role.ADMIN, gateway=True),
    _CONTROL + "ListGateways": VIEWER,
    # observation and audit
    _CONTROL + "GetDrift": VIEWER,
    _CONTROL + "ListEvents": VIEWER,
    _CONTROL + "GetStats": VIEWER,
    # operator actions on the gateways
    _CONTROL + "ReloadVersion": OPERATOR,
    # tokens
    _CONTROL + "CreateToken": ADMIN,
    _CONTROL + "ListTokens": ADMIN,
    _CONTROL + "RevokeToken": ADMIN,
    # driftgate.v1.Feedback
    _FEEDBACK + "SubmitLabels": OPERATOR,
    _FEEDBACK + "GetAccuracy": VIEWER,
    _FEEDBACK + "UpdateAccuracySettings": OPERATOR,
    # driftgate.v1.Rollouts
    _ROLLOUTS + "Retrain": ADMIN,
    _ROLLOUTS + "GetRollout": VIEWER,
    _ROLLOUTS + "Pause": OPERATOR,
    _ROLLOUTS + "Resume": OPERATOR,
    _ROLLOUTS + "Abort": OPERATOR,
    _ROLLOUTS + "Promote": OPERATOR,
    _ROLLOUTS + "Rollback": OPERATOR,
    _ROLLOUTS + "GetRetrainPolicy": VIEWER,
    _ROLLOUTS + "SetRetrainPolicy": ADMIN,
    # probes and reflection
    "/grpc.health.v1.Health/Check": PUBLIC,
    "/grpc.health.v1.Health/Watch": PUBLIC,
    "/grpc.health.v1.Health/List": PUBLIC,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": VIEWER,
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": VIEWER,
}


# The second mapping: the web dashboard's HTTP routes (Starlette route name) -> least role, so every page
# is in this one table too. "public" routes carry no data (the log-in form, the stylesheet, vendored
# scripts); the dashboard app refuses to build when one of its routes has no row here.
DASHBOARD_ROUTES: Mapping[str, str] = {
    "login": "public",
    "login_submit": "public",
    "static": "public",
    "logout": Role.VIEWER.value,
    "overview": Role.VIEWER.value,
    "overview_live": Role.VIEWER.value,
    "model": Role.VIEWER.value,
    "model_live": Role.VIEWER.value,
    "model_charts": Role.VIEWER.value,
    "rollouts": Role.VIEWER.value,
    "set_weights": Role.OPERATOR.value,
    "set_latest": Role.OPERATOR.value,
    "rollout_action": Role.OPERATOR.value,
}


def refusal(method: str, access: Access | None, principal: Principal) -> str:
    """The PERMISSION_DENIED message: what the method needs and what the token has."""
    if access is None:
        return f"{method} has no row in driftgate's auth table, so no role may call it"
    return (
        f"{method} needs the {access.describe()} role; "
        f"token {principal.name!r} has the {principal.role.value} role"
    )
