"""Alembic migrations of the operations database; :func:`artlens.ops.store.migrate` runs them at open."""
