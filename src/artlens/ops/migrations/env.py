"""Alembic's entry point: runs the migrations on the connection :func:`artlens.ops.store.migrate` hands in.

Imported outside a migration (pytest collects doctests from every module) it does nothing.
"""

from alembic import context


def run_migrations() -> None:
    connection = context.config.attributes["connection"]
    # Batch mode rewrites a SQLite table for ALTERs SQLite lacks; on PostgreSQL it is plain ALTER TABLE.
    context.configure(connection=connection, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if hasattr(context, "config"):  # inside alembic's EnvironmentContext
    run_migrations()
