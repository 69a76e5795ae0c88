"""The catalogue: models, versions, traffic and the audit log. Transport-free and synchronous.

Callers on an event loop run these methods in a worker thread (they validate models and write
the database). Every change is one database transaction that also writes its audit event and, when
it changes what gateways must serve, bumps the config generation; ``on_change(generation)`` is
called after the commit. Writes are serialised by one lock, so version numbers are handed out in
order and "validate, then write" cannot interleave with another write.

Rules worth knowing:

- register: every check (onnx, onnxruntime, signature against the newest active version, score
  column, reference profile) runs before any write; the artifact is stored (content-addressed,
  idempotent) before the transaction, so a failed transaction leaves at most an unreferenced blob.
- traffic mode "latest" (the default): gateways route to the newest active version READY on them.
  Mode "weights": an explicit split; a version may only get weight once every live gateway
  reports it READY. Entries with weight 0 are dropped from the split.
- retire: the version leaves the split and the shadows and the gateway config; refusing when it
  carries all of a weighted split's traffic.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from driftgate.errors import Conflict, InvalidRequest, ModelNotFound, VersionNotFound
from driftgate.registry.catalogue.artifacts import Artifacts
from driftgate.registry.catalogue.gateways import GatewayTracker
from driftgate.registry.catalogue.records import (
    ACTIVE,
    MAX_QUEUE_DELAY_US,
    NONFINITE_POLICIES,
    REJECTED,
    RETIRED,
    ROLLED_BACK,
    BatchingSettings,
    DesiredConfig,
    EventRecord,
    ModelRecord,
    ModelSettings,
    RegisterRequest,
    TrafficRecord,
    VersionRecord,
    signature_from_dict,
    signature_to_dict,
    utc_iso,
)
from driftgate.registry.catalogue.validation import validate_version
from driftgate.registry.store import db as t
from driftgate.registry.store.db import Database, bump_generation, current_generation
from driftgate.settings import Settings
from driftgate.signature import Signature

__all__ = ["Catalogue"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_DEFAULT_EVENT_LIMIT = 50
_MAX_EVENT_LIMIT = 10_000


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise InvalidRequest(
            f"model name {name!r} must start with a letter or digit and hold only letters, digits, '_', '.', '-'"
            " (128 at most)"
        )


def _settings_from_dict(d: Mapping[str, Any]) -> ModelSettings:
    b = d.get("batching") or {}  # absent in rows written before batching existed: off
    return ModelSettings(
        max_batch_size=int(d["max_batch_size"]),
        psi_moderate=float(d["psi_moderate"]),
        psi_major=float(d["psi_major"]),
        min_window_rows=int(d["min_window_rows"]),
        alert_windows=int(d["alert_windows"]),
        feature_names=tuple(d.get("feature_names", ())),
        batching=BatchingSettings(
            enabled=bool(b.get("enabled", False)),
            max_batch_rows=int(b.get("max_batch_rows", 0)),
            max_queue_delay_us=int(b.get("max_queue_delay_us", 0)),
        ),
        nonfinite_inputs=str(d.get("nonfinite_inputs") or "score"),  # absent in older rows: score
    )


def _settings_from_json(text: str) -> ModelSettings:
    return _settings_from_dict(json.loads(text))


def _check_batching(b: BatchingSettings, max_batch_size: int) -> None:
    """Refuse a batching setting the gateways could not honour, saying what would work."""
    if not b.enabled:
        return
    if b.max_batch_rows < 2:
        raise InvalidRequest(
            f"batching needs max batch rows of at least 2 (got {b.max_batch_rows}); to stop batching, turn it off"
        )
    if b.max_batch_rows > max_batch_size:
        raise InvalidRequest(
            f"max batch rows {b.max_batch_rows} is above the model's max_batch_size {max_batch_size};"
            f" use at most {max_batch_size} (or raise max_batch_size first)"
        )
    if not 0 <= b.max_queue_delay_us <= MAX_QUEUE_DELAY_US:
        raise InvalidRequest(
            f"max queue delay must be between 0 and {MAX_QUEUE_DELAY_US} microseconds, got {b.max_queue_delay_us}"
        )


def _settings_to_json(s: ModelSettings) -> str:
    return _dumps(_asdict(s))


def _version_from_row(row: Any) -> VersionRecord:
    return VersionRecord(
        model=row.model,
        version=int(row.version),
        state=row.state,
        artifact_sha256=row.artifact_sha256,
        artifact_size=int(row.artifact_size),
        signature=signature_from_dict(json.loads(row.signature)),
        profile=json.loads(row.profile) if row.profile else None,
        score_output=row.score_output,
        score_column=int(row.score_column),
        source=row.source,
        created_at=row.created_at,
        parent=int(row.parent),
        metrics={k: float(v) for k, v in json.loads(row.metrics).items()},
        description=row.description,
    )


def _describe_traffic(tr: TrafficRecord) -> str:
    if tr.mode == "latest":
        return "latest"
    return " ".join(f"{v}={w}" for v, w in tr.weights)


def _traffic_details(tr: TrafficRecord) -> dict[str, Any]:
    return {
        "mode": tr.mode,
        "weights": {str(v): w for v, w in tr.weights},
        "shadows": {str(v): r for v, r in tr.shadows},
    }


class Catalogue:
    def __init__(
        self,
        db: Database,
        artifacts: Artifacts,
        settings: Settings,
        gateways: GatewayTracker,
        on_change: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._artifacts = artifacts
        self._settings = settings
        self._gateways = gateways
        self._on_change = on_change or (lambda _generation: None)
        self._clock = clock
        self._write_lock = threading.Lock()

    @property
    def artifacts(self) -> Artifacts:
        return self._artifacts

    def set_on_change(self, on_change: Callable[[int], None]) -> None:
        self._on_change = on_change

    # ---- reading ----

    def generation(self) -> int:
        with self._db.read() as conn:
            return current_generation(conn)

    def list_models(self) -> list[ModelRecord]:
        with self._db.read() as conn:
            names = conn.execute(select(t.models.c.name).order_by(t.models.c.name)).scalars().all()
            return [self._model(conn, name) for name in names]

    def get_model(self, name: str) -> ModelRecord:
        with self._db.read() as conn:
            return self._model(conn, name)

    def get_version(self, model: str, version: int) -> VersionRecord:
        with self._db.read() as conn:
            self._model_row(conn, model)
            return self._version(conn, model, version)

    def get_traffic(self, name: str) -> TrafficRecord:
        with self._db.read() as conn:
            return self._traffic(conn, self._model_row(conn, name))

    def model_settings(self, name: str) -> ModelSettings:
        with self._db.read() as conn:
            return _settings_from_json(self._model_row(conn, name).settings)

    def desired_config(self) -> DesiredConfig:
        """A consistent snapshot (one read transaction) of what gateways must serve."""
        with self._db.read() as conn:
            generation = current_generation(conn)
            names = conn.execute(select(t.models.c.name).order_by(t.models.c.name)).scalars().all()
            models = tuple(self._model(conn, name, active_only=True) for name in names)
            r = t.version_reloads.c
            reloads = {(m, int(v)): int(n) for m, v, n in conn.execute(select(r.model, r.version, r.reloads))}
        return DesiredConfig(generation, models, reloads)

    def list_events(self, model: str = "", limit: int = 0) -> list[EventRecord]:
        limit = _DEFAULT_EVENT_LIMIT if limit <= 0 else min(limit, _MAX_EVENT_LIMIT)
        query = select(t.events).order_by(t.events.c.id.desc()).limit(limit)
        if model:
            query = query.where(t.events.c.model == model)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [
            EventRecord(
                id=int(r.id),
                at=r.at,
                model=r.model,
                version=int(r.version),
                kind=r.kind,
                actor=r.actor,
                message=r.message,
                details=json.loads(r.details),
            )
            for r in rows
        ]

    # ---- writing ----

    def register_version(self, req: RegisterRequest, *, state: str = ACTIVE, reason: str = "") -> VersionRecord:
        """Validate everything, store the artifact, then insert the version in one transaction.

        ``state`` REJECTED records a challenger that failed its evaluation: kept in the history with
        ``reason``, never served (gateways only see active versions)."""
        if state not in (ACTIVE, REJECTED):
            raise InvalidRequest(f"a version is registered active or rejected, not {state!r}")
        _check_name(req.model)
        for key, value in req.metrics.items():
            if not key or not math.isfinite(value):
                raise InvalidRequest(f"metric {key!r}={value} must have a name and a finite value")
        if req.parent < 0:
            raise InvalidRequest("parent must be a version number (0: none)")

        with self._db.read() as conn:
            model_row = conn.execute(select(t.models).where(t.models.c.name == req.model)).first()
            settings = _settings_from_json(model_row.settings) if model_row is not None else None
            newest = self._newest_active(conn, req.model)
            if req.parent:
                self._version(conn, req.model, req.parent)

        validated = validate_version(
            req.onnx,
            reference=req.reference,
            newest_active=newest[1] if newest else None,
            score_output=req.score_output,
            score_column=req.score_column,
            feature_names=tuple(req.feature_names),
            settings_feature_names=settings.feature_names if settings else (),
            bins=self._settings.drift.bins,
        )
        sha = self._artifacts.put(req.onnx)
        now = utc_iso(self._clock())

        with self._write_lock, self._db.begin() as conn:
            self._db.serialize_writers(conn)
            # Another registration may have landed while this one validated: check against it too.
            latest = self._newest_active(conn, req.model)
            if latest is not None and (newest is None or latest[0] != newest[0]):
                latest[1].check_compatible(validated.signature)
            if conn.execute(select(t.models.c.name).where(t.models.c.name == req.model)).first() is None:
                defaults = self._settings.drift
                settings = ModelSettings(
                    max_batch_size=req.max_batch_size or self._settings.gateway.max_batch_size,
                    psi_moderate=defaults.psi_moderate,
                    psi_major=defaults.psi_major,
                    min_window_rows=defaults.min_window_rows,
                    alert_windows=defaults.alert_windows,
                    feature_names=validated.feature_names,
                )
                conn.execute(
                    insert(t.models).values(
                        name=req.model, settings=_settings_to_json(settings), traffic_mode="latest", created_at=now
                    )
                )
            elif settings is not None and not settings.feature_names and req.feature_names:
                settings = _settings_from_dict({**_asdict(settings), "feature_names": validated.feature_names})
                conn.execute(
                    update(t.models).where(t.models.c.name == req.model).values(settings=_settings_to_json(settings))
                )
            number = (
                int(
                    conn.execute(
                        select(func.coalesce(func.max(t.versions.c.version), 0)).where(t.versions.c.model == req.model)
                    ).scalar_one()
                )
                + 1
            )
            conn.execute(
                insert(t.versions).values(
                    model=req.model,
                    version=number,
                    state=state,
                    artifact_sha256=sha,
                    artifact_size=len(req.onnx),
                    signature=_dumps(signature_to_dict(validated.signature)),
                    profile=_dumps(validated.profile) if validated.profile is not None else None,
                    score_output=validated.score_output,
                    score_column=validated.score_column,
                    source=req.source,
                    created_at=now,
                    parent=req.parent,
                    metrics=_dumps(dict(req.metrics)),
                    description=req.description,
                )
            )
            self._event(
                conn,
                "version_registered",
                req.model,
                number,
                req.actor,
                f"registered {req.model} version {number}"
                + (f" from {req.source}" if req.source else "")
                + (f" as {state}: {reason}" if state != ACTIVE else ""),
                {
                    "state": state,
                    "reason": reason,
                    "sha256": sha,
                    "size": len(req.onnx),
                    "source": req.source,
                    "parent": req.parent,
                    "metrics": dict(req.metrics),
                    "score_output": validated.score_output,
                    "score_column": validated.score_column,
                    "reference_rows": (validated.profile or {}).get("rows", 0),
                },
            )
            generation = bump_generation(conn)
            record = self._version(conn, req.model, number)
        self._on_change(generation)
        return record

    def retire_version(self, model: str, version: int, actor: str, reason: str = "") -> VersionRecord:
        with self._write_lock, self._db.begin() as conn:
            self._db.serialize_writers(conn)
            row = self._model_row(conn, model)
            current = self._version(conn, model, version)
            if current.state != ACTIVE:
                raise Conflict(f"{model} version {version} is already {current.state}")
            traffic = self._traffic(conn, row)
            if traffic.mode == "weights":
                mine = dict(traffic.weights).get(version, 0)
                rest = sum(w for v, w in traffic.weights if v != version)
                if mine > 0 and rest == 0:
                    raise Conflict(
                        f"{model} version {version} carries all of the model's traffic; move traffic first "
                        f"(driftgate traffic set {model} N=100, or driftgate traffic latest {model})"
                    )
            conn.execute(delete(t.traffic_weights).where(_key(t.traffic_weights, model, version)))
            conn.execute(delete(t.shadows).where(_key(t.shadows, model, version)))
            conn.execute(update(t.versions).where(_key(t.versions, model, version)).values(state=RETIRED))
            self._event(
                conn,
                "version_retired",
                model,
                version,
                actor,
                f"retired {model} version {version}" + (f": {reason}" if reason else ""),
                {
                    "reason": reason,
                    "old_traffic": _traffic_details(traffic),
                    "new_traffic": _traffic_details(self._traffic(conn, row)),
                },
            )
            generation = bump_generation(conn)
            record = self._version(conn, model, version)
        self._on_change(generation)
        return record

    def reload_version(self, model: str, version: int, actor: str, reason: str = "") -> VersionRecord:
        """Ask every gateway to load an active version again where it FAILED or waits to retry a
        fetch (the version's reload count goes up in a new config generation); audited."""
        with self._write_lock, self._db.begin() as conn:
            self._model_row(conn, model)
            current = self._version(conn, model, version)
            if current.state != ACTIVE:
                raise Conflict(f"{model} version {version} is {current.state}; only an active version is loaded")
            r = t.version_reloads.c
            key = (r.model == model) & (r.version == version)
            count = conn.execute(select(r.reloads).where(key)).scalar()
            if count is None:
                conn.execute(t.version_reloads.insert().values(model=model, version=version, reloads=1))
            else:
                conn.execute(update(t.version_reloads).where(key).values(reloads=int(count) + 1))
            self._event(
                conn, "version_reload", model, version, actor,
                f"asked the gateways to reload {model} version {version}" + (f": {reason}" if reason else ""),
                {"reason": reason, "reloads": int(count or 0) + 1},
            )
            generation = bump_generation(conn)
        self._on_change(generation)
        return current

    def roll_back_version(self, model: str, version: int, actor: str, reason: str) -> VersionRecord:
        """active -> rolled_back: the version leaves the split and the shadows (gateways drain and release
        it) and keeps ``reason``. Refused while it carries all of a weighted split's traffic."""
        with self._write_lock, self._db.begin() as conn:
            self._db.serialize_writers(conn)
            row = self._model_row(conn, model)
            current = self._version(conn, model, version)
            if current.state != ACTIVE:
                raise Conflict(f"{model} version {version} is already {current.state}")
            traffic = self._traffic(conn, row)
            if traffic.mode == "weights" and all(v == version for v, w in traffic.weights if w > 0):
                raise Conflict(f"{model} version {version} carries all of the model's traffic; move traffic first")
            conn.execute(delete(t.traffic_weights).where(_key(t.traffic_weights, model, version)))
            conn.execute(delete(t.shadows).where(_key(t.shadows, model, version)))
            conn.execute(update(t.versions).where(_key(t.versions, model, version)).values(state=ROLLED_BACK))
            self._event(
                conn, "version_rolled_back", model, version, actor,
                f"rolled back {model} version {version}: {reason}", {"reason": reason},
            )
            generation = bump_generation(conn)
            record = self._version(conn, model, version)
        self._on_change(generation)
        return record

    def update_settings(self, model: str, changes: Mapping[str, Any], actor: str) -> ModelRecord:
        """Apply the non-zero fields of ``changes`` (ModelSettings field names) to the model."""
        with self._write_lock, self._db.begin() as conn:
            self._db.serialize_writers(conn)
            row = self._model_row(conn, model)
            old = _settings_from_json(row.settings)
            merged = _asdict(old)
            batching = old.batching
            for key, value in changes.items():
                if key not in merged:
                    raise InvalidRequest(f"unknown model setting {key!r}")
                if key == "batching":
                    if value is not None:  # present: replaces the whole setting
                        batching = value if isinstance(value, BatchingSettings) else BatchingSettings(**value)
                elif key == "nonfinite_inputs":
                    if value and value not in NONFINITE_POLICIES:
                        raise InvalidRequest(
                            f"nonfinite_inputs must be one of {', '.join(NONFINITE_POLICIES)}, got {value[:64]!r}"
                        )
                    if value:
                        merged[key] = value
                elif value:
                    merged[key] = tuple(value) if key == "feature_names" else value
            merged["feature_names"] = tuple(merged["feature_names"])
            merged["batching"] = batching
            new = ModelSettings(**merged)
            if new.max_batch_size < 1 or new.min_window_rows < 1 or new.alert_windows < 1:
                raise InvalidRequest("max_batch_size, min_window_rows and alert_windows must be at least 1")
            _check_batching(new.batching, new.max_batch_size)
            if not (0 < new.psi_moderate <= new.psi_major) or not math.isfinite(new.psi_major):
                raise InvalidRequest(
                    f"thresholds need 0 < psi_moderate <= psi_major; got {new.psi_moderate} and {new.psi_major}"
                )
            newest = self._newest_active(conn, model)
            if new.feature_names and newest is not None:
                spec = newest[1].inputs[0] if len(newest[1].inputs) == 1 else None
                width = spec.shape[1] if spec is not None and len(spec.shape) == 2 else None
                if width is None or (width >= 0 and width != len(new.feature_names)):
                    raise InvalidRequest(
                        f"{len(new.feature_names)} feature names do not fit the model's inputs "
                        + ", ".join(s.describe() for s in newest[1].inputs)
                    )
            if new == old:
                return self._model(conn, model)
            conn.execute(update(t.models).where(t.models.c.name == model).values(settings=_settings_to_json(new)))
            self._event(
                conn,
                "settings_updated",
                model,
                0,
                actor,
                f"updated {model}'s settings"
                + (f"; batching {new.batching.describe()}" if new.batching != old.batching else "")
                + (f"; non-finite inputs: {new.nonfinite_inputs}"
                   if new.nonfinite_inputs != old.nonfinite_inputs else ""),
                {"old": _asdict(old), "new": _asdict(new)},
            )
            generation = bump_generation(conn)
            record = self._model(conn, model)
        self._on_change(generation)
        return record

    def set_traffic(
        self,
        model: str,
        weights: Mapping[int, int] | None,
        *,
        latest: bool = False,
        actor: str = "",
        reason: str = "",
    ) -> TrafficRecord:
        """Switch to "latest" mode, or to an explicit split whose versions are READY everywhere."""
        weights = dict(weights or {})
        if latest and weights:
            raise InvalidRequest("give either weights or latest, not both")
        if not latest and not weights:
            raise InvalidRequest("give weights (version=weight ...) or latest")
        if any(w < 0 for w in weights.values()):
            raise InvalidRequest("weights must not be negative")
        if not latest and sum(weights.values()) <= 0:
            raise InvalidRequest("weights must sum to more than 0")
        with self._db.read() as conn:
            self._model_row(conn, model)
            for version in sorted(weights):
                record = self._version(conn, model, version)
                if record.state != ACTIVE:
                    raise Conflict(f"{model} version {version} is {record.state}; only active versions take traffic")
        for version in sorted(v for v, w in weights.items() if w > 0):
            self._gateways.require_ready(model, version)

        with self._write_lock, self._db.begin() as conn:
            self._db.serialize_writers(conn)
            row = self._model_row(conn, model)
            old = self._traffic(conn, row)
            for version in sorted(weights):  # re-check under the lock: a retire may have landed
                if self._version(conn, model, version).state != ACTIVE:
                    raise Conflict(f"{model} version {version} is no longer active")
            conn.execute(delete(t.traffic_weights).where(t.traffic_weights.c.model == model))
            if not latest:
                rows = [{"model": model, "version": v, "weight": w} for v, w in sorted(weights.items()) if w > 0]
                conn.execute(insert(t.traffic_weights), rows)
            conn.execute(
                update(t.models).where(t.models.c.name == model).values(traffic_mode="latest" if latest else "weights")
            )
            new = self._traffic(conn, row, mode="latest" if latest else "weights")
            self._event(
                conn,
                "traffic_changed",
                model,
                0,
                actor,
                f"{model} traffic: {_describe_traffic(old)} -> {_describe_traffic(new)}"
                + (f": {reason}" if reason else ""),
                {"old": _traffic_details(old), "new": _traffic_details(new), "reason": reason},
            )
            generation = bump_generation(conn)
        self._on_change(generation)
        return new

    def set_shadow(self, model: str, version: int, rate: float, *, actor: str = "", reason: str = "") -> TrafficRecord:
        """Mirror ``rate`` of the model's requests to ``version``; rate 0 removes the shadow."""
        if not (0.0 <= rate <= 1.0):  # also refuses NaN
            raise InvalidRequest(f"shadow rate must be in (0, 1], or 0 to remove; got {rate}")
        with self._db.read() as conn:
            self._model_row(conn, model)
            record = self._version(conn, model, version)
        if rate > 0:
            if record.state != ACTIVE:
                raise Conflict(f"{model} version {version} is {record.state}; only active versions can shadow")
            self._gateways.require_ready(model, version)

        with self._write_lock, self._db.begin() as conn:
            self._db.serialize_writers(conn)
            row = self._model_row(conn, model)
            old = self._traffic(conn, row)
            conn.execute(delete(t.shadows).where(_key(t.shadows, model, version)))
            if rate > 0:
                if self._version(conn, model, version).state != ACTIVE:
                    raise Conflict(f"{model} version {version} is no longer active")
                conn.execute(insert(t.shadows).values(model=model, version=version, rate=rate))
            new = self._traffic(conn, row)
            kind = "shadow_set" if rate > 0 else "shadow_removed"
            message = (
                f"{model} version {version} shadows {rate:.0%} of requests"
                if rate > 0
                else f"{model} version {version} no longer shadows"
            )
            self._event(
                conn,
                kind,
                model,
                version,
                actor,
                message + (f": {reason}" if reason else ""),
                {"old": _traffic_details(old), "new": _traffic_details(new), "rate": rate, "reason": reason},
            )
            generation = bump_generation(conn)
        self._on_change(generation)
        return new

    def record_event(
        self, kind: str, model: str, version: int, actor: str, message: str, details: Mapping[str, Any]
    ) -> None:
        """An audit event that changes no desired state (drift alerts, for instance)."""
        with self._db.begin() as conn:
            self._event(conn, kind, model, version, actor, message, dict(details))

    # ---- helpers (inside the caller's connection) ----

    def _event(
        self, conn: Connection, kind: str, model: str, version: int, actor: str, message: str, details: dict[str, Any]
    ) -> None:
        conn.execute(
            insert(t.events).values(
                at=utc_iso(self._clock()),
                model=model,
                version=version,
                kind=kind,
                actor=actor or "",
                message=message,
                details=_dumps(details),
            )
        )

    def _model_row(self, conn: Connection, name: str) -> Any:
        row = conn.execute(select(t.models).where(t.models.c.name == name)).first()
        if row is None:
            raise ModelNotFound(f"model {name!r} is not registered")
        return row

    def _version(self, conn: Connection, model: str, version: int) -> VersionRecord:
        row = conn.execute(select(t.versions).where(_key(t.versions, model, version))).first()
        if row is None:
            raise VersionNotFound(f"{model} has no version {version}")
        return _version_from_row(row)

    def _newest_active(self, conn: Connection, model: str) -> tuple[int, Signature] | None:
        row = conn.execute(
            select(t.versions.c.version, t.versions.c.signature)
            .where(t.versions.c.model == model, t.versions.c.state == ACTIVE)
            .order_by(t.versions.c.version.desc())
            .limit(1)
        ).first()
        return None if row is None else (int(row.version), signature_from_dict(json.loads(row.signature)))

    def _traffic(self, conn: Connection, model_row: Any, mode: str | None = None) -> TrafficRecord:
        name = model_row.name
        weights = conn.execute(
            select(t.traffic_weights.c.version, t.traffic_weights.c.weight)
            .where(t.traffic_weights.c.model == name)
            .order_by(t.traffic_weights.c.version)
        ).all()
        shadow_rows = conn.execute(
            select(t.shadows.c.version, t.shadows.c.rate).where(t.shadows.c.model == name).order_by(t.shadows.c.version)
        ).all()
        return TrafficRecord(
            model=name,
            mode=mode or model_row.traffic_mode,
            weights=tuple((int(v), int(w)) for v, w in weights),
            shadows=tuple((int(v), float(r)) for v, r in shadow_rows),
        )

    def _model(self, conn: Connection, name: str, active_only: bool = False) -> ModelRecord:
        row = self._model_row(conn, name)
        query = select(t.versions).where(t.versions.c.model == name).order_by(t.versions.c.version)
        if active_only:
            query = query.where(t.versions.c.state == ACTIVE)
        versions = tuple(_version_from_row(r) for r in conn.execute(query).all())
        return ModelRecord(
            name=name,
            settings=_settings_from_json(row.settings),
            traffic=self._traffic(conn, row),
            versions=versions,
            created_at=row.created_at,
        )


def _key(table: Any, model: str, version: int) -> Any:
    return (table.c.model == model) & (table.c.version == version)


def _asdict(s: ModelSettings) -> dict[str, Any]:
    return {
        "max_batch_size": s.max_batch_size,
        "psi_moderate": s.psi_moderate,
        "psi_major": s.psi_major,
        "min_window_rows": s.min_window_rows,
        "alert_windows": s.alert_windows,
        "feature_names": list(s.feature_names),
        "batching": {
            "enabled": s.batching.enabled,
            "max_batch_rows": s.batching.max_batch_rows,
            "max_queue_delay_us": s.batching.max_queue_delay_us,
        },
        "nonfinite_inputs": s.nonfinite_inputs,
    }
