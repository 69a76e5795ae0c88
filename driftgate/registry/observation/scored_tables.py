"""The tables of scored rows: ``scored_chunks`` (a model version's rows of one report, columnar:
observation.chunks encodes them) and ``scored_sources`` (the last report mark kept from each gateway
worker, so a report sent again is not kept twice).

They sit on the shared ``driftgate.registry.store.db.metadata``; the migrations under
driftgate/registry/store/migrations/ create them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, LargeBinary, String, Table

from driftgate.registry.store.db import metadata

__all__ = ["scored_chunks", "scored_sources"]

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
    Column("hashes", LargeBinary, nullable=False),  # <u8: row_ids.id_hashes of the ids
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
