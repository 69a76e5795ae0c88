"""The registry's loop controller: an asyncio task that ticks the rollouts and fires retrain triggers.

Every ``settings.rollout.tick_s`` it runs, off the event loop (asyncio.to_thread):

- ``RolloutManager.tick()``: every active rollout moves on (steps, gates, promote, roll back, retire);
- the retrain triggers of each model's policy: ``drift`` (a new ``drift_alert`` audit event for the champion,
  as DriftMonitor records them from the gateways' reports), ``accuracy`` (an active live-accuracy alert, where
  the accuracy module is present), ``schedule`` (every ``interval_s``). Automatic retrains wait for
  ``retrain_cooldown_s`` since the last one and never start while a rollout or a retrain of the model runs.

Retrains run in worker threads (their trainer in a child process) and are tracked here so that stop() can
wait for them a little.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from driftgate.errors import Conflict, InvalidRequest
from driftgate.redact import redact
from driftgate.registry.catalogue.catalogue import Catalogue
from driftgate.registry.loop.plugins import DATA_SOURCES, TRAINERS, check_allowed
from driftgate.registry.loop.retrain import Retrainer, RetrainSpec, resolve_champion
from driftgate.registry.loop.rollout import RolloutManager
from driftgate.registry.loop.rollout_db import RetrainPolicy, RetrainRun, RolloutStore
from driftgate.settings import Settings

__all__ = ["LoopController"]

log = logging.getLogger("driftgate.registry.controller")


class LoopController:
    def __init__(
        self,
        catalogue: Catalogue,
        store: RolloutStore,
        retrainer: Retrainer,
        rollouts: RolloutManager,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        accuracy_alerts: Callable[[str], Sequence[Any]] | None = None,
    ) -> None:
        self.catalogue = catalogue
        self._accuracy_alerts = accuracy_alerts  # model -> active live-accuracy alerts
        self.store = store
        self.retrainer = retrainer
        self.rollouts = rollouts
        self.settings = settings
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._jobs: set[asyncio.Task[Any]] = set()
        retrainer.set_on_registered(self._registered)

    def _registered(self, model: str, champion: int, challenger: int, run_id: int, actor: str) -> None:
        try:
            self.rollouts.start(model, champion, challenger, actor=actor or "driftgate", run_id=run_id)
        except Conflict as exc:
            log.warning("no rollout for %s v%d: %s", model, challenger, exc)

    # ---- lifecycle ----

    async def start(self) -> None:
        await asyncio.to_thread(self.retrainer.recover)
        self._task = asyncio.create_task(self._loop(), name="driftgate-rollout-controller")

    async def stop(self, grace: float = 2.0) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._jobs:
            await asyncio.wait(self._jobs, timeout=grace)

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.rollouts.tick)
                await self._triggers()
            except asyncio.CancelledError:
                raise
            except Exception:  # the controller must outlive any one bad tick
                log.exception("rollout controller tick failed")
            await asyncio.sleep(self.settings.rollout.tick_s)

    # ---- retrains ----

    def spec(self, policy: RetrainPolicy, overrides: Mapping[str, Any] | None = None) -> RetrainSpec:
        o = dict(overrides or {})
        return RetrainSpec(
            data_source=o.get("data_source") or policy.data_source,
            data_options={**policy.data_options, **dict(o.get("data_options") or {})},
            trainer=o.get("trainer") or policy.trainer,
            trainer_options={**policy.trainer_options, **dict(o.get("trainer_options") or {})},
            force=bool(o.get("force", False)),
            auto_rollout=bool(o.get("auto_rollout", policy.auto_rollout)),
        )

    async def retrain(
        self, model: str, *, trigger: str, actor: str, reason: str, overrides: Mapping[str, Any] | None = None
    ) -> RetrainRun:
        """Start a retrain in the background; Conflict while one runs or a rollout is in progress."""
        policy = await asyncio.to_thread(self.store.policy, model)
        spec = self.spec(policy, overrides)
        if trigger == "manual":  # refused at once; an automatic retrain records the refusal as its failure
            self._check_plugins(spec.data_source, spec.trainer)
        current = await asyncio.to_thread(self.rollouts.current, model)
        if current is not None and current.active:
            raise Conflict(f"{model} has rollout #{current.id} in progress ({current.state}); finish or abort it first")
        run = await asyncio.to_thread(self.retrainer.begin, model, spec, trigger=trigger, actor=actor, reason=reason)
        job = asyncio.create_task(asyncio.to_thread(self.retrainer.run, run, spec), name=f"retrain-{model}-{run.id}")
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)
        return run

    async def _triggers(self) -> None:
        policies = await asyncio.to_thread(self.store.policies)
        now = self._clock()
        cooldown = self.settings.rollout.retrain_cooldown_s
        for policy in policies:
            auto = [t for t in policy.triggers if t != "manual"]
            if not auto:
                continue
            why = await asyncio.to_thread(self._why_retrain, policy, now)
            if not why:
                continue
            if self.retrainer.running(policy.model) or (now - policy.last_auto_at < cooldown and why[0] != "schedule"):
                continue
            current = await asyncio.to_thread(self.rollouts.current, policy.model)
            if current is not None and current.active:
                continue
            await asyncio.to_thread(self.store.update_policy, policy.model, last_auto_at=now)
            try:
                await self.retrain(policy.model, trigger=why[0], actor="driftgate", reason=why[1])
            except Conflict as exc:
                log.info("retrain of %s not started: %s", policy.model, exc)

    def _why_retrain(self, policy: RetrainPolicy, now: float) -> tuple[str, str] | None:
        """(trigger, reason) when ``policy`` says retrain now; moves the drift trigger's event cursor."""
        model = policy.model
        if "drift" in policy.triggers:
            events = self.catalogue.list_events(model, 200)
            newest = max((e.id for e in events), default=policy.event_cursor)
            champion = resolve_champion(self.catalogue, self.store, model)
            alerts = [e for e in events if e.id > policy.event_cursor and e.kind == "drift_alert"
                      and e.version == champion]
            if newest > policy.event_cursor:
                self.store.save_policy(replace(policy, event_cursor=newest))
            if alerts:
                return "drift", alerts[0].message
        if "accuracy" in policy.triggers:
            fn = self._accuracy_alerts
            if fn is not None:
                try:
                    active = list(fn(model) or [])
                except Exception:
                    log.exception("active_accuracy_alerts(%s) failed", model)
                    active = []
                if active:
                    return "accuracy", f"accuracy alert: {active[0]}"
        if "schedule" in policy.triggers and policy.interval_s > 0 and now - policy.last_auto_at >= policy.interval_s:
            return "schedule", f"scheduled every {policy.interval_s:g} s"
        return None

    def _check_plugins(self, data_source: str, trainer: str) -> None:
        allowed = self.settings.registry.plugins
        check_allowed(data_source, DATA_SOURCES, allowed)
        check_allowed(trainer, TRAINERS, allowed)

    async def set_policy(self, policy: RetrainPolicy, actor: str) -> RetrainPolicy:
        def save() -> RetrainPolicy:
            nonlocal policy
            self._check_plugins(policy.data_source, policy.trainer)
            self.catalogue.get_model(policy.model)
            bad = [t for t in policy.triggers if t not in ("manual", "drift", "accuracy", "schedule")]
            if bad:
                raise InvalidRequest(f"unknown trigger(s) {', '.join(bad)}; use manual, drift, accuracy, schedule")
            old = self.store.policy(policy.model)
            policy = replace(  # an option sent back as read (masked) keeps its stored value
                policy, data_options=_unmask(policy.data_options, old.data_options),
                trainer_options=_unmask(policy.trainer_options, old.trainer_options),
            )
            cursor = max((e.id for e in self.catalogue.list_events(policy.model, 1)), default=0)
            # the drift trigger reacts to alerts from now on; the schedule counts from now
            saved = self.store.save_policy(
                replace(policy, event_cursor=cursor, last_auto_at=old.last_auto_at or self._clock())
            )
            self.catalogue.record_event(
                "retrain_policy_set", policy.model, 0, actor,
                f"{policy.model} retrains on {', '.join(policy.triggers) or 'nothing'} with {policy.data_source} "
                f"data and the {policy.trainer} trainer",
                {"triggers": list(policy.triggers), "interval_s": policy.interval_s,
                 "data_source": policy.data_source, "data_options": redact(policy.data_options),
                 "trainer": policy.trainer, "trainer_options": redact(policy.trainer_options),
                 "auto_rollout": policy.auto_rollout},
            )
            return saved

        return await asyncio.to_thread(save)


def _unmask(new: Mapping[str, str], old: Mapping[str, str]) -> dict[str, str]:
    """``new`` with every value that is the redacted form of the stored one (as an answer showed it) put back."""
    hidden = redact(old)
    return {k: (old[k] if k in old and v == hidden[k] and v != old[k] else v) for k, v in new.items()}
