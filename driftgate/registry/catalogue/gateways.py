"""What the gateways say they hold: the latest report of each, in memory.

Observed state, never written to the database: a restarted registry learns it again within one
report interval. A gateway is *live* while its last report is younger than ``LIVE_INTERVALS``
report intervals; traffic may only move onto a version that every live gateway reports READY.
Gateways silent for ``FORGET_SECONDS`` are forgotten.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

from driftgate.errors import Conflict
from driftgate.registry.catalogue.records import GatewayStatus

__all__ = ["FORGET_SECONDS", "LIVE_INTERVALS", "GatewayTracker"]

LIVE_INTERVALS = 3.0
FORGET_SECONDS = 600.0


class GatewayTracker:
    def __init__(self, report_interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.report_interval_s = report_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._gateways: dict[str, GatewayStatus] = {}

    def record(self, status: GatewayStatus) -> GatewayStatus:
        """Remember ``status`` as the gateway's latest report (its last_seen is set to now)."""
        status = dataclasses.replace(status, last_seen=self._clock())
        with self._lock:
            self._gateways[status.gateway_id] = status
            cutoff = status.last_seen - FORGET_SECONDS
            for gid in [g for g, s in self._gateways.items() if s.last_seen < cutoff]:
                del self._gateways[gid]
        return status

    def all(self) -> list[GatewayStatus]:
        with self._lock:
            return sorted(self._gateways.values(), key=lambda s: s.gateway_id)

    def age(self, status: GatewayStatus) -> float:
        """Seconds since the gateway's last report."""
        return max(0.0, self._clock() - status.last_seen)

    def is_live(self, status: GatewayStatus) -> bool:
        return self._clock() - status.last_seen <= LIVE_INTERVALS * self.report_interval_s

    def live(self) -> list[GatewayStatus]:
        return [s for s in self.all() if self.is_live(s)]

    def require_ready(self, model: str, version: int) -> None:
        """Conflict unless every live gateway reports ``model`` ``version`` READY."""
        live = self.live()
        if not live:
            raise Conflict(
                f"no gateway has reported in the last {LIVE_INTERVALS * self.report_interval_s:g} s, so no one "
                f"can confirm {model} version {version} is READY; start a gateway first"
            )
        for gw in live:
            state = gw.state_of(model, version)
            if state is None or state.state != "READY":
                got = "not loaded" if state is None else state.state + (f" ({state.reason})" if state.reason else "")
                raise Conflict(f"{model} version {version} is not READY on gateway {gw.gateway_id}: {got}")


def applied_traffic(
    model: str, gateway: GatewayStatus
) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, float], ...]]:
    """What ``gateway`` routes now for ``model``, as it reported it in its last report (only
    versions READY there; empty when the model has no READY version there)."""
    for name, weights, shadows in gateway.routes:
        if name == model:
            return weights, shadows
    return (), ()
