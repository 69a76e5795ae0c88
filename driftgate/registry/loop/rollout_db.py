"""The closed loop's persistent state: tables on the registry's shared ``metadata`` and a small store over them.

    rollout_champions   model -> the version the ``champion`` alias names
    retrain_policies    model -> what triggers a retrain, with which data source and trainer
    retrain_runs        every retrain: running, failed, rejected or registered, with why and lineage
    rollouts            every canary rollout: its state, step, step start and the counters it started from

Everything a rollout needs to resume after a registry restart is in its row: the step, when the step began
(wall clock) and the per-gateway counters at that moment (cumulative counters from the gateways' reports).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Column, Float, Integer, String, Table, Text, insert, select, update

from driftgate.errors import NotFound
from driftgate.registry.store.db import Database, metadata

__all__ = [
    "ACTIVE_ROLLOUT_STATES",
    "RetrainPolicy",
    "RetrainRun",
    "RolloutRecord",
    "RolloutStore",
]

rollout_champions = Table(
    "rollout_champions",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

retrain_policies = Table(
    "retrain_policies",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("policy", Text, nullable=False),  # JSON: RetrainPolicy fields
)

retrain_runs = Table(
    "retrain_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), nullable=False),
    Column("state", String(16), nullable=False),  # running | failed | rejected | registered
    Column("trigger", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=False, default=0.0),
    Column("version", Integer, nullable=False, default=0),
    Column("champion", Integer, nullable=False, default=0),
    Column("details", Text, nullable=False, default="{}"),  # JSON: spec, metrics, lineage
)

rollouts = Table(
    "rollouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), nullable=False),
    Column("champion", Integer, nullable=False),
    Column("challenger", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # loading | canary | promoted | done | rolled_back | aborted
    Column("step", Integer, nullable=False, default=0),
    Column("steps", Text, nullable=False),  # JSON list of percents
    Column("step_started_at", Float, nullable=False),
    Column("baseline", Text, nullable=False, default="{}"),  # JSON: gateway -> version -> counters
    Column("paused", Integer, nullable=False, default=0),
    Column("reason", Text, nullable=False, default=""),
    Column("actor", String(200), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("retire_at", Float, nullable=False, default=0.0),
    Column("run_id", Integer, nullable=False, default=0),
    Column("gates", Text, nullable=False, default="{}"),  # JSON: the last gate readings
)

ACTIVE_ROLLOUT_STATES = ("loading", "canary", "promoted")
TRIGGERS = ("manual", "drift", "accuracy", "schedule")


@dataclass(frozen=True, slots=True)
class RetrainPolicy:
    model: str
    triggers: tuple[str, ...] = ("manual",)
    interval_s: float = 0.0  # the schedule trigger's period
    data_source: str = "demo"
    data_options: dict[str, str] = field(default_factory=dict)
    trainer: str = "demo"
    trainer_options: dict[str, str] = field(default_factory=dict)
    auto_rollout: bool = True
    last_auto_at: float = 0.0
    event_cursor: int = 0  # the newest audit event id the drift/accuracy trigger has looked at


@dataclass(frozen=True, slots=True)
class RetrainRun:
    id: int
    model: str
    state: str
    trigger: str
    actor: str
    reason: str
    started_at: float
    finished_at: float
    version: int
    champion: int
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RolloutRecord:
    id: int
    model: str
    champion: int
    challenger: int
    state: str
    step: int
    steps: tuple[int, ...]
    step_started_at: float
    baseline: dict[str, Any]
    paused: bool
    reason: str
    actor: str
    created_at: float
    updated_at: float
    retire_at: float
    run_id: int
    gates: dict[str, Any]

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_ROLLOUT_STATES


def _policy_from_json(model: str, text: str) -> RetrainPolicy:
    d = json.loads(text)
    return RetrainPolicy(
        model=model,
        triggers=tuple(d.get("triggers", ("manual",))),
        interval_s=float(d.get("interval_s", 0.0)),
        data_source=d.get("data_source", "demo"),
        data_options=dict(d.get("data_options", {})),
        trainer=d.get("trainer", "demo"),
        trainer_options=dict(d.get("trainer_options", {})),
        auto_rollout=bool(d.get("auto_rollout", True)),
        last_auto_at=float(d.get("last_auto_at", 0.0)),
        event_cursor=int(d.get("event_cursor", 0)),
    )


def _policy_to_json(p: RetrainPolicy) -> str:
    return json.dumps(
        {
            "triggers": list(p.triggers),
            "interval_s": p.interval_s,
            "data_source": p.data_source,
            "data_options": p.data_options,
            "trainer": p.trainer,
            "trainer_options": p.trainer_options,
            "auto_rollout": p.auto_rollout,
            "last_auto_at": p.last_auto_at,
            "event_cursor": p.event_cursor,
        },
        sort_keys=True,
    )


def _run(row: Any) -> RetrainRun:
    return RetrainRun(
        id=int(row.id), model=row.model, state=row.state, trigger=row.trigger, actor=row.actor, reason=row.reason,
        started_at=float(row.started_at), finished_at=float(row.finished_at), version=int(row.version),
        champion=int(row.champion), details=json.loads(row.details),
    )


def _rollout(row: Any) -> RolloutRecord:
    return RolloutRecord(
        id=int(row.id), model=row.model, champion=int(row.champion), challenger=int(row.challenger),
        state=row.state, step=int(row.step), steps=tuple(json.loads(row.steps)),
        step_started_at=float(row.step_started_at), baseline=json.loads(row.baseline), paused=bool(row.paused),
        reason=row.reason, actor=row.actor, created_at=float(row.created_at), updated_at=float(row.updated_at),
        retire_at=float(row.retire_at), run_id=int(row.run_id), gates=json.loads(row.gates),
    )


class RolloutStore:
    """Reads and writes of the closed loop's tables; each call is one transaction."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    # ---- champion alias ----

    def champion(self, model: str) -> int:
        """The version the alias names; 0 when it was never set."""
        with self._db.read() as conn:
            row = conn.execute(select(rollout_champions.c.version).where(rollout_champions.c.model == model)).first()
        return 0 if row is None else int(row.version)

    def set_champion(self, model: str, version: int) -> None:
        with self._db.begin() as conn:
            exists = conn.execute(select(rollout_champions.c.model).where(rollout_champions.c.model == model)).first()
            values = {"version": version, "updated_at": self._clock()}
            if exists is None:
                conn.execute(insert(rollout_champions).values(model=model, **values))
            else:
                conn.execute(update(rollout_champions).where(rollout_champions.c.model == model).values(**values))

    # ---- policies ----

    def policy(self, model: str) -> RetrainPolicy:
        with self._db.read() as conn:
            row = conn.execute(select(retrain_policies).where(retrain_policies.c.model == model)).first()
        return RetrainPolicy(model=model) if row is None else _policy_from_json(model, row.policy)

    def policies(self) -> list[RetrainPolicy]:
        with self._db.read() as conn:
            rows = conn.execute(select(retrain_policies).order_by(retrain_policies.c.model)).all()
        return [_policy_from_json(r.model, r.policy) for r in rows]

    def save_policy(self, policy: RetrainPolicy) -> RetrainPolicy:
        with self._db.begin() as conn:
            exists = conn.execute(
                select(retrain_policies.c.model).where(retrain_policies.c.model == policy.model)
            ).first()
            if exists is None:
                conn.execute(insert(retrain_policies).values(model=policy.model, policy=_policy_to_json(policy)))
            else:
                conn.execute(
                    update(retrain_policies)
                    .where(retrain_policies.c.model == policy.model)
                    .values(policy=_policy_to_json(policy))
                )
        return policy

    def update_policy(self, model: str, **changes: Any) -> RetrainPolicy:
        return self.save_policy(replace(self.policy(model), **changes))

    # ---- retrain runs ----

    def start_run(self, model: str, trigger: str, actor: str, reason: str, details: dict[str, Any]) -> RetrainRun:
        with self._db.begin() as conn:
            rid = conn.execute(
                insert(retrain_runs).values(
                    model=model, state="running", trigger=trigger, actor=actor, reason=reason,
                    started_at=self._clock(), details=json.dumps(details, sort_keys=True),
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            return _run(conn.execute(select(retrain_runs).where(retrain_runs.c.id == rid)).one())

    def finish_run(
        self, run_id: int, state: str, reason: str, *, version: int = 0, champion: int = 0,
        details: dict[str, Any] | None = None,
    ) -> RetrainRun:
        with self._db.begin() as conn:
            row = conn.execute(select(retrain_runs).where(retrain_runs.c.id == run_id)).one()
            merged = {**json.loads(row.details), **(details or {})}
            conn.execute(
                update(retrain_runs).where(retrain_runs.c.id == run_id).values(
                    state=state, reason=reason, finished_at=self._clock(), version=version, champion=champion,
                    details=json.dumps(merged, sort_keys=True, default=str),
                )
            )
            return _run(conn.execute(select(retrain_runs).where(retrain_runs.c.id == run_id)).one())

    def runs(self, model: str, limit: int = 10) -> list[RetrainRun]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(retrain_runs).where(retrain_runs.c.model == model).order_by(retrain_runs.c.id.desc())
                .limit(limit)
            ).all()
        return [_run(r) for r in rows]

    def running_runs(self) -> list[RetrainRun]:
        with self._db.read() as conn:
            rows = conn.execute(select(retrain_runs).where(retrain_runs.c.state == "running")).all()
        return [_run(r) for r in rows]

    # ---- rollouts ----

    def create_rollout(
        self, model: str, champion: int, challenger: int, steps: tuple[int, ...], actor: str, run_id: int = 0
    ) -> RolloutRecord:
        now = self._clock()
        with self._db.begin() as conn:
            rid = conn.execute(
                insert(rollouts).values(
                    model=model, champion=champion, challenger=challenger, state="loading", step=0,
                    steps=json.dumps(list(steps)), step_started_at=now, baseline="{}", paused=0, reason="",
                    actor=actor, created_at=now, updated_at=now, retire_at=0.0, run_id=run_id, gates="{}",
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            return _rollout(conn.execute(select(rollouts).where(rollouts.c.id == rid)).one())

    def update_rollout(self, rollout_id: int, **changes: Any) -> RolloutRecord:
        values: dict[str, Any] = {}
        for key, value in changes.items():
            if key in ("baseline", "gates"):
                value = json.dumps(value, sort_keys=True)
            elif key == "steps":
                value = json.dumps(list(value))
            elif key == "paused":
                value = int(bool(value))
            values[key] = value
        values["updated_at"] = self._clock()
        with self._db.begin() as conn:
            conn.execute(update(rollouts).where(rollouts.c.id == rollout_id).values(**values))
            return _rollout(conn.execute(select(rollouts).where(rollouts.c.id == rollout_id)).one())

    def rollout(self, rollout_id: int) -> RolloutRecord:
        with self._db.read() as conn:
            row = conn.execute(select(rollouts).where(rollouts.c.id == rollout_id)).first()
        if row is None:
            raise NotFound(f"no rollout {rollout_id}")
        return _rollout(row)

    def latest_rollout(self, model: str) -> RolloutRecord | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(rollouts).where(rollouts.c.model == model).order_by(rollouts.c.id.desc()).limit(1)
            ).first()
        return None if row is None else _rollout(row)

    def active_rollouts(self) -> list[RolloutRecord]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(rollouts).where(rollouts.c.state.in_(ACTIVE_ROLLOUT_STATES)).order_by(rollouts.c.id)
            ).all()
        return [_rollout(r) for r in rows]

    def rollouts(self, model: str = "", limit: int = 20) -> list[RolloutRecord]:
        """The newest ``limit`` rollouts, of one model or of all, newest first."""
        query = select(rollouts).order_by(rollouts.c.id.desc()).limit(max(1, limit))
        if model:
            query = query.where(rollouts.c.model == model)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [_rollout(r) for r in rows]
