"""Scored rows and the labels joined to them, in the registry's database. Transport-free, synchronous.

Gateways ship what they scored (model, version, request id, score, time) in every report; the
registry keeps each report's rows of one model version as one *chunk*: one database row holding
the rows columnar (ids as UTF-8 bytes with their end offsets, a 64-bit hash of each id, scores and
times as packed float64). Taking a report in is then one INSERT per model version, whatever its
rows (a row per request cost ~9 us of the registry's CPU per request: bench/accuracy_store.md).

Labels (chargebacks, days later) are joined by id in one write transaction, all or nothing:

    label ids --hash--> searched in the model's chunks' hashes (sorted once, numpy)
              --each hit's id bytes compared--> the earliest row with that id
              --the touched chunks' label columns rewritten--> scored_chunks

A million labels join in seconds (bench/labels_join.md). Counts come back: joined, held (not scored
yet: a label that came before its rows waits for the report that brings them, in
driftgate.registry.observation.held_labels), unknown (not scored and not held: the hold is full), duplicates
(repeated in the batch, or labelled or held before: the first label stands), expired (scored once
but dropped by retention since: a dropped row's id and hash stay as a *tombstone* chunk, bounded
like the rows).

An id scored more than once (a client that reuses ids) keeps every row; a label goes to the
earliest row with its id. A gateway report that is sent again after a lost reply is recognised by
its source (the gateway worker's id prefix, unique per start) and the mark it carries, and is not
kept twice.

Retention: per model at most ``AccuracySettings.max_rows`` rows and nothing older than
``max_age_days``; the oldest go first, row by row (a chunk is cut), and are counted
(``retention_dropped``, since this process started). Gateways count the rows their full buffers
dropped; the latest count of each gateway is kept (``gateway_dropped``).

The tables sit on the shared ``driftgate.registry.store.db.metadata``; the migrations under
driftgate/registry/store/migrations/ create them.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    select,
    update,
)

from driftgate.errors import InvalidRequest
from driftgate.registry.observation import held_labels
from driftgate.registry.store.db import Database, metadata
from driftgate.settings import AccuracySettings

__all__ = [
    "MAX_ID_LENGTH",
    "JoinResult",
    "LabelStore",
    "LabelledRows",
    "ScoredBatch",
    "accuracy_settings",
    "id_hashes",
    "scored_chunks",
    "scored_sources",
]

MAX_ID_LENGTH = 300

scored_chunks = Table(
    "scored_chunks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # arrival order: retention drops lowest first
    Column("model", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("live", Integer, nullable=False),  # 1: scored rows; 0: tombstones (ids retention dropped)
    Column("rows", Integer, nullable=False),
    Column("first_at", Float, nullable=False),  # min and max scored time of the rows (unix seconds)
    Column("last_at", Float, nullable=False),
    Column("labelled", Integer, nullable=False),  # rows with a label
    Column("ids", LargeBinary, nullable=False),  # the ids, UTF-8, concatenated
    Column("id_ends", LargeBinary, nullable=False),  # <u4: end offset of each id in ids
    Column("hashes", LargeBinary, nullable=False),  # <u8: id_hashes of the ids
    Column("scores", LargeBinary, nullable=True),  # <f8; NULL in a tombstone
    Column("at", LargeBinary, nullable=True),  # <f8 unix seconds, the gateway's clock; NULL in a tombstone
    Column("labels", LargeBinary, nullable=True),  # i1: -1 unlabelled, 0, 1 (fraud); NULL: none labelled
    Column("labelled_at", LargeBinary, nullable=True),  # <f8 unix seconds; NULL: none labelled
    Index("ix_scored_chunks_model", "model", "live", "id"),
)

scored_sources = Table(
    "scored_sources",
    metadata,
    Column("source", String(400), primary_key=True),  # a gateway worker's id prefix (unique per start)
    Column("upto", BigInteger, nullable=False),  # the highest report mark kept from it
    Column("seen_at", Float, nullable=False),
)

accuracy_settings = Table(
    "accuracy_settings",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("settings", Text, nullable=False),  # JSON: the fields set for this model
)

_HASH_SLICE = 1 << 16  # ids hashed at a time
_COMPARE_SLICE = 1 << 17  # id pairs compared at a time
_SEED = np.uint64(0xCBF29CE484222325)
_MUL = np.uint64(0x9E3779B97F4A7C15)
_S29 = np.uint64(29)
_S32 = np.uint64(32)


def id_hashes(encoded: Sequence[bytes]) -> np.ndarray:
    """A 64-bit hash of each id (its UTF-8 bytes), the same in every process and batch (<u8).

    Vectorised over 8-byte words of the ids padded with zeros; a word past an id's end leaves its
    hash alone, and the length is mixed in. Equal hashes are only candidates: the join compares bytes.
    """
    n = len(encoded)
    if n > _HASH_SLICE:  # bounded scratch: one long id would otherwise widen every row
        return np.concatenate([id_hashes(encoded[i : i + _HASH_SLICE]) for i in range(0, n, _HASH_SLICE)])
    if n == 0:
        return np.empty(0, dtype="<u8")
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
    width = max(8, -(-int(lengths.max()) // 8) * 8)
    words = np.frombuffer(np.array(encoded, dtype=f"S{width}").tobytes(), dtype="<u8").reshape(n, width // 8)
    h = np.full(n, _SEED, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(words.shape[1]):
            mixed = (h ^ words[:, k]) * _MUL
            mixed ^= mixed >> _S29
            h = mixed if k == 0 else np.where(lengths > 8 * k, mixed, h)
        h = (h ^ lengths.astype(np.uint64)) * _MUL
        h ^= h >> _S32
    return h.astype("<u8", copy=False)


def encode_ids(ids: Sequence[str]) -> tuple[list[bytes], bytes, np.ndarray]:
    """(each id's UTF-8 bytes, them concatenated, the end offset of each: <u4)."""
    encoded = [s.encode() for s in ids]
    ends = np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))
    return encoded, b"".join(encoded), ends.astype("<u4")


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
class JoinResult:
    received: int
    joined: int
    unknown: int  # not scored, and not held: the hold was full
    duplicates: int
    expired: int
    held: int = 0  # not scored yet: held until a report brings the rows (driftgate.registry.observation.held_labels)


