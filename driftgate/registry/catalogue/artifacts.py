"""Content-addressed artifact store: ONNX bytes under ``<root>/<sha[:2]>/<sha>``.

A write goes to a temporary file in the same directory, is fsynced, then renamed over the final
name, so a reader sees either nothing or the whole artifact. Every read checks the sha256: bytes
that went missing or changed on disk raise ArtifactError instead of reaching a gateway. A write
the file system refuses (a full disk) raises StorageUnavailable ("registry storage: ...").

``Artifacts`` is what the registry needs of a store; this file store serves one registry host (SQLite),
``DatabaseArtifacts`` (artifact_db.py) keeps them in the database that every registry host shares.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

from driftgate.errors import ArtifactError
from driftgate.registry.store.storage import os_error

__all__ = ["ArtifactStore", "Artifacts", "check_digest", "sha256_hex"]


class Artifacts(Protocol):
    """A content-addressed store: bytes in, their sha256 out; reads verify the bytes."""

    def put(self, data: bytes) -> str: ...

    def get(self, sha256: str) -> bytes: ...

    def exists(self, sha256: str) -> bool: ...


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_digest(sha256: str) -> None:
    """ArtifactError unless ``sha256`` is 64 lowercase hex digits."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ArtifactError(f"not a sha256 digest: {sha256!r}")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some platforms cannot open directories
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        check_digest(sha256)
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its sha256. Idempotent: an intact copy is left as it is."""
        sha = sha256_hex(data)
        final = self.path(sha)
        if final.exists():
            try:
                self.get(sha)
                return sha
            except ArtifactError:
                pass  # a damaged copy: write it again
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{sha}.", suffix=".tmp")
        except OSError as exc:
            raise os_error(exc, "artifact store") from exc
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise os_error(exc, "artifact store") from exc
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(final.parent)
        return sha

    def get(self, sha256: str) -> bytes:
        """The artifact's bytes, verified against ``sha256``."""
        path = self.path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ArtifactError(f"artifact {sha256} is missing from the store") from None
        except OSError as exc:
            raise ArtifactError(f"artifact {sha256} cannot be read: {exc.strerror}") from exc
        if sha256_hex(data) != sha256:
            raise ArtifactError(f"artifact {sha256} is corrupted: its bytes no longer match their sha256")
        return data

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()
