"""Alembic's environment for the registry: it runs on the connection the caller passes in
``config.attributes["connection"]`` (driftgate.registry.store.schema), inside the caller's transaction.
Running revisions needs no tables of the code; a comparison (autogenerate) passes them as
``config.attributes["target_metadata"]`` (driftgate.registry.tables)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=context.config.attributes.get("target_metadata"),
                  render_as_batch=True, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
