"""Content-addressed artifact store: ONNX bytes under ``<root>/<sha[:2]>/<sha>``.

The files are driftgate/sha256_files.py's (the gateway's cache keeps the same): a write is atomic
and durable, so a reader sees either nothing or the whole artifact, and every read checks the
sha256: bytes that went missing or changed on disk raise ArtifactError instead of reaching a
gateway. A write the file system refuses (a full disk) raises StorageUnavailable ("registry
storage: ...").

``Artifacts`` is what the registry needs of a store; this file store serves one registry host (SQLite),
``DatabaseArtifacts`` (artifact_db.py) keeps them in the database that every registry host shares.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from driftgate.errors import ArtifactError
from driftgate.registry.store.storage import os_error
from driftgate.sha256_files import Sha256Files

__all__ = ["ArtifactStore", "Artifacts"]


class Artifacts(Protocol):
    """A content-addressed store: bytes in, their sha256 out; reads verify the bytes."""

    def put(self, data: bytes) -> str: ...

    def get(self, sha256: str) -> bytes: ...

    def exists(self, sha256: str) -> bool: ...


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._files = Sha256Files(root)

    def path(self, sha256: str) -> Path:
        return self._files.path(sha256)

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its sha256. Idempotent: an intact copy is left as it is."""
        try:
            return self._files.write(data)
        except OSError as exc:
            raise os_error(exc, "artifact store") from exc

    def get(self, sha256: str) -> bytes:
        """The artifact's bytes, verified against ``sha256``."""
        data = self._files.read(sha256)
        if data is None:
            raise ArtifactError(f"artifact {sha256} is missing from the store")
        return data

    def exists(self, sha256: str) -> bool:
        return self._files.exists(sha256)
