"""The registry's storage boundary: database and file-system errors become StorageUnavailable.

A full disk, an I/O error or a lost database connection is not the caller's fault and not a bug:
the operator must hear it by name ("registry storage: no space left on device"), and the caller
may send the same request again once it is fixed (every change is one transaction, so nothing of
a refused request was kept). driftgate.grpc_edge maps StorageUnavailable to UNAVAILABLE.

Translated here, once, at the two places the registry touches storage: ``Database.begin()`` /
``read()`` (SQLAlchemy's OperationalError: by the DB-API's definition an error of the database's
operation, not of the statement) and the artifact store's writes (OSError).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.exc import OperationalError

from driftgate.errors import StorageUnavailable

__all__ = ["PREFIX", "os_error", "sql_error", "storage_boundary"]

PREFIX = "registry storage: "
NO_SPACE = "no space left on device"

# SQLite result codes that mean the disk, not the statement (sqlite3 exposes them since 3.11).
_SQLITE_FULL = 13
_SQLITE_IOERR = 10
_SQLITE_CANTOPEN = 14
_SQLITE_READONLY = 8


def _disk_full(folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024


def sql_error(exc: OperationalError, folder: Path | None = None) -> StorageUnavailable:
    """StorageUnavailable for a database error; ``folder``: where a SQLite database lives (a
    SQLite disk I/O error on a full disk is reported as the full disk it is)."""
    orig = exc.orig
    reason = " ".join(str(orig if orig is not None else exc).split()) or type(exc).__name__
    code = getattr(orig, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary == _SQLITE_FULL or (primary == _SQLITE_IOERR and _disk_full(folder)):
        return StorageUnavailable(f"{PREFIX}{NO_SPACE} ({reason})")
    return StorageUnavailable(f"{PREFIX}{reason}")


def os_error(exc: OSError, what: str) -> StorageUnavailable:
    """StorageUnavailable for a file-system error while writing ``what``."""
    if exc.errno == errno.ENOSPC:
        return StorageUnavailable(f"{PREFIX}{NO_SPACE} ({what})")
    reason = (exc.strerror or str(exc)).lower()
    return StorageUnavailable(f"{PREFIX}{reason} ({what})")


@contextmanager
def storage_boundary(folder: Path | None = None) -> Iterator[None]:
    """Translate the database's operational errors raised in the block (file-system errors of
    the artifact store are translated where it writes: ``os_error``)."""
    try:
        yield
    except OperationalError as exc:
        raise sql_error(exc, folder) from exc
