"""Labels that arrived before their scored rows, held by id until a gateway report brings them.

Gateways ship what they scored every few seconds (accuracy.report_interval_s), and a report can
wait longer while the registry is away; a label sent right after scoring would otherwise find no
row and be lost. Such a label is held here (one database row per label, in the registry's
transaction, so it survives a restart) and joined when a report brings its id:

    submit:  label ids not scored (and not tombstones) --> held_labels (bounded per model)
    ingest:  the report's chunk hashes --isin--> the model's held hashes --ids compared-->
             label written into the new chunk before it is inserted; the held row deleted
    trim:    held rows older than hold_seconds (at most the retention) deleted, counted

An id the registry never sees scored is indistinguishable from an early one until the hold
expires; the bound (``max_held_labels`` per model) keeps that from growing without end, and a
label beyond it is counted unknown. Transport-free and synchronous: every function runs inside
the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    String,
    Table,
    delete,
    func,
    insert,
    select,
)

from driftgate.registry.store.db import metadata

__all__ = ["count", "expire", "held_labels", "hold", "join_into"]

held_labels = Table(
    "held_labels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), nullable=False),
    Column("rid", String(400), nullable=False),  # the request id (row id) the label names
    Column("hash", BigInteger, nullable=False),  # row_ids.id_hashes of rid, as a signed 64-bit integer
    Column("label", Integer, nullable=False),
    Column("labelled_at", Float, nullable=False),  # unix seconds
    Column("received_at", Float, nullable=False),  # unix seconds: the hold counts from here
    Index("ix_held_labels_model_hash", "model", "hash"),
)

_SLICE = 500  # values in one IN (...)


def _signed(hashes: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(hashes, dtype="<u8").view("<i8")


def count(conn: Connection, model: str) -> int:
    h = held_labels.c
    return int(conn.execute(select(func.count()).select_from(held_labels).where(h.model == model)).scalar_one())


def _rows_with_hashes(conn: Connection, model: str, hashes: np.ndarray, columns: Sequence[Any]) -> list[Any]:
    """Held rows of ``model`` whose hash is one of ``hashes`` (signed), in hold order."""
    h = held_labels.c
    found: list[Any] = []
    values = np.unique(hashes).tolist()
    for i in range(0, len(values), _SLICE):
        found += conn.execute(
            select(h.id, *columns).where(h.model == model, h.hash.in_(values[i : i + _SLICE]))
        ).all()
    found.sort(key=lambda r: r[0])
    return found


def _candidates(conn: Connection, model: str, hashes: np.ndarray) -> np.ndarray:
    """Which of ``hashes`` (signed) the model holds a label for (a mask; equal hashes are only candidates)."""
    h = held_labels.c
    held = np.fromiter(
        conn.execute(select(h.hash).where(h.model == model)).scalars(), dtype=np.int64
    )
    return np.isin(hashes, held) if held.size else np.zeros(hashes.size, dtype=bool)


def hold(
    conn: Connection,
    model: str,
    ids: Sequence[str],
    hashes: np.ndarray,
    labels: np.ndarray,
    when: np.ndarray,
    now: float,
    cap: int,
) -> tuple[int, int, int]:
    """Hold the labels of ``ids`` (distinct, none scored); returns (held, already held, not held:
    the bound). A label whose id is held already is a duplicate: the first label stands."""
    if not ids:
        return 0, 0, 0
    signed = _signed(hashes)
    maybe = _candidates(conn, model, signed)
    already = np.zeros(len(ids), dtype=bool)
    if maybe.any():
        held_ids = {r[1] for r in _rows_with_hashes(conn, model, signed[maybe], [held_labels.c.rid])}
        already = np.fromiter((i in held_ids for i in ids), dtype=bool, count=len(ids)) & maybe
    fresh = np.flatnonzero(~already)
    room = max(0, cap - count(conn, model))
    take, over = fresh[:room], fresh[room:]
    if take.size:
        conn.execute(
            insert(held_labels),
            [
                {"model": model, "rid": ids[i], "hash": int(signed[i]), "label": int(labels[i]),
                 "labelled_at": float(when[i]), "received_at": now}
                for i in take.tolist()
            ],
        )
    return int(take.size), int(already.sum()), int(over.size)


def join_into(conn: Connection, model: str, chunks: Sequence[dict[str, Any]], ids: Sequence[Sequence[str]]) -> int:
    """Write the held labels of ``model`` whose ids ``chunks`` (scored_chunks values about to be
    inserted, with ``ids[k]`` the ids of chunk k) bring into those chunks' label columns, and
    release them; returns labels joined. A label goes to the first row with its id."""
    if not chunks:
        return 0
    exists = conn.execute(select(held_labels.c.id).where(held_labels.c.model == model).limit(1)).first()
    if exists is None:  # the usual case: one indexed look-up a report
        return 0
    hashes = np.concatenate([np.frombuffer(c["hashes"], dtype="<u8") for c in chunks])
    signed = _signed(hashes)
    maybe = _candidates(conn, model, signed)
    if not maybe.any():
        return 0
    h = held_labels.c
    rows = _rows_with_hashes(conn, model, signed[maybe], [h.rid, h.label, h.labelled_at])
    wanted: dict[str, tuple[int, int, float]] = {}
    for row_id, rid, label, labelled_at in rows:
        wanted.setdefault(rid, (row_id, label, labelled_at))  # the first label held stands
    joined: list[int] = []
    for chunk, chunk_ids in zip(chunks, ids, strict=True):
        if not wanted:
            break
        hits = [(i, wanted.pop(rid)) for i, rid in enumerate(chunk_ids) if rid in wanted]
        if not hits:
            continue
        size = len(chunk_ids)
        labels = np.full(size, -1, np.int8) if chunk.get("labels") is None else np.frombuffer(
            chunk["labels"], dtype=np.int8).copy()
        at = np.zeros(size) if chunk.get("labelled_at") is None else np.frombuffer(
            chunk["labelled_at"], dtype="<f8").copy()
        for i, (row_id, label, labelled_at) in hits:
            labels[i] = label
            at[i] = labelled_at
            joined.append(row_id)
        chunk.update(labels=labels.tobytes(), labelled_at=at.astype("<f8").tobytes(),
                     labelled=int((labels >= 0).sum()))
    # every held row of a joined id goes (a later duplicate of it would never join)
    done = {r[0] for r in rows if r[1] not in wanted}
    ids_done = sorted(done)
    for i in range(0, len(ids_done), _SLICE):
        conn.execute(delete(held_labels).where(h.id.in_(ids_done[i : i + _SLICE])))
    return len(joined)


def expire(conn: Connection, cutoff: float) -> dict[str, int]:
    """Drop labels held since before ``cutoff`` (unix seconds); returns dropped per model."""
    h = held_labels.c
    dropped = {
        str(m): int(n)
        for m, n in conn.execute(
            select(h.model, func.count()).where(h.received_at < cutoff).group_by(h.model)
        ).all()
    }
    if dropped:
        conn.execute(delete(held_labels).where(h.received_at < cutoff))
    return dropped