@dataclass(frozen=True, slots=True)
class LabelledRows:
    """Labelled rows of one model scored since some time, columnar."""

    version: np.ndarray  # int64
    score: np.ndarray  # float64
    label: np.ndarray  # int8
    scored_at: np.ndarray  # float64
    labelled_at: np.ndarray  # float64


@dataclass(slots=True)
class _Chunk:
    """One scored_chunks row, decoded (the columns a cut or a join needs)."""

    id: int
    version: int
    live: int
    blob: bytes
    ends: np.ndarray  # int64
    hashes: np.ndarray
    scores: np.ndarray | None
    at: np.ndarray | None
    labels: np.ndarray | None  # int8, -1 unlabelled; None: none labelled
    labelled_at: np.ndarray | None

    @classmethod
    def load(cls, conn: Connection, chunk_id: int) -> _Chunk:
        c = scored_chunks.c
        r = conn.execute(
            select(c.id, c.version, c.live, c.ids, c.id_ends, c.hashes, c.scores, c.at, c.labels, c.labelled_at)
            .where(c.id == chunk_id)
        ).one()
        return cls(
            int(r[0]), int(r[1]), int(r[2]), bytes(r[3]), np.frombuffer(r[4], dtype="<u4").astype(np.int64),
            np.frombuffer(r[5], dtype="<u8"), _f8(r[6]), _f8(r[7]),
            None if r[8] is None else np.frombuffer(r[8], dtype=np.int8), _f8(r[9]),
        )

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate(([0], self.ends[:-1])) if self.ends.size else self.ends

    def id_bytes(self, rows: np.ndarray) -> list[bytes]:
        starts, ends, blob = self.starts, self.ends, self.blob
        return [blob[starts[i] : ends[i]] for i in rows.tolist()]

    def subset(self, rows: np.ndarray) -> dict[str, Any]:
        """The columns of ``rows`` (indices, in order), as values for scored_chunks."""
        blob = b"".join(self.id_bytes(rows))
        lengths = (self.ends - self.starts)[rows]
        values: dict[str, Any] = {
            "rows": int(rows.size),
            "ids": blob,
            "id_ends": np.cumsum(lengths).astype("<u4").tobytes(),
            "hashes": self.hashes[rows].tobytes(),
        }
        if self.at is not None and self.scores is not None:
            at = self.at[rows]
            values.update(scores=self.scores[rows].tobytes(), at=at.tobytes(),
                          first_at=float(at.min()), last_at=float(at.max()))
            labels = None if self.labels is None else self.labels[rows]
            if labels is not None and self.labelled_at is not None and (labels >= 0).any():
                values.update(labels=labels.tobytes(), labelled_at=self.labelled_at[rows].tobytes(),
                              labelled=int((labels >= 0).sum()))
            else:
                values.update(labels=None, labelled_at=None, labelled=0)
        return values


