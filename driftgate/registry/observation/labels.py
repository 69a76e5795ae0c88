"""Scored rows and the labels joined to them, in the registry's database. Transport-free, synchronous.

Gateways ship what they scored (model, version, request id, score, time) in every report; the
registry keeps each report's rows of one model version as one *chunk*: one database row holding
the rows columnar (observation.chunks; ids, their hashes and comparison: observation.row_ids).
Taking a report in is then one INSERT per model version, whatever its rows (a row per request
cost ~9 us of the registry's CPU per request: bench/accuracy_store.md).

Labels (chargebacks, days later) are joined by id in one write transaction, all or nothing
(observation.label_join; a million labels join in seconds: bench/labels_join.md). A label that
came before its rows waits for the report that brings them (observation.held_labels).

An id scored more than once (a client that reuses ids) keeps every row; a label goes to the
earliest row with its id. A gateway report that is sent again after a lost reply is recognised by
its source (the gateway worker's id prefix, unique per start) and the mark it carries, and is not
kept twice.

Retention (observation.retention): per model at most ``AccuracySettings.max_rows`` rows and
nothing older than ``max_age_days``, counted (``retention_dropped``, since this process started).
Gateways count the rows their full buffers dropped; the latest count of each gateway is kept
(``gateway_dropped``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, func, insert, select, update

from driftgate.errors import InvalidRequest
from driftgate.registry.observation import chunks, held_labels, label_join, retention
from driftgate.registry.observation.label_join import JoinResult, check_labels
from driftgate.registry.observation.scored_tables import scored_chunks, scored_sources
from driftgate.registry.store.db import Database
from driftgate.settings import AccuracySettings

__all__ = ["LabelStore", "LabelledRows", "ScoredBatch"]


@dataclass(frozen=True, slots=True)
class ScoredBatch:
    """Rows of one model version as a gateway reported them, columnar."""

    model: str
    version: int
    ids: Sequence[str]
    scores: np.ndarray  # float64
    at: np.ndarray  # float64

    @classmethod
    def checked(
        cls,
        model: str,
        version: int,
        ids: Sequence[str],
        scores: Sequence[float] | np.ndarray,
        at: Sequence[float] | np.ndarray,
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
class LabelledRows:
    """Labelled rows of one model scored since some time, columnar."""

    version: np.ndarray  # int64
    score: np.ndarray  # float64
    label: np.ndarray  # int8
    scored_at: np.ndarray  # float64
    labelled_at: np.ndarray  # float64



class LabelStore:
    def __init__(self, db: Database, settings: AccuracySettings, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()  # counters and the trim schedule
        self._retention_dropped: dict[str, int] = {}
        self._gateway_dropped: dict[tuple[str, str], int] = {}  # (gateway, model) -> its cumulative count
        self._last_trim = -math.inf
        self._held_expired: dict[str, int] = {}  # held labels dropped unjoined, by model, since start
        # called (model, labels joined) after a report brought rows that held labels were waiting
        # for; the composition root points it at the accuracy monitor's evaluation
        self.on_joined: Callable[[str, int], None] | None = None

    # ---- scored rows in ----

    def ingest(
        self,
        gateway_id: str,
        batches: Sequence[ScoredBatch],
        gateway_dropped: int = 0,
        source: str = "",
        upto: int = 0,
    ) -> int:
        """Keep one gateway report's scored rows, a chunk per model version; returns rows kept.

        ``source`` and ``upto`` (the gateway worker's id prefix and the report's mark) recognise a
        report sent again after its reply was lost: a mark not above the last one kept from that
        source is not kept again (0 rows)."""
        with self._lock:
            for model in {b.model for b in batches}:
                self._gateway_dropped[(gateway_id, model)] = int(gateway_dropped)
        kept_batches = [b for b in batches if len(b.ids)]
        values = [chunks.encode(b.model, b.version, 1, b.ids, b.scores, b.at) for b in kept_batches]
        now = self._clock()
        kept = 0
        joined: dict[str, int] = {}
        if values or source:
            with self.db.begin() as conn:
                if (not source or self._new_from(conn, source, upto, now)) and values:
                    for model in sorted({b.model for b in kept_batches}):
                        mine = [k for k, b in enumerate(kept_batches) if b.model == model]
                        n = held_labels.join_into(conn, model, [values[k] for k in mine],
                                                  [kept_batches[k].ids for k in mine])
                        if n:
                            joined[model] = n
                    conn.execute(insert(scored_chunks), values)
                    kept = sum(v["rows"] for v in values)
        for model, n in joined.items():  # labels that came early, joined now: accuracy may have moved
            if self.on_joined is not None:
                self.on_joined(model, n)
        with self._lock:
            due = now - self._last_trim >= self._settings.trim_interval_s
            if due:
                self._last_trim = now
        if due:
            self.trim(now)
        return kept

    @staticmethod
    def _new_from(conn: Connection, source: str, upto: int, now: float) -> bool:
        """Whether a report from ``source`` up to mark ``upto`` is new (and remember it)."""
        c = scored_sources.c
        last = conn.execute(select(c.upto).where(c.source == source)).scalar()
        if last is None:
            conn.execute(insert(scored_sources).values(source=source, upto=upto, seen_at=now))
            return True
        conn.execute(update(scored_sources).where(c.source == source).values(upto=max(upto, last), seen_at=now))
        return upto > last

    def trim(self, now: float | None = None) -> int:
        """Retention (observation.retention): drop rows older than max_age_days and the oldest beyond
        max_rows per model, keeping their ids as tombstones; and expire labels held too long."""
        now = self._clock() if now is None else now
        cutoff = now - self._settings.max_age_days * 86_400.0
        with self.db.begin() as conn:
            dropped = retention.trim(conn, cutoff, self._settings.max_rows)
            hold_s = min(self._settings.hold_seconds, self._settings.max_age_days * 86_400.0)
            expired = held_labels.expire(conn, now - hold_s)
        with self._lock:
            for model, n in dropped.items():
                self._retention_dropped[model] = self._retention_dropped.get(model, 0) + n
            for model, n in expired.items():
                self._held_expired[model] = self._held_expired.get(model, 0) + n
        return sum(dropped.values())

    def retention_dropped(self, model: str) -> int:
        with self._lock:
            return self._retention_dropped.get(model, 0)

    def held(self, model: str) -> int:
        """Labels held now for ``model``, waiting for their scored rows."""
        with self.db.read() as conn:
            return held_labels.count(conn, model)

    def held_expired(self, model: str) -> int:
        """Held labels of ``model`` dropped unjoined since this process started."""
        with self._lock:
            return self._held_expired.get(model, 0)

    def gateway_dropped(self, model: str) -> int:
        with self._lock:
            return sum(n for (_, m), n in self._gateway_dropped.items() if m == model)

    # ---- labels in ----

    def submit(
        self, model: str, ids: Sequence[str], labels: Sequence[int], labelled_at: Sequence[float] = ()
    ) -> JoinResult:
        """Join a batch of labels to scored rows, all or nothing (InvalidRequest names a bad item)."""
        check_labels(ids, labels, labelled_at)
        with self.db.begin() as conn:
            return label_join.join(conn, model, ids, labels, labelled_at, self._clock(),
                                   self._settings.max_held_labels)

    # ---- reading ----

    def labelled(self, model: str, since: float, version: int = 0) -> LabelledRows:
        """Labelled rows of ``model`` (one version, or all: 0) scored at or after ``since``."""
        c = scored_chunks.c
        query = select(c.version, c.scores, c.at, c.labels, c.labelled_at).where(
            c.model == model, c.live == 1, c.labelled > 0, c.last_at >= since
        )
        if version:
            query = query.where(c.version == version)
        parts: list[tuple[np.ndarray, ...]] = []
        with self.db.read() as conn:
            for v, scores, at, labels, labelled_at in conn.execute(query.order_by(c.id)):
                a = np.frombuffer(at, dtype="<f8")
                lab = np.frombuffer(labels, dtype=np.int8)
                keep = (lab >= 0) & (a >= since)
                n = int(keep.sum())
                if n:
                    parts.append((
                        np.full(n, v, dtype=np.int64), np.frombuffer(scores, dtype="<f8")[keep], lab[keep], a[keep],
                        np.frombuffer(labelled_at, dtype="<f8")[keep],
                    ))
        if not parts:
            empty = np.empty(0)
            return LabelledRows(empty.astype(np.int64), empty, empty.astype(np.int8), empty, empty)
        cols = [np.concatenate(col) for col in zip(*parts, strict=True)]
        return LabelledRows(cols[0], cols[1].astype(np.float64), cols[2], cols[3].astype(np.float64),
                            cols[4].astype(np.float64))

    def scored_counts(self, model: str, since: float, version: int = 0) -> dict[int, int]:
        """Rows scored (labelled or not) at or after ``since``, by version."""
        c = scored_chunks.c
        where = [c.model == model, c.live == 1, c.last_at >= since]
        if version:
            where.append(c.version == version)
        counts: dict[int, int] = {}
        with self.db.read() as conn:
            whole = select(c.version, func.sum(c.rows)).where(*where, c.first_at >= since).group_by(c.version)
            for v, n in conn.execute(whole):
                counts[int(v)] = int(n)
            for v, at in conn.execute(select(c.version, c.at).where(*where, c.first_at < since)):
                n = int((np.frombuffer(at, dtype="<f8") >= since).sum())
                if n:
                    counts[int(v)] = counts.get(int(v), 0) + n
        return counts
