"""The registry's schema migrations (Alembic), one file a revision under versions/.

Run by driftgate.registry.store.schema (at start and by ``driftgate registry migrate``); no alembic.ini
is needed. How to add one: docs/migrations.md.
"""
