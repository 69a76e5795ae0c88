"""Canary rollouts: the second half of the closed loop (transport-free, synchronous, clock injected).

One rollout per model at a time, persisted in ``rollouts`` (registry/loop/rollout_db.py), so a registry restart
resumes it where it was. ``RolloutManager.tick(now)`` moves every active rollout on:

    loading   the challenger is registered (traffic pinned to the champion); wait until every live gateway
              reports it READY -> canary step 0. Any gateway reporting FAILED, or ready_timeout_s passing,
              rolls back ("not loaded").
    canary    step i: weights {champion: 100-p_i, challenger: p_i}. Once the step has been held step_hold_s
              AND the canary served step_min_requests in it, the gates are judged; all pass -> next step (or
              promote after the last); one fails -> roll back at once. A step without enough traffic within
              step_timeout_s rolls back ("no traffic"). A paused rollout still rolls back on a failing gate
              but does not advance.
    promoted  the champion alias moved; traffic challenger=100; the old champion stays loaded keep_old_s
              (``rollback`` is instant), then is retired -> done.
    done | rolled_back | aborted   final.

Gates, canary against champion on live traffic (counters summed over the gateways' reports, as deltas from
the counters saved when the step began; the champion's since the canary began, so that the 100 % step still
has a champion to compare with):

- error rate: canary's may exceed the champion's by at most max_error_rate_increase;
- p99 latency (from the latency buckets, floored at latency_floor_us): canary/champion <= max_p99_ratio;
- score PSI between the two versions' live score distributions (the drift windows' score column; the two
  histograms have different bin edges, so both are put on the union of the edges, uniform within a bin)
  <= max_score_psi;
- labelled accuracy, where a live-accuracy module is present (``accuracy_report``): canary AUC minus
  champion AUC >= min_accuracy_delta.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftgate.errors import Conflict, DriftgateError, NotFound
from driftgate.latency_buckets import LATENCY_BUCKET_BOUNDS_US
from driftgate.registry.catalogue.catalogue import Catalogue
from driftgate.registry.catalogue.gateways import GatewayTracker
from driftgate.registry.catalogue.records import ACTIVE
from driftgate.registry.loop.rollout_db import RolloutRecord, RolloutStore
from driftgate.registry.observation.aggregate import DriftAggregator
from driftgate.settings import Settings

__all__ = ["Counters", "RolloutManager", "p99_us", "score_psi"]

log = logging.getLogger("driftgate.registry.rollout")

ACTOR = "driftgate"


@dataclass(slots=True)
class Counters:
    requests: int = 0
    failures: int = 0
    buckets: tuple[int, ...] = ()

    def to_list(self) -> list[int]:
        return [self.requests, self.failures, *self.buckets]

    @classmethod
    def from_list(cls, values: list[int]) -> Counters:
        return cls(int(values[0]), int(values[1]), tuple(int(v) for v in values[2:]))

    def minus(self, base: Counters | None) -> Counters:
        """This minus ``base``; a counter that went down (the gateway restarted) counts from zero."""
        if base is None or self.requests < base.requests or self.failures < base.failures:
            return self
        n = max(len(self.buckets), len(base.buckets))
        mine = list(self.buckets) + [0] * (n - len(self.buckets))
        theirs = list(base.buckets) + [0] * (n - len(base.buckets))
        if any(a < b for a, b in zip(mine, theirs, strict=True)):
            return self
        return Counters(self.requests - base.requests, self.failures - base.failures,
                        tuple(a - b for a, b in zip(mine, theirs, strict=True)))

    def plus(self, other: Counters) -> Counters:
        n = max(len(self.buckets), len(other.buckets))
        a = list(self.buckets) + [0] * (n - len(self.buckets))
        b = list(other.buckets) + [0] * (n - len(other.buckets))
        return Counters(self.requests + other.requests, self.failures + other.failures,
                        tuple(x + y for x, y in zip(a, b, strict=True)))

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def p99_us(buckets: Iterable[int], floor_us: int = 0) -> float:
    """The upper bound of the bucket holding the 99th percentile (the overflow bucket counts as twice the last
    bound); ``floor_us`` when there is nothing, or below it."""
    counts = list(buckets)
    total = sum(counts)
    if total <= 0:
        return float(floor_us)
    bounds = [*LATENCY_BUCKET_BOUNDS_US, LATENCY_BUCKET_BOUNDS_US[-1] * 2]
    need = 0.99 * total
    seen = 0
    for i, c in enumerate(counts):
        seen += c
        if seen >= need:
            return float(max(bounds[min(i, len(bounds) - 1)], floor_us))
    return float(max(bounds[-1], floor_us))


def _cdf(counts: np.ndarray, edges: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Share of finite values <= x for a histogram in the profile's bin layout (0 NaN, 1 underflow, inner bins
    uniform, last overflow)."""
    c = np.asarray(counts, dtype=np.float64)
    total = c[1:].sum()
    if total <= 0:
        return np.zeros_like(x)
    f = c[1] * (x >= edges[0])
    for i in range(len(edges) - 1):
        lo, hi = edges[i], edges[i + 1]
        share = np.clip((x - lo) / (hi - lo), 0.0, 1.0) if hi > lo else (x >= lo).astype(np.float64)
        f = f + c[2 + i] * share
    return np.asarray(f / total)


