"""Artifacts in the registry's database: content-addressed ONNX bytes every registry host reaches.

With PostgreSQL a registry host keeps nothing of its own on disk: an artifact is a row in
``artifacts`` (sha256, size, chunk count) and its bytes are ``artifact_chunks`` rows of at most
``CHUNK_BYTES`` (bytea), numbered from 0, written in one transaction with the row that names them,
so a reader sees the whole artifact or none of it. Every read checks the sha256 and the size, as
the file store does: bytes that went missing or changed raise ArtifactError instead of reaching a
gateway. Chunks keep each value well under PostgreSQL's 1 GiB field limit and let a large artifact
travel without one huge parameter.

Which store a registry uses: ``registry.artifact_store`` (settings); "auto" is this one on every
database but SQLite, the file store (artifacts.py) under ``<home>/artifacts`` on SQLite (one host).
"""

from __future__ import annotations

import time

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    String,
    Table,
    delete,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from driftgate.errors import ArtifactError
from driftgate.registry.store.db import Database, metadata
from driftgate.sha256_files import check_digest, sha256_hex

__all__ = ["CHUNK_BYTES", "DatabaseArtifacts", "artifact_chunks", "artifacts"]

CHUNK_BYTES = 1 << 20

artifacts = Table(
    "artifacts",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
)

artifact_chunks = Table(
    "artifact_chunks",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
    ForeignKeyConstraint(["sha256"], ["artifacts.sha256"], ondelete="CASCADE"),
)


class DatabaseArtifacts:
    """The artifact store in the database (same interface as the file store: put, get, exists)."""

    def __init__(self, db: Database, chunk_bytes: int = CHUNK_BYTES) -> None:
        self._db = db
        self._chunk = chunk_bytes

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its sha256. Idempotent: an intact copy is left as it is, a damaged one
        is written again. Two registries storing the same bytes at once: one insert wins, both return."""
        sha = sha256_hex(data)
        if self.exists(sha):
            try:
                self.get(sha)
                return sha
            except ArtifactError:
                pass  # a damaged copy: write it again
        view = memoryview(data)
        chunks = [bytes(view[i : i + self._chunk]) for i in range(0, len(data), self._chunk)] or [b""]
        try:
            with self._db.begin() as conn:
                conn.execute(delete(artifact_chunks).where(artifact_chunks.c.sha256 == sha))
                conn.execute(delete(artifacts).where(artifacts.c.sha256 == sha))
                conn.execute(insert(artifacts).values(sha256=sha, size=len(data), chunks=len(chunks),
                                                      created_at=time.time()))
                for seq, chunk in enumerate(chunks):
                    conn.execute(insert(artifact_chunks).values(sha256=sha, seq=seq, data=chunk))
        except IntegrityError:
            self.get(sha)  # another registry stored the same bytes first: they must read back intact
        return sha

    def get(self, sha256: str) -> bytes:
        """The artifact's bytes, verified against ``sha256``."""
        check_digest(sha256)
        with self._db.read() as conn:
            head = conn.execute(
                select(artifacts.c.size, artifacts.c.chunks).where(artifacts.c.sha256 == sha256)
            ).first()
            if head is None:
                raise ArtifactError(f"artifact {sha256} is missing from the store")
            rows = conn.execute(
                select(artifact_chunks.c.seq, artifact_chunks.c.data)
                .where(artifact_chunks.c.sha256 == sha256)
                .order_by(artifact_chunks.c.seq)
            ).all()
        if [int(r[0]) for r in rows] != list(range(int(head[1]))):
            raise ArtifactError(f"artifact {sha256} is corrupted: chunks are missing from the store")
        data = b"".join(bytes(r[1]) for r in rows)
        if len(data) != int(head[0]) or sha256_hex(data) != sha256:
            raise ArtifactError(f"artifact {sha256} is corrupted: its bytes no longer match their sha256")
        return data

    def exists(self, sha256: str) -> bool:
        check_digest(sha256)
        with self._db.read() as conn:
            return conn.execute(select(artifacts.c.sha256).where(artifacts.c.sha256 == sha256)).first() is not None
