"""The registry's database: SQLAlchemy Core tables and the engine that holds them.

SQLite under ``<home>/registry.db`` by default (WAL journal, foreign keys on, a busy timeout), or
any SQLAlchemy URL (PostgreSQL in production: a plain ``postgresql://user:password@host:port/db``
URL uses the psycopg 3 driver, a dependency). The core tables are declared here, the others by the
parts that own them, all on one ``metadata`` (driftgate.registry.tables gathers them); the database
gets them from the Alembic migrations, run when a Database opens (driftgate.registry.store.schema
says when). Every change of state is one transaction
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
    make_url,
    select,
    text,
    update,
)

from driftgate.registry.store import schema
from driftgate.registry.store.storage import storage_boundary

__all__ = [
    "Database",
    "config_generation",
    "engine_url",
    "events",
    "metadata",
    "models",
    "shadows",
    "traffic_weights",
    "version_reloads",
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

# Reloads an operator asked for (ReloadVersion), per version: the count travels in the config, and a
# gateway retries a version that FAILED there when it changes.
version_reloads = Table(
    "version_reloads",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("reloads", Integer, nullable=False),
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
_CATALOGUE_LOCK_KEY = 0x63617461  # "cata": serialises the catalogue's changes across registry replicas

# Plain driver names mapped to the driver driftgate ships (psycopg 3); an explicit one (postgresql+...) stays.
_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def engine_url(url: str) -> str:
    """``url`` with the driver driftgate installs: ``postgresql://`` (and ``postgres://``) mean psycopg 3."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False) if driver else url


class Database:
    """The engine plus the two ways in: ``begin()`` for a change, ``read()`` for a query.

    Opening one checks the schema (driftgate.registry.store.schema): an empty database is migrated, an
    older one too when ``upgrade_older`` (else SchemaError asks for ``driftgate registry migrate``),
    and one newer than this code is refused with SchemaError.
    """

    def __init__(self, url: str, *, upgrade_older: bool = True) -> None:
        self.engine: Engine = _engine(url)
        # where a SQLite file lives: its disk I/O errors on a full disk are named as such
        database = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        self._folder = Path(database).parent if database and database != ":memory:" else None
        self.url = self.engine.url.render_as_string(hide_password=True)  # for logs: never the password
        self.migrated_from: str | None = None  # what the schema was, when opening migrated it
        try:
            with self.read() as conn:
                needed = schema.check(schema.schema_state(conn), upgrade_older=upgrade_older)
            if needed:
                before, _head = self.migrate()
                self.migrated_from = before if before != _head else None
        except BaseException:
            self.engine.dispose()
            raise

    @classmethod
    def for_home(cls, home: Path, url: str = "", *, upgrade_older: bool = True) -> Database:
        """The database named by ``url``, else SQLite at ``<home>/registry.db``."""
        if url:
            return cls(url, upgrade_older=upgrade_older)
        home.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{home / 'registry.db'}", upgrade_older=upgrade_older)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def serialize_writers(self, conn: Connection) -> None:
        """Inside a write transaction: wait until no other registry replica is in one that also called
        this (a PostgreSQL transaction-level advisory lock; SQLite's BEGIN IMMEDIATE already does it).
        The catalogue's read-then-write changes (the next version number, the traffic split) need it
        once several replicas share the database; the in-process lock only covers one replica."""
        if not self.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CATALOGUE_LOCK_KEY})

    def migrate(self) -> tuple[str, str]:
        """Bring the schema to the newest revision this code knows; returns (what it was, what it is)."""
        with self.begin() as conn:
            before, head = schema.upgrade(conn)
        return (head if before.current else before.describe()), head

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction that changes state: commits when the block ends, rolls back if it raises.
        A storage failure (full disk, I/O error, lost connection) raises StorageUnavailable."""
        with storage_boundary(self._folder), self.engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with storage_boundary(self._folder), self.engine.connect() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _engine(url: str) -> Engine:
    url = engine_url(url)
    is_sqlite = url.startswith("sqlite")
    kwargs: dict[str, Any] = {}
    if is_sqlite:
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True  # a server restarted or a connection cut by a balancer: reconnect
    if url.startswith("postgresql+psycopg"):
        # TCP keepalives: a database host that vanishes (no FIN) is noticed in ~25 s, not hours; the
        # leader's lock connection (leader.py) depends on it
        kwargs["connect_args"] = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
                                  "keepalives_count": 3}
    engine = create_engine(url, **kwargs)
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


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