def _f8(value: bytes | None) -> np.ndarray | None:
    return None if value is None else np.frombuffer(value, dtype="<f8")


def _chunk_values(model: str, version: int, live: int, ids: Sequence[str], scores: np.ndarray,
                  at: np.ndarray) -> dict[str, Any]:
    encoded, blob, ends = encode_ids(ids)
    return {
        "model": model, "version": version, "live": live, "rows": len(encoded),
        "first_at": float(at.min()), "last_at": float(at.max()), "labelled": 0,
        "ids": blob, "id_ends": ends.tobytes(), "hashes": id_hashes(encoded).tobytes(),
        "scores": np.ascontiguousarray(scores, dtype="<f8").tobytes(),
        "at": np.ascontiguousarray(at, dtype="<f8").tobytes(),
        "labels": None, "labelled_at": None,
    }


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
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    bad = np.flatnonzero((lengths == 0) | (lengths > MAX_ID_LENGTH))
    if bad.size:
        i = int(bad[0])
        raise InvalidRequest(f"item {i + 1}: id must be 1 to {MAX_ID_LENGTH} characters, got {ids[i]!r:.60}")
    if labelled_at:
        times = np.asarray(labelled_at, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(times) | (times < 0))
        if bad.size:
            i = int(bad[0])
            raise InvalidRequest(
                f"item {i + 1} (id {ids[i]!r}): labelled_at must be unix seconds >= 0 (0: now), got {labelled_at[i]}"
            )


