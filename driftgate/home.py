"""The state directory (``--home``) is private to the user who runs driftgate.

It holds the database (models, audit log, scored rows), artifacts, tokens and addresses, so the
directory is 0700 and every file in it 0600. Three helpers, used by every process that writes
there:

- :func:`prepare_home` creates the directory 0700 (and tightens an existing one);
- :func:`private_umask` makes every file the process creates afterwards 0600 and every directory
  0700 (SQLite's database and journal files, artifacts, caches: files that libraries create);
- :func:`write_private` writes one file atomically with mode 0600 (tokens, addresses).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from driftgate.atomic_write import write_atomic

__all__ = [
    "DEFAULT_HOME",
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "prepare_home",
    "private_umask",
    "read_private",
    "restrict",
    "write_private",
]

DEFAULT_HOME = Path(".driftgate")
"""--home when none is given; ``args.home is DEFAULT_HOME`` tells a command that it was not given
(``driftgate demo`` then uses a temporary folder)."""

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
_PRIVATE_UMASK = 0o077


def private_umask() -> int:
    """Make files this process creates from now on 0600 (directories 0700); returns the old umask.

    Called once by the composition roots of the long-running processes (``serve``, ``registry``,
    ``gateway``): the process's own files are then private whatever library creates them."""
    return os.umask(_PRIVATE_UMASK)


def prepare_home(home: Path) -> Path:
    """Create ``home`` with mode 0700, or tighten an existing one that the current user owns."""
    home.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    st = home.stat()
    if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
        home.chmod(PRIVATE_DIR_MODE)
    return home


def restrict(path: Path) -> None:
    """Make an existing file 0600 (a no-op when it does not exist)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_IMODE(path.stat().st_mode) != PRIVATE_FILE_MODE:
            path.chmod(PRIVATE_FILE_MODE)


def write_private(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600 (driftgate/atomic_write.py), creating
    its directory 0700.

    Readers see the old content or the new one, never a part; the file is never readable by
    others, not even for a moment (the temporary file is created 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    write_atomic(path, data)


def read_private(path: Path) -> str:
    """The stripped text of a private file (a token); empty when it does not exist or cannot be read."""
    try:
        return path.read_text().strip()
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        return ""
