"""Alembic's entry point for OASIS's state database: always run through
`oasis.schema.upgrade` (or `oasis db upgrade`), which hands over an open connection."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
