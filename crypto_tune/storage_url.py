"""The study storage URL: the one place it is normalised and read.

Every way into a study storage goes through :func:`database_url` (the ``ct.db_url`` resolver of
``conf/``, the typed settings, :func:`crypto_tune.study.open_storage`), so a URL means the same
thing to the sweeper, the phases and the tools that read the studies:

* ``postgres://`` and ``postgresql://`` are pinned to the psycopg2 driver
  (``postgresql+psycopg2://``; SQLAlchemy 2.1 would pick psycopg 3 for a plain URL);
* ``grpc://host:port`` names an Optuna gRPC storage proxy (``python -m crypto_tune.proxy``) in
  front of the database; :func:`grpc_address` reads it;
* anything else (``sqlite:///file.db``, an explicit ``+driver``) is left as given.

>>> database_url("postgres://u@h/db")
'postgresql+psycopg2://u@h/db'
>>> grpc_address("grpc://db-proxy:13000")
('db-proxy', 13000)
"""

from __future__ import annotations

from crypto_tune.exceptions import ConfigError

GRPC_SCHEME = "grpc://"
_POSTGRES = ("postgresql://", "postgres://")


def database_url(url: str) -> str:
    """Pin PostgreSQL URLs to the psycopg2 driver (SQLAlchemy 2.1 defaults to psycopg 3).

    >>> database_url("postgresql://u@h/db")
    'postgresql+psycopg2://u@h/db'
    >>> database_url("grpc://127.0.0.1:13000")
    'grpc://127.0.0.1:13000'
    """
    url = str(url)
    for prefix in _POSTGRES:
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url.removeprefix(prefix)
    return url


def is_grpc(url: str) -> bool:
    """True for ``grpc://host:port`` (an Optuna gRPC storage proxy)."""
    return str(url).startswith(GRPC_SCHEME)


def grpc_address(url: str) -> tuple[str, int]:
    """``grpc://host:port`` -> ``(host, port)``; ConfigError naming ``storage.url`` otherwise."""
    rest = str(url).removeprefix(GRPC_SCHEME).rstrip("/")
    host, _, port = rest.rpartition(":")
    if not is_grpc(url) or not host or "/" in rest or not port.isdigit():
        raise ConfigError(f"storage.url must look like grpc://host:port for a proxy, got {url!r}")
    if not 0 < int(port) < 65536:
        raise ConfigError(f"storage.url: the port must be in 1..65535, got {url!r}")
    return host, int(port)


__all__ = ["GRPC_SCHEME", "database_url", "grpc_address", "is_grpc"]
