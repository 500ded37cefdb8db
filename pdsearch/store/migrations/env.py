"""Alembic's entry point: runs the migrations on the connection that
``pdsearch.store.migrations.upgrade`` hands over, inside the transaction it already began (every
step in one transaction: all or nothing, on both engines)."""

from __future__ import annotations

from alembic import context

context.configure(connection=context.config.attributes["connection"])
with context.begin_transaction():
    context.run_migrations()
