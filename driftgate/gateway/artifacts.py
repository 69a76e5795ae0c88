"""The gateway's local artifact cache: ONNX bytes by sha256, fetched from the registry once and
kept on disk so that a restart can serve without the registry.

Errors say whether trying again can help: bytes that do not match their sha256 after a complete
fetch are ArtifactError (definitive); no registry to fetch from, or a cache the disk refuses to
write (full), are ArtifactUnavailable (passing: the reconciler retries with backoff)."""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable
from pathlib import Path

from driftgate.errors import ArtifactError, ArtifactUnavailable
from driftgate.sha256_files import Sha256Files

__all__ = ["ArtifactCache"]

Fetch = Callable[[str], Awaitable[bytes]]


class ArtifactCache:
    """The files are driftgate/sha256_files.py's, as in the registry's store on one host."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files = Sha256Files(root)

    def get_local(self, sha256: str) -> bytes | None:
        """The cached bytes, or None: not cached, or damaged (then removed, to be fetched again)."""
        try:
            return self._files.read(sha256)
        except ArtifactError:
            self._files.discard(sha256)
            return None

    def put(self, sha256: str, data: bytes) -> None:
        try:
            self._files.write(data, sha256)
        except OSError as exc:
            reason = "no space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc)).lower()
            raise ArtifactUnavailable(f"artifact cache {self.root}: {reason}") from exc

    async def get(self, sha256: str, fetch: Fetch | None) -> bytes:
        data = self.get_local(sha256)
        if data is not None:
            return data
        if fetch is None:
            raise ArtifactUnavailable(f"artifact {sha256[:12]} is not cached and the registry is unreachable")
        data = await fetch(sha256)
        self.put(sha256, data)
        return data
