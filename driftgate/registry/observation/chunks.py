"""The columnar codec of ``scored_chunks``: one row holds a model version's scored rows of one report.

    encode(model, version, live, ids, scores, at)  -> the row's column values (a dict for INSERT)
    Chunk.decode(chunk_id, values)                  -> the columns back as arrays (those present)
    Chunk.load(conn, chunk_id)                      -> one stored row, decoded
    chunk.subset(rows)                              -> the column values of some of its rows

Columns: the ids as UTF-8 bytes concatenated (``ids``) with each id's end offset (``id_ends``,
<u4), a 64-bit hash of each id (``hashes``, <u8: row_ids.id_hashes), scores and scored times
(<f8), labels (i1, -1 unlabelled) and their times (<f8), NULL while none is labelled. A
*tombstone* (live 0) keeps only the ids and hashes of rows retention dropped. Transport-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from driftgate.registry.observation import row_ids
from driftgate.registry.observation.scored_tables import scored_chunks

__all__ = ["Chunk", "encode", "load_for_join"]


def encode(model: str, version: int, live: int, ids: Sequence[str], scores: np.ndarray,
           at: np.ndarray) -> dict[str, Any]:
    """The scored_chunks values of rows ``ids`` (at least one) with their scores and times, unlabelled."""
    encoded, blob, ends = row_ids.encode_ids(ids)
    return {
        "model": model, "version": version, "live": live, "rows": len(encoded),
        "first_at": float(at.min()), "last_at": float(at.max()), "labelled": 0,
        "ids": blob, "id_ends": ends.tobytes(), "hashes": row_ids.id_hashes(encoded).tobytes(),
        "scores": np.ascontiguousarray(scores, dtype="<f8").tobytes(),
        "at": np.ascontiguousarray(at, dtype="<f8").tobytes(),
        "labels": None, "labelled_at": None,
    }


def _f8(value: bytes | None) -> np.ndarray | None:
    return None if value is None else np.frombuffer(value, dtype="<f8")


@dataclass(slots=True)
class Chunk:
    """One scored_chunks row, decoded (the columns a cut or a join needs)."""

    id: int
    version: int
    live: int
    blob: bytes
    ends: np.ndarray  # int64
    hashes: np.ndarray  # <u8; empty when not loaded
    scores: np.ndarray | None  # None: a tombstone, or not loaded
    at: np.ndarray | None
    labels: np.ndarray | None  # int8, -1 unlabelled; None: none labelled
    labelled_at: np.ndarray | None

    @classmethod
    def decode(cls, chunk_id: int, values: Mapping[Any, Any]) -> Chunk:
        """The columns in ``values`` (scored_chunks column -> stored value) as arrays; a column
        left out reads as not loaded (no hashes, no scores or times)."""
        labels = values.get("labels")
        hashes = values.get("hashes")
        return cls(
            chunk_id, int(values.get("version", 0)), int(values.get("live", 1)), bytes(values["ids"]),
            np.frombuffer(values["id_ends"], dtype="<u4").astype(np.int64),
            np.empty(0, "<u8") if hashes is None else np.frombuffer(hashes, dtype="<u8"),
            _f8(values.get("scores")), _f8(values.get("at")),
            None if labels is None else np.frombuffer(labels, dtype=np.int8), _f8(values.get("labelled_at")),
        )

    @classmethod
    def load(cls, conn: Connection, chunk_id: int) -> Chunk:
        c = scored_chunks.c
        row = conn.execute(
            select(c.version, c.live, c.ids, c.id_ends, c.hashes, c.scores, c.at, c.labels, c.labelled_at)
            .where(c.id == chunk_id)
        ).one()
        return cls.decode(chunk_id, row._mapping)

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


def load_for_join(conn: Connection, chunk_ids: Sequence[int], step: int = 500) -> dict[int, Chunk]:
    """The chunks ``chunk_ids`` with what a join reads: ids and labels (no hashes, scores or times)."""
    c = scored_chunks.c
    out: dict[int, Chunk] = {}
    for i in range(0, len(chunk_ids), step):
        query = select(c.id, c.version, c.live, c.ids, c.id_ends, c.labels, c.labelled_at).where(
            c.id.in_(chunk_ids[i : i + step])
        )
        for row in conn.execute(query):
            out[int(row.id)] = Chunk.decode(int(row.id), row._mapping)
    return out
