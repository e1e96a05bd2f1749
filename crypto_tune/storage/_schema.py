"""Optuna's tables made by one process at a time.

Each process opening an ``RDBStorage`` creates Optuna's tables if they are missing. On a new
PostgreSQL database, workers started together each do so, and all but one fail
(``UniqueViolation`` on ``pg_type``: ``CREATE TABLE`` is not safe beside another). A
PostgreSQL advisory lock, held on its own connection while the storage opens, puts them in line;
the first makes the tables, the others find them. SQLite serialises its writers itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from crypto_tune.storage._url import StorageURL

# The advisory lock's key: any fixed 64-bit number the project's databases use for nothing else.
LOCK_KEY = 0x63727970746F5455  # "crypToTU"


@contextmanager
def tables_made_one_at_a_time(url: StorageURL) -> Iterator[None]:
    """Hold PostgreSQL's advisory lock :data:`LOCK_KEY` around the ``with`` block (another
    database: nothing to hold)."""
    if url.scheme != "postgresql":
        yield
        return
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(url.url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(
                    sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY}
                )
    finally:
        engine.dispose()


__all__ = ["LOCK_KEY", "tables_made_one_at_a_time"]