def score_psi(
    a_counts: np.ndarray, a_edges: np.ndarray, b_counts: np.ndarray, b_edges: np.ndarray, eps: float = 1e-4
) -> float:
    """PSI between two score histograms binned on different edges, compared on the union of their edges."""
    grid = np.unique(np.concatenate([np.asarray(a_edges, float), np.asarray(b_edges, float)]))

    def shares(counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
        f = _cdf(counts, np.asarray(edges, float), grid)
        return np.concatenate([[f[0]], np.diff(f), [1.0 - f[-1]]])

    p, q = shares(a_counts, a_edges), shares(b_counts, b_edges)
    p, q = np.maximum(p, eps), np.maximum(q, eps)
    return float(np.sum((p - q) * np.log(p / q)))


def _weights(champion: int, challenger: int, percent: int) -> dict[int, int]:
    return {champion: 100 - percent, challenger: percent}


class RolloutManager:
    def __init__(
        self,
        catalogue: Catalogue,
        store: RolloutStore,
        gateways: GatewayTracker,
        settings: Settings,
        aggregator: DriftAggregator | None = None,
        clock: Callable[[], float] = time.time,
        accuracy: Callable[[str, int, float], float | None] | None = None,
    ) -> None:
        self._catalogue = catalogue
        self._store = store
        self._gateways = gateways
        self._settings = settings
        self._aggregator = aggregator
        self._clock = clock
        self._accuracy = accuracy  # (model, version, since) -> live AUC or None
        self._lock = threading.RLock()

    # ---- operator actions ----

    def start(self, model: str, champion: int, challenger: int, *, actor: str, run_id: int = 0) -> RolloutRecord:
        with self._lock:
            current = self._store.latest_rollout(model)
            if current is not None and current.active:
                raise Conflict(f"{model} already has rollout #{current.id} in state {current.state}")
            steps = tuple(int(s) for s in self._settings.rollout.steps)
            record = self._store.create_rollout(model, champion, challenger, steps, actor, run_id)
            self._catalogue.record_event(
                "rollout_started", model, challenger, actor,
                f"rollout #{record.id}: canary {model} v{challenger} against champion v{champion} in steps "
                + ", ".join(f"{s}%" for s in steps),
                {"rollout": record.id, "champion": champion, "challenger": challenger, "steps": list(steps)},
            )
            return record

    def current(self, model: str) -> RolloutRecord | None:
        return self._store.latest_rollout(model)

    def _active(self, model: str) -> RolloutRecord:
        r = self._store.latest_rollout(model)
        if r is None or not r.active:
            raise Conflict(f"{model} has no rollout in progress")
        return r

    def pause(self, model: str, actor: str, reason: str = "") -> RolloutRecord:
        with self._lock:
            r = self._active(model)
            r = self._store.update_rollout(r.id, paused=True)
            self._event(r, "rollout_paused", actor, f"paused at step {self._step_text(r)}", reason)
            return r

    def resume(self, model: str, actor: str, reason: str = "") -> RolloutRecord:
        with self._lock:
            r = self._active(model)
            r = self._store.update_rollout(r.id, paused=False)
            self._event(r, "rollout_resumed", actor, f"resumed at step {self._step_text(r)}", reason)
            return r

    def promote(self, model: str, actor: str, reason: str = "") -> RolloutRecord:
        """Skip the remaining steps: promote now."""
        with self._lock:
            r = self._active(model)
            if r.state == "promoted":
                raise Conflict(f"{model} v{r.challenger} is already promoted")
            return self._promote(r, self._clock(), actor, reason or "promoted by an operator")

    def rollback(self, model: str, actor: str, reason: str = "") -> RolloutRecord:
        """Back to the champion now (also after a promotion, while the old champion is still loaded)."""
        with self._lock:
            r = self._active(model)
            return self._roll_back(r, actor, reason or "rolled back by an operator")

    def abort(self, model: str, actor: str, reason: str = "") -> RolloutRecord:
        """Stop the rollout: traffic back to the champion, the challenger retired (no gate failed)."""
        with self._lock:
            r = self._active(model)
            if r.state == "promoted":
                raise Conflict(f"{model} v{r.challenger} is already promoted; use rollback")
            self._catalogue.set_traffic(model, {r.champion: 100}, actor=actor, reason=f"rollout #{r.id} aborted")
            version = self._catalogue.get_version(model, r.challenger)
            if version.state == ACTIVE:
                self._catalogue.retire_version(model, r.challenger, actor, f"rollout #{r.id} aborted")
            r = self._store.update_rollout(r.id, state="aborted", reason=reason or "aborted by an operator")
            self._event(r, "rollout_aborted", actor, "aborted", reason)
            return r

    # ---- the controller's tick ----

    def tick(self, now: float | None = None) -> list[RolloutRecord]:
        """Move every active rollout on; returns their new records. Errors of one rollout do not stop others."""
        now = self._clock() if now is None else now
        out = []
        for r in self._store.active_rollouts():
            with self._lock:
                try:
                    out.append(self._advance(self._store.rollout(r.id), now))
                except DriftgateError as exc:
                    log.warning("rollout #%d of %s: %s", r.id, r.model, exc)
        return out

    def _advance(self, r: RolloutRecord, now: float) -> RolloutRecord:
        if not r.active:
            return r
        rs = self._settings.rollout
        if r.state == "promoted":
            if now >= r.retire_at:
                old = self._catalogue.get_version(r.model, r.champion)
                if old.state == ACTIVE:
                    self._catalogue.retire_version(
                        r.model, r.champion, ACTOR, f"replaced by v{r.challenger} (rollout #{r.id})"
                    )
                r = self._store.update_rollout(r.id, state="done")
                self._event(r, "rollout_done", ACTOR, f"v{r.champion} retired; v{r.challenger} is the champion", "")
            return r

        failed = self._challenger_failed(r)
        if failed:
            return self._roll_back(r, ACTOR, f"not loaded: {failed}")

        if r.state == "loading":
            if self._ready_everywhere(r):
                return self._enter_step(r, 0, now, canary_start=True)
            if now - r.step_started_at > rs.ready_timeout_s:
                return self._roll_back(
                    r, ACTOR,
                    f"not loaded: v{r.challenger} was not READY on every gateway within {rs.ready_timeout_s:g} s",
                )
            return r

        # canary
        gates = self._gates(r)
        verdict = self._judge(gates) if gates["canary_requests"] >= rs.step_min_requests else None
        if verdict:
            return self._roll_back(r, ACTOR, verdict, gates)
        held = now - r.step_started_at
        if r.paused:
            return self._store.update_rollout(r.id, gates=gates)
        if held >= rs.step_hold_s and gates["canary_requests"] >= rs.step_min_requests:
            passed = f"step {self._step_text(r)} passed: " + self._gate_text(gates)
            self._event(r, "rollout_step_passed", ACTOR, passed, "", gates)
            if r.step + 1 >= len(r.steps):
                return self._promote(r, now, ACTOR, "every canary step passed")
            return self._enter_step(r, r.step + 1, now)
        if held > rs.step_timeout_s:
            return self._roll_back(
                r, ACTOR,
                f"no traffic: the canary served {gates['canary_requests']} of {rs.step_min_requests} requests "
                f"in {held:.0f} s",
                gates,
            )
        return self._store.update_rollout(r.id, gates=gates)

    # ---- transitions ----

    def _enter_step(self, r: RolloutRecord, step: int, now: float, canary_start: bool = False) -> RolloutRecord:
        percent = r.steps[step]
        self._catalogue.set_traffic(
            r.model, _weights(r.champion, r.challenger, percent), actor=ACTOR,
            reason=f"rollout #{r.id} step {step + 1}/{len(r.steps)}: canary v{r.challenger} at {percent}%",
        )
        snap = self._snapshot(r)
        baseline = {"step": snap, "canary": snap if canary_start else r.baseline.get("canary", snap),
                    "canary_window": self._window_id(now) if canary_start else r.baseline.get("canary_window", 0),
                    "step_window": self._window_id(now)}
        r = self._store.update_rollout(r.id, state="canary", step=step, step_started_at=now, baseline=baseline,
                                       gates={})
        self._event(r, "rollout_step", ACTOR, f"step {self._step_text(r)}: v{r.challenger} gets {percent}%", "")
        return r

    def _promote(self, r: RolloutRecord, now: float, actor: str, reason: str) -> RolloutRecord:
        self._catalogue.set_traffic(r.model, {r.challenger: 100}, actor=actor,
                                    reason=f"rollout #{r.id}: promote v{r.challenger}")
        self._store.set_champion(r.model, r.challenger)
        r = self._store.update_rollout(r.id, state="promoted", retire_at=now + self._settings.rollout.keep_old_s,
                                       reason=reason)
        self._event(r, "rollout_promoted", actor,
                    f"v{r.challenger} promoted: the champion alias moves from v{r.champion}", reason)
        return r

    def _roll_back(self, r: RolloutRecord, actor: str, reason: str, gates: dict[str, Any] | None = None
                   ) -> RolloutRecord:
        self._catalogue.set_traffic(r.model, {r.champion: 100}, actor=actor,
                                    reason=f"rollout #{r.id} rolled back: {reason}")
        if r.state == "promoted":
            self._store.set_champion(r.model, r.champion)
        if self._catalogue.get_version(r.model, r.challenger).state == ACTIVE:
            self._catalogue.roll_back_version(r.model, r.challenger, actor, reason)
        r = self._store.update_rollout(r.id, state="rolled_back", reason=reason,
                                       **({"gates": gates} if gates else {}))
        self._event(r, "rollout_rolled_back", actor, f"v{r.challenger} rolled back", reason, gates)
        return r

    # ---- observations ----

    def _challenger_failed(self, r: RolloutRecord) -> str:
        for gw in self._gateways.live():
            state = gw.state_of(r.model, r.challenger)
            if state is not None and state.state == "FAILED":
                return f"FAILED on gateway {gw.gateway_id}" + (f" ({state.reason})" if state.reason else "")
        return ""

    def _ready_everywhere(self, r: RolloutRecord) -> bool:
        try:
            self._gateways.require_ready(r.model, r.challenger)
        except Conflict:
            return False
        return True

    def _snapshot(self, r: RolloutRecord) -> dict[str, dict[str, list[int]]]:
        out: dict[str, dict[str, list[int]]] = {}
        for gw in self._gateways.all():
            for s in gw.stats:
                if s.model == r.model and s.version in (r.champion, r.challenger):
                    c = Counters(s.requests, s.failures, tuple(s.latency_buckets))
                    out.setdefault(gw.gateway_id, {})[str(s.version)] = c.to_list()
        return out

    def _delta(self, r: RolloutRecord, version: int, base: dict[str, Any]) -> Counters:
        total = Counters()
        for gw in self._gateways.all():
            for s in gw.stats:
                if s.model == r.model and s.version == version:
                    now = Counters(s.requests, s.failures, tuple(s.latency_buckets))
                    saved = base.get(gw.gateway_id, {}).get(str(version))
                    total = total.plus(now.minus(Counters.from_list(saved) if saved else None))
        return total

    def _window_id(self, now: float) -> int:
        return self._aggregator.window_id(now) if self._aggregator is not None else 0

    def _psi(self, r: RolloutRecord) -> tuple[float | None, int, int]:
        if self._aggregator is None:
            return None, 0, 0
        try:
            a_prof = self._catalogue.get_version(r.model, r.challenger).profile
            b_prof = self._catalogue.get_version(r.model, r.champion).profile
        except NotFound:
            return None, 0, 0
        if a_prof is None or b_prof is None:
            return None, 0, 0
        a = self._aggregator.summed(r.model, r.challenger, int(r.baseline.get("step_window", 0)))
        b = self._aggregator.summed(r.model, r.champion, int(r.baseline.get("canary_window", 0)))
        if a is None or b is None:
            return None, 0 if a is None else int(a.rows), 0 if b is None else int(b.rows)
        psi = score_psi(a.counts[-1], np.asarray(a_prof["score"]["edges"]), b.counts[-1],
                        np.asarray(b_prof["score"]["edges"]))
        return psi, int(a.rows), int(b.rows)

    def _gates(self, r: RolloutRecord) -> dict[str, Any]:
        rs = self._settings.rollout
        canary = self._delta(r, r.challenger, r.baseline.get("step", {}))
        champion = self._delta(r, r.champion, r.baseline.get("canary", {}))
        psi, canary_rows, champion_rows = self._psi(r)
        gates: dict[str, Any] = {
            "canary_requests": canary.requests,
            "champion_requests": champion.requests,
            "canary_error_rate": canary.error_rate,
            "champion_error_rate": champion.error_rate,
            "canary_p99_us": p99_us(canary.buckets, rs.latency_floor_us),
            "champion_p99_us": p99_us(champion.buckets, rs.latency_floor_us),
            "score_psi": psi,
            "canary_score_rows": canary_rows,
            "champion_score_rows": champion_rows,
        }
        if self._accuracy is not None:
            since = r.step_started_at
            gates["canary_auc"] = self._accuracy(r.model, r.challenger, since)
            gates["champion_auc"] = self._accuracy(r.model, r.champion, r.created_at)
        return gates

    def _judge(self, g: dict[str, Any]) -> str:
        """Why the canary fails its gates; empty when it passes."""
        rs = self._settings.rollout
        if g["canary_error_rate"] > g["champion_error_rate"] + rs.max_error_rate_increase:
            return (f"error rate {g['canary_error_rate']:.2%} against the champion's "
                    f"{g['champion_error_rate']:.2%} (at most +{rs.max_error_rate_increase:.2%})")
        ratio = g["canary_p99_us"] / max(g["champion_p99_us"], 1.0)
        if ratio > rs.max_p99_ratio:
            return (f"p99 latency {g['canary_p99_us']:.0f} us is {ratio:.1f}x the champion's "
                    f"{g['champion_p99_us']:.0f} us (at most {rs.max_p99_ratio:g}x)")
        psi = g.get("score_psi")
        if psi is not None and math.isfinite(psi) and psi > rs.max_score_psi:
            return f"score PSI {psi:.3f} between canary and champion (at most {rs.max_score_psi:g})"
        a, b = g.get("canary_auc"), g.get("champion_auc")
        if a is not None and b is not None and a - b < rs.min_accuracy_delta:
            return f"labelled AUC {a:.3f} against the champion's {b:.3f} (at least {rs.min_accuracy_delta:+g})"
        return ""

    # ---- audit ----

    @staticmethod
    def _step_text(r: RolloutRecord) -> str:
        return f"{r.step + 1}/{len(r.steps)} ({r.steps[r.step]}%)"

    @staticmethod
    def _gate_text(g: dict[str, Any]) -> str:
        psi = g.get("score_psi")
        return (
            f"{g['canary_requests']} canary requests, errors {g['canary_error_rate']:.2%} vs "
            f"{g['champion_error_rate']:.2%}, p99 {g['canary_p99_us']:.0f} vs {g['champion_p99_us']:.0f} us, "
            f"score PSI {'n/a' if psi is None else f'{psi:.3f}'}"
        )

    def _event(self, r: RolloutRecord, kind: str, actor: str, what: str, why: str,
               gates: dict[str, Any] | None = None) -> None:
        self._catalogue.record_event(
            kind, r.model, r.challenger, actor or ACTOR,
            f"rollout #{r.id} of {r.model}: {what}" + (f": {why}" if why else ""),
            {"rollout": r.id, "state": r.state, "step": r.step, "champion": r.champion,
             "challenger": r.challenger, "reason": why, "gates": gates or {}},
        )
