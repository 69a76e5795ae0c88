"""The registry's schema version: which Alembic revision a database is at, and bringing it to the code's.

The tables are declared once, on ``driftgate.registry.store.db.metadata``, by the parts that own them
(driftgate.registry.tables gathers them); the database gets them only through the migrations in
``driftgate/registry/store/migrations/versions/`` (docs/migrations.md says how to add one). A test holds the
two to the same schema, on SQLite and on PostgreSQL.

At start (``Database(url)``) the registry reads the database's revision:

    no revision, no tables     an empty database: migrated to the newest revision
    an older revision          migrated when ``upgrade_older`` (the setting ``registry.migrate_on_start``,
    (or tables, no revision:   on by default); otherwise refused, asking for ``driftgate registry migrate``
     made before migrations)
    the newest revision        used as it is
    a revision unknown here    refused: a newer driftgate migrated it (SchemaError)

A migration runs in one transaction; on PostgreSQL it first takes a transaction-level advisory lock, so
registries that start together migrate one at a time (the second finds the work done). SQLite's write
lock (BEGIN IMMEDIATE) does the same there.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, inspect, text

from driftgate.errors import SchemaError

__all__ = ["MIGRATIONS", "SchemaState", "draft", "head_revision", "schema_state", "upgrade"]

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x64726966  # "drif": the advisory lock that serialises migrations on PostgreSQL


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The newest revision this code knows."""
    head = _scripts().get_current_head()
    assert head is not None, "the registry's migrations have no head"
    return head


class SchemaState:
    """What a database holds: its revision (None: none recorded) and whether it has any registry table."""

    def __init__(self, revision: str | None, has_tables: bool) -> None:
        self.revision = revision
        self.has_tables = has_tables

    @property
    def empty(self) -> bool:
        return self.revision is None and not self.has_tables

    @property
    def current(self) -> bool:
        return self.revision == head_revision()

    @property
    def known(self) -> bool:
        """Whether this code knows the revision (an unknown one was written by newer code)."""
        if self.revision is None:
            return True
        return self.revision in {s.revision for s in _scripts().walk_revisions()}

    def describe(self) -> str:
        if self.empty:
            return "empty"
        return f"revision {self.revision}" if self.revision else "tables from before migrations (no revision)"


def schema_state(conn: Connection) -> SchemaState:
    revision = MigrationContext.configure(conn).get_current_revision()
    has_tables = revision is not None or inspect(conn).has_table("models")
    return SchemaState(revision, has_tables)


def check(state: SchemaState, *, upgrade_older: bool) -> bool:
    """Whether the database needs migrating; SchemaError when it must not be used by this code."""
    if not state.known:
        raise SchemaError(
            f"the database's schema is at revision {state.revision}, newer than this driftgate knows "
            f"(its newest is {head_revision()}): a newer driftgate migrated it. Run that version, or a "
            "database of its own for this one"
        )
    if state.current:
        return False
    if state.empty or upgrade_older:
        return True
    raise SchemaError(
        f"the database's schema is older than this driftgate's ({state.describe()}, newest {head_revision()}): "
        "run `driftgate registry migrate` (or set DRIFTGATE_REGISTRY__MIGRATE_ON_START=true)"
    )


def upgrade(conn: Connection) -> tuple[SchemaState, str]:
    """Migrate to the newest revision inside the caller's write transaction; returns (state before, head).

    Re-reads the state under the lock, so that of two registries migrating at once the second finds
    nothing to do. Raises SchemaError when the database is newer than this code.
    """
    from alembic import command

    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    before = schema_state(conn)
    check(before, upgrade_older=True)
    if not before.current:
        command.upgrade(_config(conn), "head")
    return before, head_revision()


def draft(declared: MetaData, message: str = "") -> str:
    """The Alembic operations that would bring a database at the newest revision to the ``declared``
    tables (a draft for a new migration: docs/migrations.md, driftgate.registry.tables.draft); printed
    and returned."""
    import tempfile

    from alembic.autogenerate import produce_migrations, render_python_code
    from sqlalchemy import create_engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/draft.db")
        try:
            with engine.begin() as conn:
                upgrade(conn)
                context = MigrationContext.configure(conn, opts={"render_as_batch": True})
                ops = produce_migrations(context, declared).upgrade_ops
                assert ops is not None
                code = render_python_code(ops)
        finally:
            engine.dispose()
    text_out = f"# {message}\n{code}" if message else code
    print(text_out)
    return text_out
