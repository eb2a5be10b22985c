"""Alembic's environment: migrations run on a connection the service hands over.

`service.store.database.upgrade` runs them at start-up and `attache db upgrade` from the
command line, both through `run_migrations` below, so there is one way to migrate.
"""

from __future__ import annotations

from alembic import context

from service.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
