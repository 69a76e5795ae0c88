"""Replacing a file's content so that a crash leaves the old content or the new, never a mix.

:func:`write_atomic` is the one way driftgate writes a file another process (or a restart) reads:
tokens and addresses under the home, artifacts in the registry's store and the gateway's cache, the
gateway's last applied config. The steps and why each is there:

1. write to a temporary file in the same directory (``os.replace`` is atomic only within one file
   system), created 0600 by ``mkstemp`` so a secret is never readable by others, not even briefly;
2. ``fsync`` it, so the bytes are on disk before the name points at them (without it a crash after
   the rename can leave an empty or partial file under the final name);
3. ``os.replace`` it over the final name;
4. ``fsync`` the directory, so the rename itself survives a crash.

Errors are the OSError the file system raised (the temporary file removed); callers translate them
into their own terms (StorageUnavailable in the registry, ArtifactUnavailable in the gateway).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["fsync_directory", "write_atomic"]


def fsync_directory(path: Path) -> None:
    """Make the entries of directory ``path`` (a rename into it) durable; a no-op where a directory
    cannot be opened for that (some platforms and file systems)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # file systems that cannot sync a directory (some network mounts) say so here
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace ``path``'s content with ``data`` (str: UTF-8), durably and all at once; the file is
    0600. The parent directory must exist."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
