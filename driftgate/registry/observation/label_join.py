"""Labels joined to scored rows by request id, inside the caller's write transaction.

    label ids --hash--> searched in the model's chunks' hashes (sorted once, numpy)
              --each hit's id bytes compared--> the earliest live row with that id
              --the touched chunks' label columns rewritten--> scored_chunks

Counts come back (JoinResult): joined, held (not scored yet: waits in held_labels for the report
that brings its rows), unknown (not scored and not held: the hold is full), duplicates (repeated
in the batch, or labelled or held before: the first label stands), expired (scored once but
dropped by retention since: the id matched only a tombstone). Transport-free, synchronous.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, bindparam, select, update

from driftgate.errors import InvalidRequest
from driftgate.registry.observation import held_labels, row_ids
from driftgate.registry.observation.chunks import load_for_join
from driftgate.registry.observation.scored_tables import scored_chunks

__all__ = ["JoinResult", "check_labels", "join"]


@dataclass(frozen=True, slots=True)
class JoinResult:
    received: int
    joined: int
    unknown: int  # not scored, and not held: the hold was full
    duplicates: int
    expired: int
    held: int = 0  # not scored yet: held until a report brings the rows (observation.held_labels)


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
    bad = np.flatnonzero((lengths == 0) | (lengths > row_ids.MAX_ID_LENGTH))
    if bad.size:
        i = int(bad[0])
        raise InvalidRequest(f"item {i + 1}: id must be 1 to {row_ids.MAX_ID_LENGTH} characters, got {ids[i]!r:.60}")
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


def join(
    conn: Connection,
    model: str,
    ids: Sequence[str],
    labels: Sequence[int],
    labelled_at: Sequence[float],
    now: float,
    max_held: int,
) -> JoinResult:
    """Join a checked batch (check_labels) to the model's scored rows in the caller's transaction;
    a labelled_at of 0 (or none given) means ``now``. Ids not scored yet are held (up to ``max_held``)."""
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
    encoded, label_blob, label_ends = row_ids.encode_ids(list(first))
    wanted = row_ids.id_hashes(encoded)
    c = scored_chunks.c
    index = conn.execute(select(c.id, c.live, c.rows, c.hashes).where(c.model == model).order_by(c.id)).all()
    pair_label, pair_row = _candidates(wanted, index)
    # candidate rows by chunk: load the touched chunks' ids (and labels) in one pass
    rows = np.fromiter((r[2] for r in index), dtype=np.int64, count=len(index))
    chunk_start = np.cumsum(rows) - rows
    pair_chunk = np.searchsorted(chunk_start, pair_row, "right") - 1
    pair_offset = pair_row - chunk_start[pair_chunk]
    touched = np.unique(pair_chunk)
    chunks = load_for_join(conn, [int(index[k][0]) for k in touched.tolist()])
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
    equal = row_ids.same_bytes(
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
        conn, model, [keys[i] for i in early.tolist()], wanted[early], lab[early], when[early], now, max_held
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
