"""Alembic's environment for the registry: it runs on the connection the caller passes in
``config.attributes["connection"]`` (driftgate.registry.schema), inside the caller's transaction."""

from alembic import context

from driftgate.registry.schema import declared_metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=declared_metadata(), render_as_batch=True,
                  transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
