"""Scored rows and the labels joined to them, in the registry's database. Transport-free, synchronous.

Gateways ship what they scored (model, version, request id, score, time) in every report; the
registry keeps one row per (model, request id) in ``scored_rows`` (a repeated id keeps its first
row: reports are resent after a failure). Labels (chargebacks, days later) are joined to those rows
by id in one transaction:

    labels --executemany--> temporary table (first occurrence of an id only)
           --one UPDATE ... FROM join on the unique (model, request_id) index--> scored_rows

so a million labels join in seconds (bench/labels_join.md). Counts come back: joined, unknown
(never scored here, or not yet reported), duplicates (repeated in the batch, or labelled before:
the first label stands), expired (scored once but dropped by retention since: their ids are kept
in ``scored_expired``, bounded like the rows).

Retention: per model at most ``AccuracySettings.max_rows`` rows and nothing older than
``max_age_days``; the oldest go first, and are counted (``retention_dropped``, since this process
started). Gateways count the rows their full buffers dropped; the latest count of each gateway is
kept (``gateway_dropped``).

The tables sit on the shared ``driftgate.registry.db.metadata``; ``Database`` imports this module
before it creates tables.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Column, Connection, Float, Index, Integer, String, Table, Text

from driftgate.errors import InvalidRequest
from driftgate.registry.db import Database, metadata
from driftgate.settings import AccuracySettings

__all__ = [
    "MAX_ID_LENGTH",
    "JoinResult",
    "LabelStore",
    "LabelledRows",
    "ScoredBatch",
    "accuracy_settings",
    "scored_expired",
    "scored_rows",
]

MAX_ID_LENGTH = 300
JOIN_CACHE_KIB = 256 * 1024  # SQLite page cache for a label join (the default 2 MiB thrashes at 1M rows)

scored_rows = Table(
    "scored_rows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # arrival order: retention drops lowest first
    Column("model", String(200), nullable=False),
    Column("request_id", String(MAX_ID_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    Column("score", Float, nullable=False),
    Column("scored_at", Float, nullable=False),  # unix seconds, the gateway's clock
    Column("label", Integer, nullable=True),  # NULL until a label arrives; 1 = fraud
    Column("labelled_at", Float, nullable=True),  # unix seconds
    Index("ix_scored_rows_request", "model", "request_id", unique=True),
    Index("ix_scored_rows_time", "model", "scored_at"),
)

scored_expired = Table(
    "scored_expired",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), nullable=False),
    Column("request_id", String(MAX_ID_LENGTH), nullable=False),
    Index("ix_scored_expired_request", "model", "request_id", unique=True),
)

accuracy_settings = Table(
    "accuracy_settings",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("settings", Text, nullable=False),  # JSON: the fields set for this model
)


@dataclass(frozen=True, slots=True)
class ScoredBatch:
    """Rows of one model version as a gateway reported them, columnar."""

    model: str
    version: int
    ids: Sequence[str]
    scores: np.ndarray
    at: np.ndarray

    @classmethod
    def checked(
        cls, model: str, version: int, ids: Sequence[str], scores: Sequence[float], at: Sequence[float]
    ) -> ScoredBatch:
        if not model or version < 1:
            raise InvalidRequest(f"scored rows need a model and a version >= 1; got {model!r} version {version}")
        if not len(ids) == len(scores) == len(at):
            raise InvalidRequest(
                f"scored rows of {model} version {version}: {len(ids)} ids, {len(scores)} scores and {len(at)} "
                "times; they must be as many"
            )
        return cls(model, version, ids, np.asarray(scores, dtype=np.float64), np.asarray(at, dtype=np.float64))


@dataclass(frozen=True, slots=True)
class JoinResult:
    received: int
    joined: int
    unknown: int
    duplicates: int
    expired: int


@dataclass(frozen=True, slots=True)
class LabelledRows:
    """Labelled rows of one model scored since some time, columnar."""

    version: np.ndarray  # int64
    score: np.ndarray  # float64
    label: np.ndarray  # int8
    scored_at: np.ndarray  # float64
    labelled_at: np.ndarray  # float64


def _placeholders(conn: Connection, n: int) -> str:
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return ", ".join([mark] * n)


def _raw(conn: Connection, sql: str, params: Sequence[Any], many: bool = False) -> list[Any]:
    """Run on the DBAPI cursor of the caller's transaction: SQLAlchemy's result rows cost ~30 us
    each here, which a million labelled rows cannot afford (bench/labels_join.md)."""
    cursor = conn.connection.cursor()
    try:
        if many:
            cursor.executemany(sql, params)
            return []
        cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        cursor.close()


def check_labels(ids: Sequence[str], labels: Sequence[int], labelled_at: Sequence[float]) -> None:
    """InvalidRequest naming the first bad item (1-based) of a batch; nothing is applied then."""
    if not ids:
        raise InvalidRequest("no labels in the batch")
    if len(labels) != len(ids):
        raise InvalidRequest(f"{len(ids)} ids but {len(labels)} labels; they must be as many")
    if labelled_at and len(labelled_at) != len(ids):
        raise InvalidRequest(f"{len(ids)} ids but {len(labelled_at)} labelled_at values; give none or one per id")
    lab = np.asarray(labels)
    bad = np.flatnonzero((lab != 0) & (lab != 1))
    if bad.size:
        i = int(bad[0])
        raise InvalidRequest(f"item {i + 1} (id {ids[i]!r}): label must be 0 or 1, got {labels[i]}")
    for i, rid in enumerate(ids):
        if not rid or len(rid) > MAX_ID_LENGTH:
            raise InvalidRequest(f"item {i + 1}: id must be 1 to {MAX_ID_LENGTH} characters, got {rid!r:.60}")
    if labelled_at:
        times = np.asarray(labelled_at, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(times) | (times < 0))
        if bad.size:
            i = int(bad[0])
            raise InvalidRequest(
                f"item {i + 1} (id {ids[i]!r}): labelled_at must be unix seconds >= 0 (0: now), got {labelled_at[i]}"
            )


class LabelStore:
    def __init__(self, db: Database, settings: AccuracySettings, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()  # counters and the trim schedule
        self._retention_dropped: dict[str, int] = {}
        self._gateway_dropped: dict[tuple[str, str], int] = {}  # (gateway, model) -> its cumulative count
        self._last_trim = -math.inf

    # ---- scored rows in ----

    def ingest(self, gateway_id: str, batches: Sequence[ScoredBatch], gateway_dropped: int = 0) -> int:
        """Keep one gateway report's scored rows (first row of an id wins); returns rows offered."""
        rows = [
            (b.model, rid, b.version, float(s), float(t))
            for b in batches
            for rid, s, t in zip(b.ids, b.scores.tolist(), b.at.tolist(), strict=True)
        ]
        with self._lock:
            for model in {b.model for b in batches}:
                self._gateway_dropped[(gateway_id, model)] = int(gateway_dropped)
        if rows:
            with self.db.begin() as conn:
                _raw(
                    conn,
                    "INSERT INTO scored_rows (model, request_id, version, score, scored_at) "
                    f"VALUES ({_placeholders(conn, 5)}) ON CONFLICT (model, request_id) DO NOTHING",
                    rows,
                    many=True,
                )
        now = self._clock()
        with self._lock:
            due = now - self._last_trim >= self._settings.trim_interval_s
            if due:
                self._last_trim = now
        if due:
            self.trim(now)
        return len(rows)

    def trim(self, now: float | None = None) -> int:
        """Retention: drop rows older than max_age_days and the oldest beyond max_rows per model."""
        now = self._clock() if now is None else now
        cutoff = now - self._settings.max_age_days * 86_400.0
        cap = self._settings.max_rows
        dropped_total = 0
        with self.db.begin() as conn:
            models = [r[0] for r in conn.exec_driver_sql("SELECT DISTINCT model FROM scored_rows").fetchall()]
            p = _placeholders(conn, 1)
            for model in models:
                count = conn.exec_driver_sql(f"SELECT COUNT(*) FROM scored_rows WHERE model = {p}", (model,)).scalar()
                excess = max(0, int(count or 0) - cap)
                where = f"model = {p} AND scored_at < {p}"
                params: tuple[object, ...] = (model, cutoff)
                if excess:
                    where = (
                        f"model = {p} AND (scored_at < {p} OR id <= (SELECT id FROM scored_rows WHERE model = {p} "
                        f"ORDER BY id LIMIT 1 OFFSET {p}))"
                    )
                    params = (model, cutoff, model, excess - 1)
                conn.exec_driver_sql(
                    f"INSERT INTO scored_expired (model, request_id) SELECT model, request_id FROM scored_rows "
                    f"WHERE {where} ON CONFLICT (model, request_id) DO NOTHING",
                    params,
                )
                dropped = conn.exec_driver_sql(f"DELETE FROM scored_rows WHERE {where}", params).rowcount
                if dropped:
                    dropped_total += dropped
                    with self._lock:
                        self._retention_dropped[model] = self._retention_dropped.get(model, 0) + dropped
                    # the tombstones are bounded like the rows
                    conn.exec_driver_sql(
                        f"DELETE FROM scored_expired WHERE model = {p} AND id <= (SELECT id FROM scored_expired "
                        f"WHERE model = {p} ORDER BY id DESC LIMIT 1 OFFSET {p})",
                        (model, model, cap),
                    )
        return dropped_total

    def retention_dropped(self, model: str) -> int:
        with self._lock:
            return self._retention_dropped.get(model, 0)

    def gateway_dropped(self, model: str) -> int:
        with self._lock:
            return sum(n for (_, m), n in self._gateway_dropped.items() if m == model)

    # ---- labels in ----

    def submit(
        self, model: str, ids: Sequence[str], labels: Sequence[int], labelled_at: Sequence[float] = ()
    ) -> JoinResult:
        """Join a batch of labels to scored rows, all or nothing (InvalidRequest names a bad item)."""
        check_labels(ids, labels, labelled_at)
        now = self._clock()
        first: dict[str, int] = {}
        for i, rid in enumerate(ids):
            first.setdefault(rid, i)
        in_batch_duplicates = len(ids) - len(first)
        lab = [int(x) for x in labels]
        if labelled_at:
            rows = [(rid, lab[i], float(labelled_at[i]) or now) for rid, i in first.items()]
        else:
            rows = [(rid, lab[i], now) for rid, i in first.items()]
        rows.sort()  # in index order: the inserts and the join's probes walk the B-trees in order
        with self.db.begin() as conn:
            p1 = _placeholders(conn, 1)
            if conn.dialect.name == "sqlite":  # a page cache that holds the join's working set
                conn.exec_driver_sql(f"PRAGMA cache_size = -{JOIN_CACHE_KIB}")
            conn.exec_driver_sql("DROP TABLE IF EXISTS label_batch")
            conn.exec_driver_sql(
                "CREATE TEMPORARY TABLE label_batch "
                "(request_id VARCHAR(300) PRIMARY KEY, label INTEGER NOT NULL, labelled_at FLOAT NOT NULL)"
            )
            _raw(
                conn,
                f"INSERT INTO label_batch (request_id, label, labelled_at) VALUES ({_placeholders(conn, 3)})",
                rows,
                many=True,
            )
            known, labelled_before = conn.exec_driver_sql(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN s.label IS NULL THEN 0 ELSE 1 END), 0) "
                f"FROM label_batch b JOIN scored_rows s ON s.model = {p1} AND s.request_id = b.request_id",
                (model,),
            ).one()
            expired = conn.exec_driver_sql(
                f"SELECT COUNT(*) FROM label_batch b JOIN scored_expired e ON e.model = {p1} "
                f"AND e.request_id = b.request_id WHERE NOT EXISTS (SELECT 1 FROM scored_rows s "
                f"WHERE s.model = {p1} AND s.request_id = b.request_id)",
                (model, model),
            ).scalar()
            joined = conn.exec_driver_sql(
                "UPDATE scored_rows SET label = b.label, labelled_at = b.labelled_at FROM label_batch b "
                f"WHERE scored_rows.model = {p1} AND scored_rows.request_id = b.request_id "
                "AND scored_rows.label IS NULL",
                (model,),
            ).rowcount
            conn.exec_driver_sql("DROP TABLE label_batch")
        expired = int(expired or 0)
        return JoinResult(
            received=len(ids),
            joined=int(joined),
            unknown=len(first) - int(known) - expired,
            duplicates=in_batch_duplicates + int(labelled_before),
            expired=expired,
        )

    # ---- reading ----

    def labelled(self, model: str, since: float, version: int = 0) -> LabelledRows:
        """Labelled rows of ``model`` (one version, or all: 0) scored at or after ``since``."""
        with self.db.read() as conn:
            p = _placeholders(conn, 1)
            sql = (
                "SELECT version, score, label, scored_at, labelled_at FROM scored_rows "
                f"WHERE model = {p} AND scored_at >= {p} AND label IS NOT NULL"
            )
            params: tuple[object, ...] = (model, since)
            if version:
                sql += f" AND version = {p}"
                params += (version,)
            rows = _raw(conn, sql, params)
        if not rows:
            empty = np.empty(0)
            return LabelledRows(empty.astype(np.int64), empty, empty.astype(np.int8), empty, empty)
        a = np.array(rows, dtype=np.float64)
        return LabelledRows(a[:, 0].astype(np.int64), a[:, 1], a[:, 2].astype(np.int8), a[:, 3], a[:, 4])

    def scored_counts(self, model: str, since: float, version: int = 0) -> dict[int, int]:
        """Rows scored (labelled or not) at or after ``since``, by version."""
        with self.db.read() as conn:
            p = _placeholders(conn, 1)
            sql = f"SELECT version, COUNT(*) FROM scored_rows WHERE model = {p} AND scored_at >= {p}"
            params: tuple[object, ...] = (model, since)
            if version:
                sql += f" AND version = {p}"
                params += (version,)
            rows = _raw(conn, sql + " GROUP BY version", params)
        return {int(v): int(n) for v, n in rows}
