"""The study storage URL, parsed once into a value: scheme, driver, the form SQLAlchemy or the
gRPC client takes, and a masked form for every log, report and MLflow record.

* ``postgres://`` and ``postgresql://`` are pinned to the psycopg2 driver
  (``postgresql+psycopg2://``; SQLAlchemy 2.1 would pick psycopg 3 for a plain URL); an explicit
  ``+driver`` is kept;
* ``grpc://host:port`` names an Optuna gRPC storage proxy (``python -m crypto_tune.proxy``) in
  front of the database;
* ``sqlite:///file.db`` and any other SQLAlchemy URL are kept as given.

A :class:`StorageURL` prints masked (``str``, ``repr``, f-strings), so a password given in
``storage.url`` can reach a log line only by reading :attr:`StorageURL.url` on purpose.

>>> url = StorageURL.parse("postgres://bob:s3cret@db:5432/crypto_tune")
>>> url.scheme, url.driver
('postgresql', 'psycopg2')
>>> url.url
'postgresql+psycopg2://bob:s3cret@db:5432/crypto_tune'
>>> print(url)
postgresql+psycopg2://bob:***@db:5432/crypto_tune
>>> StorageURL.parse("grpc://db-proxy:13000").address
('db-proxy', 13000)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crypto_tune.exceptions import ConfigError
from crypto_tune.logs import mask_secrets

KEY = "storage.url"  # the config key every message about the URL names
GRPC = "grpc"
SQLITE = "sqlite"
_POSTGRES = ("postgresql", "postgres")
_PINNED_DRIVERS = {"postgresql": "psycopg2"}


@dataclass(frozen=True, repr=False)
class StorageURL:
    """A study storage URL, normalised and split once (:meth:`parse`)."""

    url: str  # as the storage takes it (password included: never log it, log ``str(self)``)
    scheme: str  # "sqlite", "postgresql", "mysql", "grpc", ...
    driver: str | None = None  # "psycopg2", "pymysql", ... or None (the dialect's default)

    @classmethod
    def parse(cls, raw: str | StorageURL) -> StorageURL:
        """Normalise ``raw`` (see the module); ConfigError naming ``storage.url`` if it is not a
        URL, or a ``grpc://`` URL without ``host:port``.

        >>> StorageURL.parse("sqlite:///outputs/optuna.db").sqlite_path
        PosixPath('outputs/optuna.db')
        >>> StorageURL.parse("optuna.db")
        Traceback (most recent call last):
        ...
        crypto_tune.exceptions.ConfigError: storage.url must be a database URL like \
sqlite:///file.db, postgresql://user@host/db or grpc://host:port, got 'optuna.db'
        """
        if isinstance(raw, StorageURL):
            return raw
        text = str(raw).strip()
        head, sep, rest = text.partition("://")
        if not sep or not head:
            raise ConfigError(
                f"{KEY} must be a database URL like sqlite:///file.db, postgresql://user@host/db "
                f"or grpc://host:port, got {mask_secrets(repr(text))}"
            )
        scheme, _, driver = head.lower().partition("+")
        if scheme in _POSTGRES:
            scheme = "postgresql"
        chosen = driver or _PINNED_DRIVERS.get(scheme)
        head = f"{scheme}+{chosen}" if chosen else scheme
        value = cls(f"{head}://{rest}", scheme, chosen)
        if scheme == GRPC:
            value.address  # noqa: B018  # checked now, not when the sweep starts
        return value

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"StorageURL({self.masked!r})"

    @property
    def masked(self) -> str:
        """The URL with its password replaced by ``***`` (for logs, reports and MLflow)."""
        return mask_secrets(self.url)

    @property
    def is_grpc(self) -> bool:
        """True for ``grpc://host:port`` (an Optuna gRPC storage proxy)."""
        return self.scheme == GRPC

    @property
    def is_sqlite(self) -> bool:
        return self.scheme == SQLITE

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a ``sqlite:///file`` URL (None for memory or another scheme)."""
        if not self.is_sqlite:
            return None
        path = self.url.partition(":///")[2].partition("?")[0]
        return Path(path) if path and path != ":memory:" else None

    @property
    def address(self) -> tuple[str, int]:
        """``grpc://host:port`` -> ``(host, port)``; ConfigError naming ``storage.url`` else."""
        rest = self.url.partition("://")[2].rstrip("/")
        host, _, port = rest.rpartition(":")
        if not self.is_grpc or not host or "/" in rest or not port.isdigit():
            raise ConfigError(
                f"{KEY} must look like grpc://host:port for a proxy, got {self.masked!r}"
            )
        if not 0 < int(port) < 65536:
            raise ConfigError(f"{KEY}: the port must be in 1..65535, got {self.masked!r}")
        return host, int(port)


def database_url(url: str) -> str:
    """The normalised URL as a string (the ``ct.db_url`` resolver of ``conf/``); a text that is
    not a URL is returned as given (the settings' check names it).

    >>> database_url("postgresql://u@h/db")
    'postgresql+psycopg2://u@h/db'
    >>> database_url("grpc://127.0.0.1:13000")
    'grpc://127.0.0.1:13000'
    """
    try:
        return StorageURL.parse(url).url
    except ConfigError:
        return str(url)


def study_name(name: str, phase: str) -> str:
    """The Optuna study of a phase: ``{study.name}.{phase}``, the one home of the formula (the
    sweeper's ``study_name`` reads it through the ``ct.study_name`` resolver).

    ``study.name`` (``{experiment}.{symbol}.{timeframe}.{regime}.{split}.h{horizon}`` unless the
    user names it) is the study's identity; every phase finds another phase's study through it.

    >>> study_name("default.ETHUSDT.4h.all.static.h1", "model")
    'default.ETHUSDT.4h.all.static.h1.model'
    """
    return f"{name}.{phase}"


__all__ = ["KEY", "StorageURL", "database_url", "study_name"]
