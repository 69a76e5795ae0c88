"""The registry's database: SQLAlchemy Core tables and the engine that holds them.

SQLite under ``<home>/registry.db`` by default (WAL journal, foreign keys on, a busy timeout), or
any SQLAlchemy URL (PostgreSQL in production). Every change of state is one transaction
(``Database.begin()``); a change of *desired* state (what gateways must serve) also bumps the
single-row ``config_generation`` counter inside that same transaction, so a gateway that sees
generation N sees every change up to N and nothing half-done.

JSON columns hold small documents (settings, signatures, profiles, metrics, event details) as
text, which every backend stores the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    select,
    update,
)

__all__ = [
    "Database",
    "config_generation",
    "events",
    "metadata",
    "models",
    "shadows",
    "traffic_weights",
    "versions",
]

metadata = MetaData()

models = Table(
    "models",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("settings", Text, nullable=False),  # JSON: ModelSettings fields
    Column("traffic_mode", String(16), nullable=False, default="latest"),  # latest | weights
    Column("created_at", String(40), nullable=False),
)

versions = Table(
    "versions",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("state", String(16), nullable=False),  # active | retired | rolled_back | rejected
    Column("artifact_sha256", String(64), nullable=False),
    Column("artifact_size", Integer, nullable=False),
    Column("signature", Text, nullable=False),  # JSON
    Column("profile", Text, nullable=True),  # JSON (ReferenceProfile.to_dict()), NULL without reference data
    Column("score_output", String(200), nullable=False),
    Column("score_column", Integer, nullable=False),
    Column("source", String(200), nullable=False, default=""),
    Column("created_at", String(40), nullable=False),
    Column("parent", Integer, nullable=False, default=0),
    Column("metrics", Text, nullable=False, default="{}"),  # JSON
    Column("description", Text, nullable=False, default=""),
    ForeignKeyConstraint(["model"], ["models.name"]),
)

traffic_weights = Table(
    "traffic_weights",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("weight", Integer, nullable=False),
    ForeignKeyConstraint(["model", "version"], ["versions.model", "versions.version"]),
)

shadows = Table(
    "shadows",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("rate", Float, nullable=False),
    ForeignKeyConstraint(["model", "version"], ["versions.model", "versions.version"]),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),
    Column("model", String(200), nullable=False, default=""),
    Column("version", Integer, nullable=False, default=0),
    Column("kind", String(40), nullable=False),
    Column("actor", String(200), nullable=False, default=""),
    Column("message", Text, nullable=False, default=""),
    Column("details", Text, nullable=False, default="{}"),  # JSON
)

config_generation = Table(
    "config_generation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("generation", Integer, nullable=False),
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module so that SQLAlchemy's begin() is a real
    # BEGIN (the documented pysqlite recipe); then WAL, foreign keys, and wait on a busy database.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A change takes SQLite's write lock when it begins (IMMEDIATE), so it waits its turn under
    # busy_timeout. A deferred transaction that reads and then writes fails at once with "database
    # is locked" when another writer committed in between (WAL snapshots cannot be upgraded), and
    # the registry has several writers: operators, reports (drift, scored rows), the rollout loop.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


_WRITE = "driftgate_write"


class Database:
    """The engine plus the two ways in: ``begin()`` for a change, ``read()`` for a query."""

    def __init__(self, url: str) -> None:
        self.url = url
        is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False}
        self.engine: Engine = create_engine(url, **kwargs)
        if is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        from driftgate.registry import labels  # noqa: F401  (its tables sit on this metadata)

        metadata.create_all(self.engine)
        with self.begin() as conn:
            if conn.execute(select(config_generation.c.generation)).first() is None:
                conn.execute(config_generation.insert().values(id=1, generation=0))

    @classmethod
    def for_home(cls, home: Path, url: str = "") -> Database:
        """The database named by ``url``, else SQLite at ``<home>/registry.db``."""
        if url:
            return cls(url)
        home.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{home / 'registry.db'}")

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction that changes state: commits when the block ends, rolls back if it raises."""
        with self.engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def bump_generation(conn: Connection) -> int:
    """Add one to the config generation inside the caller's transaction; returns the new value."""
    conn.execute(
        update(config_generation)
        .where(config_generation.c.id == 1)
        .values(generation=config_generation.c.generation + 1)
    )
    return int(conn.execute(select(config_generation.c.generation)).scalar_one())


def current_generation(conn: Connection) -> int:
    return int(conn.execute(select(config_generation.c.generation)).scalar_one())
