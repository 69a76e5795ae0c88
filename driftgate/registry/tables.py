"""Every table the registry declares, on the one ``metadata`` of driftgate.registry.store.db.

Each part declares the tables it owns next to the code that uses them (store/db.py: models,
versions, traffic, events; catalogue/artifact_db.py; observation/scored_tables.py,
held_labels.py and accuracy.py; loop/rollout_db.py; access/tokens.py). The database gets them only from the migrations
(driftgate.registry.store.schema); this module gathers them for what compares the two: the test
that holds migrations and code to one schema, and the draft of a new migration (docs/migrations.md).
"""

from __future__ import annotations

from sqlalchemy import MetaData

from driftgate.registry.access import tokens
from driftgate.registry.catalogue import artifact_db
from driftgate.registry.loop import rollout_db
from driftgate.registry.observation import accuracy, held_labels, scored_tables
from driftgate.registry.store import db, schema

__all__ = ["declared_metadata", "draft"]

# importing a part declares its tables on db.metadata; named here so that the import is the point
TABLE_OWNERS = (db, artifact_db, accuracy, held_labels, scored_tables, rollout_db, tokens)


def declared_metadata() -> MetaData:
    """The one MetaData with every table the code declares."""
    return db.metadata


def draft(message: str = "") -> str:
    """The Alembic operations that would bring a database at the newest revision to the declared
    tables: a draft for a new migration, printed and returned."""
    return schema.draft(declared_metadata(), message)
