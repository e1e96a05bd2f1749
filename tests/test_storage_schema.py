"""Optuna's tables made one process at a time (crypto_tune/storage/_schema.py), on a real
PostgreSQL: workers started together on a new database all open it."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from urllib.parse import quote

import pytest
import sqlalchemy

from crypto_tune.config._resolvers import database_url

OPEN = """
import sys, time
from crypto_tune.storage import open_storage
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))  # every process opens at the same instant
open_storage(sys.argv[1])
"""


@pytest.fixture
def new_schema(pg_url: str):
    """A URL whose tables go to a schema of its own: a new database, as far as Optuna sees."""
    name = f"fresh_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(database_url(pg_url))
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"CREATE SCHEMA {name}"))
    sep = "&" if "?" in pg_url else "?"
    yield f"{pg_url}{sep}options={quote(f'-csearch_path={name}')}"
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"DROP SCHEMA {name} CASCADE"))
    engine.dispose()


def test_workers_started_together_on_a_new_database_all_open_it(new_schema: str) -> None:
    """Before, all but one failed: UniqueViolation on pg_type (CREATE TABLE beside another)."""
    start = time.time() + 5  # after every interpreter has imported the package
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN, new_schema, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-2000:]
    engine = sqlalchemy.create_engine(database_url(new_schema))
    with engine.connect() as connection:
        tables = sqlalchemy.inspect(connection).get_table_names()
    engine.dispose()
    assert {"studies", "trials", "alembic_version"} <= set(tables)
