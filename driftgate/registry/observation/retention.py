"""Retention of scored rows, inside the caller's write transaction.

Per model at most ``cap`` rows and none scored before ``cutoff``; the oldest go first, row by row
(a chunk is cut). A dropped row's id and hash stay as a *tombstone* chunk (live 0), so a label that
comes for it later is counted expired rather than held; tombstones are bounded like the rows.
Report sources not seen since ``cutoff`` are forgotten. Transport-free, synchronous.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection, delete, func, insert, select, update

from driftgate.registry.observation.chunks import Chunk
from driftgate.registry.observation.scored_tables import scored_chunks, scored_sources

__all__ = ["trim"]


def trim(conn: Connection, cutoff: float, cap: int) -> dict[str, int]:
    """Drop rows scored before ``cutoff`` (unix seconds) and the oldest beyond ``cap`` per model;
    returns rows dropped per model (tombstones that go are not counted)."""
    c = scored_chunks.c
    dropped_by_model: dict[str, int] = {}
    models = conn.execute(select(c.model).where(c.live == 1).distinct()).scalars().all()
    for model in models:
        dropped = 0
        for chunk_id, last_at in conn.execute(
            select(c.id, c.last_at).where(c.model == model, c.live == 1, c.first_at < cutoff).order_by(c.id)
        ).all():
            if last_at < cutoff:
                dropped += _expire_whole(conn, chunk_id)
            else:
                chunk = Chunk.load(conn, chunk_id)
                assert chunk.at is not None
                dropped += _cut(conn, model, chunk, chunk.at >= cutoff)
        dropped += _over_count(conn, model, 1, cap)
        _over_count(conn, model, 0, cap)  # the tombstones are bounded like the rows
        if dropped:
            dropped_by_model[model] = dropped
    conn.execute(delete(scored_sources).where(scored_sources.c.seen_at < cutoff))
    return dropped_by_model


def _expire_whole(conn: Connection, chunk_id: int) -> int:
    c = scored_chunks.c
    conn.execute(
        update(scored_chunks).where(c.id == chunk_id)
        .values(live=0, scores=None, at=None, labels=None, labelled_at=None, labelled=0)
    )
    return int(conn.execute(select(c.rows).where(c.id == chunk_id)).scalar_one())


def _cut(conn: Connection, model: str, chunk: Chunk, keep: np.ndarray) -> int:
    """Keep the rows of ``chunk`` where ``keep``; a live chunk's other rows become a tombstone."""
    gone = np.flatnonzero(~keep)
    if gone.size == 0:
        return 0
    if gone.size == keep.size:
        if chunk.live:
            return _expire_whole(conn, chunk.id)
        conn.execute(delete(scored_chunks).where(scored_chunks.c.id == chunk.id))
        return int(gone.size)
    kept = chunk.subset(np.flatnonzero(keep))
    conn.execute(update(scored_chunks).where(scored_chunks.c.id == chunk.id).values(kept))
    if chunk.live:
        assert chunk.at is not None
        tomb = Chunk(chunk.id, chunk.version, 0, chunk.blob, chunk.ends, chunk.hashes, None, None, None, None)
        at = chunk.at[gone]
        conn.execute(
            insert(scored_chunks).values(
                model=model, version=chunk.version, live=0, first_at=float(at.min()), last_at=float(at.max()),
                labelled=0, **tomb.subset(gone),
            )
        )
    return int(gone.size)


def _over_count(conn: Connection, model: str, live: int, cap: int) -> int:
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
                _expire_whole(conn, chunk_id)
            else:
                conn.execute(delete(scored_chunks).where(c.id == chunk_id))
            n = int(rows)
        else:
            chunk = Chunk.load(conn, chunk_id)
            n = _cut(conn, model, chunk, np.arange(rows) >= excess)
        excess -= n
        dropped += n
    return dropped
