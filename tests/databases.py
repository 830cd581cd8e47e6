"""The operations database under test: the same tests run on a SQLite file and on PostgreSQL.

PostgreSQL is reached at ``ARTLENS_TEST_POSTGRES_URL`` (``.ci/run`` starts a throwaway server with
``.ci/postgres.sh`` and sets it); each test gets a database of its own, dropped afterwards. Without a
reachable server the PostgreSQL variant is skipped, except on CI (``CI=true``), where it fails: CI
must test the real thing.
"""

from __future__ import annotations

import os
import uuid

import pytest

POSTGRES_ENV = "ARTLENS_TEST_POSTGRES_URL"


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """A fresh, empty operations database: a SQLite path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        yield str(tmp_path / "ops.db")
        return
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        _unavailable(f"{POSTGRES_ENV} is not set: start a server with `.ci/postgres.sh` and export its URL")
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        admin = psycopg.connect(plain, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as err:
        _unavailable(f"PostgreSQL at {POSTGRES_ENV} is not reachable: {str(err).strip().splitlines()[0]}")
    name = f"artlens_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield plain.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
