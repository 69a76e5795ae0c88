"""The registry's database: the engine and the core tables (db), the schema's Alembic revisions
(schema, migrations/) and the boundary that names storage failures (storage)."""