def _candidates(wanted: np.ndarray, index: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (label, row) whose hashes are equal: rows numbered over ``index``'s chunks in order,
    sorted by label, then row (so a label's first pair is its earliest row)."""
    hashes = np.concatenate([np.frombuffer(r[3], dtype="<u8") for r in index]) if index else np.empty(0, "<u8")
    order = np.argsort(hashes, kind="stable")
    sorted_hashes = hashes[order]
    by_hash = np.argsort(wanted)  # sorted needles: searchsorted walks forward
    lo = np.empty(wanted.size, dtype=np.int64)
    hi = np.empty(wanted.size, dtype=np.int64)
    lo[by_hash] = np.searchsorted(sorted_hashes, wanted[by_hash], "left")
    hi[by_hash] = np.searchsorted(sorted_hashes, wanted[by_hash], "right")
    counts = hi - lo
    pair_label = np.repeat(np.arange(wanted.size), counts)
    within = np.arange(pair_label.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return pair_label, order[np.repeat(lo, counts) + within]


def _load_chunks(conn: Connection, chunk_ids: Sequence[int], step: int = 500) -> dict[int, _Chunk]:
    c = scored_chunks.c
    out: dict[int, _Chunk] = {}
    for i in range(0, len(chunk_ids), step):
        query = select(c.id, c.version, c.live, c.ids, c.id_ends, c.labels, c.labelled_at).where(
            c.id.in_(chunk_ids[i : i + step])
        )
        for r in conn.execute(query):
            out[int(r[0])] = _Chunk(
                int(r[0]), int(r[1]), int(r[2]), bytes(r[3]), np.frombuffer(r[4], dtype="<u4").astype(np.int64),
                np.empty(0, "<u8"), None, None, None if r[5] is None else np.frombuffer(r[5], dtype=np.int8), _f8(r[6]),
            )
    return out


def _same_bytes(
    a: bytes, a_starts: np.ndarray, a_ends: np.ndarray, b: bytes, b_starts: np.ndarray, b_ends: np.ndarray
) -> np.ndarray:
    """Whether a[a_starts[i]:a_ends[i]] == b[b_starts[i]:b_ends[i]], for each i (vectorised, in slices)."""
    if a_starts.size > _COMPARE_SLICE:
        return np.concatenate([
            _same_bytes(a, a_starts[i : i + _COMPARE_SLICE], a_ends[i : i + _COMPARE_SLICE], b,
                        b_starts[i : i + _COMPARE_SLICE], b_ends[i : i + _COMPARE_SLICE])
            for i in range(0, a_starts.size, _COMPARE_SLICE)
        ])
    lengths = a_ends - a_starts
    same = lengths == (b_ends - b_starts)
    idx = np.flatnonzero(same)
    if idx.size == 0:
        return same
    n = lengths[idx]
    within = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    a_bytes = np.frombuffer(a, dtype=np.uint8)[np.repeat(a_starts[idx], n) + within]
    b_bytes = np.frombuffer(b, dtype=np.uint8)[np.repeat(b_starts[idx], n) + within]
    differs = np.bincount(np.repeat(np.arange(idx.size), n)[a_bytes != b_bytes], minlength=idx.size) > 0
    same[idx[differs]] = False
    return same


def migrate_row_tables(db: Database, rows_per_chunk: int = 10_000) -> int:
    """Move what a registry from before the chunks kept (``scored_rows``: a row per request, and the
    ``scored_expired`` ids) into chunks, in arrival order, then drop those tables; returns rows moved."""
    names = set(inspect(db.engine).get_table_names())
    if "scored_rows" not in names:
        return 0
    moved = 0
    with db.begin() as conn:
        select_rows = (
            "SELECT model, version, request_id, score, scored_at, label, labelled_at FROM scored_rows ORDER BY id"
        )
        for (model, version), group in itertools.groupby(conn.exec_driver_sql(select_rows), key=lambda r: r[:2]):
            for part in _batched(group, rows_per_chunk):
                ids = [r[2] for r in part]
                values = _chunk_values(
                    model, int(version), 1, ids, np.array([r[3] for r in part]), np.array([r[4] for r in part])
                )
                labels = np.array([-1 if r[5] is None else r[5] for r in part], dtype=np.int8)
                if (labels >= 0).any():
                    values.update(
                        labels=labels.tobytes(), labelled=int((labels >= 0).sum()),
                        labelled_at=np.array([r[6] or 0.0 for r in part], dtype="<f8").tobytes(),
                    )
                conn.execute(insert(scored_chunks).values(values))
                moved += len(ids)
        if "scored_expired" in names:
            select_expired = "SELECT model, request_id FROM scored_expired ORDER BY id"
            for model, group in itertools.groupby(conn.exec_driver_sql(select_expired), key=lambda r: r[0]):
                for part in _batched(group, rows_per_chunk):
                    encoded, blob, ends = encode_ids([r[1] for r in part])
                    conn.execute(insert(scored_chunks).values(
                        model=model, version=0, live=0, rows=len(encoded), first_at=0.0, last_at=0.0, labelled=0,
                        ids=blob, id_ends=ends.tobytes(), hashes=id_hashes(encoded).tobytes(),
                    ))
            conn.exec_driver_sql("DROP TABLE scored_expired")
        conn.exec_driver_sql("DROP TABLE scored_rows")
    return moved


def _batched(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    it = iter(items)
    while part := list(itertools.islice(it, n)):
        yield part


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
        migrate_row_tables(db)

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
        values = [_chunk_values(b.model, b.version, 1, b.ids, b.scores, b.at) for b in kept_batches]
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
        """Retention: drop rows older than max_age_days and the oldest beyond max_rows per model; the
        dropped rows' ids stay as tombstones (so a late label is counted expired), bounded the same."""
        now = self._clock() if now is None else now
        cutoff = now - self._settings.max_age_days * 86_400.0
        cap = self._settings.max_rows
        c = scored_chunks.c
        dropped_total = 0
        with self.db.begin() as conn:
            models = conn.execute(select(c.model).where(c.live == 1).distinct()).scalars().all()
            for model in models:
                dropped = 0
                for chunk_id, last_at in conn.execute(
                    select(c.id, c.last_at).where(c.model == model, c.live == 1, c.first_at < cutoff).order_by(c.id)
                ).all():
                    if last_at < cutoff:
                        dropped += self._expire_whole(conn, chunk_id)
                    else:
                        chunk = _Chunk.load(conn, chunk_id)
                        assert chunk.at is not None
                        dropped += self._cut(conn, model, chunk, chunk.at >= cutoff)
                dropped += self._over_count(conn, model, 1, cap)
                self._over_count(conn, model, 0, cap)  # the tombstones are bounded like the rows
                if dropped:
                    dropped_total += dropped
                    with self._lock:
                        self._retention_dropped[model] = self._retention_dropped.get(model, 0) + dropped
            conn.execute(delete(scored_sources).where(scored_sources.c.seen_at < cutoff))
            hold_s = min(self._settings.hold_seconds, self._settings.max_age_days * 86_400.0)
            expired = held_labels.expire(conn, now - hold_s)
        if expired:
            with self._lock:
                for model, n in expired.items():
                    self._held_expired[model] = self._held_expired.get(model, 0) + n
        return dropped_total

    @staticmethod
    def _expire_whole(conn: Connection, chunk_id: int) -> int:
        c = scored_chunks.c
        conn.execute(
            update(scored_chunks).where(c.id == chunk_id)
            .values(live=0, scores=None, at=None, labels=None, labelled_at=None, labelled=0)
        )
        return int(conn.execute(select(c.rows).where(c.id == chunk_id)).scalar_one())

    @staticmethod
    def _cut(conn: Connection, model: str, chunk: _Chunk, keep: np.ndarray) -> int:
        """Keep the rows of ``chunk`` where ``keep``; a live chunk's other rows become a tombstone."""
        gone = np.flatnonzero(~keep)
        if gone.size == 0:
            return 0
        if gone.size == keep.size:
            if chunk.live:
                return LabelStore._expire_whole(conn, chunk.id)
            conn.execute(delete(scored_chunks).where(scored_chunks.c.id == chunk.id))
            return int(gone.size)
        kept = chunk.subset(np.flatnonzero(keep))
        conn.execute(update(scored_chunks).where(scored_chunks.c.id == chunk.id).values(kept))
        if chunk.live:
            assert chunk.at is not None
            tomb = _Chunk(chunk.id, chunk.version, 0, chunk.blob, chunk.ends, chunk.hashes, None, None, None, None)
            at = chunk.at[gone]
            conn.execute(
                insert(scored_chunks).values(
                    model=model, version=chunk.version, live=0, first_at=float(at.min()), last_at=float(at.max()),
                    labelled=0, **tomb.subset(gone),
                )
            )
        return int(gone.size)

    def _over_count(self, conn: Connection, model: str, live: int, cap: int) -> int:
        """Drop the oldest rows of the model's chunks (live or tombstones) beyond ``cap``."""
        c = scored_chunks.c
        total = conn.execute(select(func.coalesce(func.sum(c.rows), 0)).where(c.model == model, c.live == live))
        excess = int(total.scalar_one()) - cap
        dropped = 0
        if excess <= 0:
            return 0
        for chunk_id, rows in conn.execute(
            select(c.id, c.rows).where(c.model == model, c.live == live).order_by(c.id)
        ).all():
            if excess <= 0:
                break
            if rows <= excess:
                if live:
                    self._expire_whole(conn, chunk_id)
                else:
                    conn.execute(delete(scored_chunks).where(c.id == chunk_id))
                n = int(rows)
            else:
                chunk = _Chunk.load(conn, chunk_id)
                n = self._cut(conn, model, chunk, np.arange(rows) >= excess)
            excess -= n
            dropped += n
        return dropped

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
        now = self._clock()
        n = len(ids)
        first = dict(zip(reversed(ids), range(n - 1, -1, -1), strict=True))  # id -> its first position
        in_batch_duplicates = n - len(first)
        take = np.fromiter(first.values(), dtype=np.int64, count=len(first))
        lab = np.asarray(labels, dtype=np.int8)[take]
        if labelled_at:
            when = np.asarray(labelled_at, dtype=np.float64)[take]
            when[when == 0] = now
        else:
            when = np.full(take.size, now)
        encoded, label_blob, label_ends = encode_ids(list(first))
        wanted = id_hashes(encoded)
        c = scored_chunks.c
        with self.db.begin() as conn:
            index = conn.execute(
                select(c.id, c.live, c.rows, c.hashes).where(c.model == model).order_by(c.id)
            ).all()
            pair_label, pair_row = _candidates(wanted, index)
            # candidate rows by chunk: load the touched chunks' ids (and labels) in one pass
            rows = np.fromiter((r[2] for r in index), dtype=np.int64, count=len(index))
            chunk_start = np.cumsum(rows) - rows
            pair_chunk = np.searchsorted(chunk_start, pair_row, "right") - 1
            pair_offset = pair_row - chunk_start[pair_chunk]
            touched = np.unique(pair_chunk)
            chunks = _load_chunks(conn, [int(index[k][0]) for k in touched.tolist()])
            loaded = [chunks[int(index[k][0])] for k in touched.tolist()]
            # equal hashes are only candidates: compare the ids' bytes
            blob_base = np.cumsum([len(ch.blob) for ch in loaded]) - [len(ch.blob) for ch in loaded]
            row_base = np.zeros(len(index), dtype=np.int64)
            row_base[touched] = np.cumsum([ch.ends.size for ch in loaded]) - [ch.ends.size for ch in loaded]
            none = [np.empty(0, dtype=np.int64)]
            starts = np.concatenate([ch.starts + base for ch, base in zip(loaded, blob_base, strict=True)] or none)
            ends = np.concatenate([ch.ends + base for ch, base in zip(loaded, blob_base, strict=True)] or none)
            at_row = row_base[pair_chunk] + pair_offset
            label_starts = label_ends.astype(np.int64) - np.fromiter(map(len, encoded), np.int64, len(encoded))
            equal = _same_bytes(
                label_blob, label_starts[pair_label], label_ends.astype(np.int64)[pair_label],
                b"".join(ch.blob for ch in loaded), starts[at_row], ends[at_row],
            )
            # each label's earliest live row; a label that matched tombstones only is expired
            live = np.fromiter((r[1] for r in index), dtype=np.int8, count=len(index))
            hit = equal & (live[pair_chunk] == 1)
            hits = np.flatnonzero(hit)
            if hits.size:  # pairs run by label, then by row: keep the first hit of each label
                hits = hits[np.concatenate(([True], pair_label[hits][1:] != pair_label[hits][:-1]))]
            known = np.zeros(wanted.size, dtype=bool)
            known[pair_label[hits]] = True
            tomb = np.zeros(wanted.size, dtype=bool)
            tomb[pair_label[equal & ~hit]] = True
            expired = int((tomb & ~known).sum())
            early = np.flatnonzero(~known & ~tomb)  # not scored (yet): held until a report brings them
            keys = list(first)
            held, held_before, over = held_labels.hold(
                conn, model, [keys[i] for i in early.tolist()], wanted[early], lab[early], when[early], now,
                self._settings.max_held_labels,
            )
            joined = labelled_before = 0
            by_chunk = hits[np.argsort(pair_chunk[hits], kind="stable")]
            bounds = np.flatnonzero(np.diff(pair_chunk[by_chunk])) + 1
            updates = []
            for group in np.split(by_chunk, bounds) if by_chunk.size else []:
                chunk = chunks[int(index[int(pair_chunk[group[0]])][0])]
                offsets = pair_offset[group]
                which = pair_label[group]
                size = chunk.ends.size
                new_labels = np.full(size, -1, np.int8) if chunk.labels is None else chunk.labels.copy()
                new_at = np.zeros(size) if chunk.labelled_at is None else chunk.labelled_at.copy()
                fresh = new_labels[offsets] < 0
                labelled_before += int((~fresh).sum())
                new_labels[offsets[fresh]] = lab[which[fresh]]
                new_at[offsets[fresh]] = when[which[fresh]]
                joined += int(fresh.sum())
                updates.append({
                    "chunk": chunk.id, "new_labels": new_labels.tobytes(),
                    "new_labelled_at": new_at.astype("<f8").tobytes(), "new_labelled": int((new_labels >= 0).sum()),
                })
            if updates:
                conn.execute(
                    update(scored_chunks).where(c.id == bindparam("chunk")).values(
                        labels=bindparam("new_labels"), labelled_at=bindparam("new_labelled_at"),
                        labelled=bindparam("new_labelled"),
                    ),
                    updates,
                )
        return JoinResult(
            received=n,
            joined=joined,
            unknown=over,
            duplicates=in_batch_duplicates + labelled_before + held_before,
            expired=expired,
            held=held,
        )

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
