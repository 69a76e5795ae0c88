"""Files named by the sha256 of their bytes: ``<root>/<sha[:2]>/<sha>``, checked on every read.

Both sides of an artifact's trip keep one of these: the registry's artifact store on a single host
(driftgate/registry/catalogue/artifacts.py) and each gateway's artifact cache
(driftgate/gateway/artifacts.py). They differ only in what a failure means to them (a refused call
in the registry, a fetch to retry in the gateway), so this class says what happened and they decide:

- :meth:`Sha256Files.read` returns None for an artifact that is not there and raises ArtifactError
  for bytes that can no longer be read or no longer match their name;
- :meth:`Sha256Files.write` stores bytes atomically and durably (driftgate/atomic_write.py) and
  returns their sha256; given the sha256 it expects, bytes that do not match raise ArtifactError
  and nothing is written; a copy already there and intact is left as it is; what the file system
  refuses is its OSError.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from driftgate.atomic_write import write_atomic
from driftgate.errors import ArtifactError

__all__ = ["Sha256Files", "check_digest", "sha256_hex"]

_HEX = frozenset("0123456789abcdef")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_digest(sha256: str) -> None:
    """ArtifactError unless ``sha256`` is 64 lowercase hex digits (it becomes a file name)."""
    if len(sha256) != 64 or not _HEX.issuperset(sha256):
        raise ArtifactError(f"not a sha256 digest: {sha256!r}")


class Sha256Files:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        check_digest(sha256)
        return self.root / sha256[:2] / sha256

    def read(self, sha256: str) -> bytes | None:
        """The bytes named ``sha256``, verified; None when there is no such file."""
        path = self.path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ArtifactError(f"artifact {sha256} cannot be read: {exc.strerror}") from exc
        if sha256_hex(data) != sha256:
            raise ArtifactError(f"artifact {sha256} is corrupted: its bytes no longer match their sha256")
        return data

    def write(self, data: bytes, sha256: str | None = None) -> str:
        """Store ``data``; returns its sha256 (which must be ``sha256`` when given)."""
        actual = sha256_hex(data)
        if sha256 is not None and actual != sha256:
            raise ArtifactError(f"artifact bytes do not match sha256 {sha256}")
        path = self.path(actual)
        if path.exists():
            try:
                if self.read(actual) is not None:
                    return actual
            except ArtifactError:
                pass  # a damaged copy: write it again
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
        return actual

    def discard(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()
