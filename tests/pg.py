"""A real PostgreSQL server for the tests: Debian's ``postgresql`` binaries, initdb and pg_ctl in a
temporary directory, started once per test session, listening on 127.0.0.1 on a free port.

PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` user the Debian
package creates. Every test gets a database of its own (``PostgresServer.new_database``). Where no
server can be started the tests that need one skip and say why; in CI (CI=true) they fail
(tests/requirements.py). .ci/run installs the package.

Fixtures: ``postgres`` (the server), ``database_url`` (parametrized: "" for SQLite under the test's
home, else a fresh PostgreSQL database's URL), ``pg_url`` (a fresh PostgreSQL database only).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.requirements import require

__all__ = ["PostgresServer", "database_url", "pg_url", "postgres"]


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    return Path(which).resolve().parent if which else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    root: Path
    port: int
    bin_dir: Path
    as_user: list[str]
    _names: Iterator[int] = field(default_factory=itertools.count)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.as_user, str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), *args],
                              capture_output=True, text=True, timeout=60)


def start_postgres() -> tuple[PostgresServer | None, str]:
    """(a running server, "") or (None, why it cannot start)."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        return None, "no PostgreSQL server binaries (apt-get install postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None, "psycopg is not installed"
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="driftgate-pg-"))
    if os.geteuid() == 0:  # postgres refuses root: run it as the package's user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            return None, "running as root and there is no 'postgres' user to run the server as"
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    init = subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "postgres",
                           "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"],
                          capture_output=True, text=True, timeout=120)
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        return None, f"initdb failed: {init.stderr.strip()[-400:]}"
    port = _free_port()
    server = PostgresServer(root, port, bin_dir, as_user)
    options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
               "-c full_page_writes=off -c max_connections=200")
    started = server.pg_ctl("start", "-w", "-t", "60", "-l", str(root / "server.log"), "-o", options)
    if started.returncode != 0:
        log = (root / "server.log").read_text(errors="replace")[-600:] if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        return None, f"pg_ctl start failed: {started.stderr.strip()[-300:]} {log}"
    return server, ""


def server_for_bench(url: str) -> PostgresServer | None:
    """A benchmark's --pg-url: None when one was given (the benchmark uses it), else a throwaway
    server it stops when done; SystemExit saying why when none can start."""
    if url:
        return None
    server, why = start_postgres()
    if server is None:
        raise SystemExit(f"no PostgreSQL: {why}")
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | str]:
    server, why = start_postgres()
    try:
        yield server if server is not None else why
    finally:
        if server is not None:
            server.pg_ctl("stop", "-m", "immediate")
            with contextlib.suppress(OSError):
                shutil.rmtree(server.root)


@pytest.fixture
def postgres(postgres_server: PostgresServer | str) -> PostgresServer:
    """The session's PostgreSQL server (the test skips, or fails in CI, when none can start)."""
    require(isinstance(postgres_server, PostgresServer), f"no PostgreSQL server: {postgres_server}")
    assert isinstance(postgres_server, PostgresServer)
    return postgres_server


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """A fresh PostgreSQL database of this test."""
    return postgres.new_database()


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str:
    """"" (SQLite under the test's home), or with the parameter "postgresql" (tests marked ``databases``,
    tests/registry/conftest.py) a fresh PostgreSQL database's URL."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return ""
    return str(request.getfixturevalue("pg_url"))
