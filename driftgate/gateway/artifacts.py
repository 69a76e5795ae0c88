"""The gateway's local artifact cache: ONNX bytes by sha256, fetched from the registry once and
kept on disk so that a restart can serve without the registry.

Errors say whether trying again can help: bytes that do not match their sha256 after a complete
fetch are ArtifactError (definitive); no registry to fetch from, or a cache the disk refuses to
write (full), are ArtifactUnavailable (passing: the reconciler retries with backoff)."""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from driftgate.errors import ArtifactError, ArtifactUnavailable

__all__ = ["ArtifactCache"]

Fetch = Callable[[str], Awaitable[bytes]]


class ArtifactCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def get_local(self, sha256: str) -> bytes | None:
        path = self._path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if hashlib.sha256(data).hexdigest() != sha256:
            path.unlink(missing_ok=True)  # corrupt: fetch again
            return None
        return data

    def put(self, sha256: str, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ArtifactError(f"artifact bytes do not match sha256 {sha256}")
        path = self._path(sha256)
        tmp = ""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            if tmp:
                Path(tmp).unlink(missing_ok=True)
            reason = "no space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc)).lower()
            raise ArtifactUnavailable(f"artifact cache {self.root}: {reason}") from exc
        except BaseException:
            if tmp:
                Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, sha256: str, fetch: Fetch | None) -> bytes:
        data = self.get_local(sha256)
        if data is not None:
            return data
        if fetch is None:
            raise ArtifactUnavailable(f"artifact {sha256[:12]} is not cached and the registry is unreachable")
        data = await fetch(sha256)
        self.put(sha256, data)
        return data
