"""Reach a study database once before any work; refuse a SQLite file in a folder that is not
there (a typo in ``storage.url`` must not create folders anywhere)."""

from __future__ import annotations

from pathlib import Path

from crypto_tune._made import make_folders
from crypto_tune.exceptions import ConfigError, StorageError
from crypto_tune.logs import mask_secrets
from crypto_tune.storage._url import KEY, StorageURL


def check_sqlite_folder(url: StorageURL, *, outputs: Path | str | None = None) -> None:
    """The folder of a ``sqlite:///`` file must exist, except under ``outputs`` (the project's
    own folder, ``paths.outputs``, which is created); ConfigError naming ``storage.url`` else.

    >>> check_sqlite_folder(StorageURL.parse("sqlite:////nonexistent/dir/x.db"))
    Traceback (most recent call last):
    ...
    crypto_tune.exceptions.ConfigError: storage.url: the folder /nonexistent/dir does not exist \
(create it first, or keep storage.url under paths.outputs)
    """
    path = url.sqlite_path
    if path is None:
        return
    folder = path.absolute().parent
    if folder.is_dir():
        return
    if outputs is not None and folder.is_relative_to(Path(outputs).absolute()):
        make_folders(folder)  # recorded: a refused run removes it again while empty
        return
    if folder.exists():
        raise ConfigError(f"{KEY}: {folder} is not a folder")
    raise ConfigError(
        f"{KEY}: the folder {folder} does not exist (create it first, or keep {KEY} under "
        "paths.outputs)"
    )


def check_database(url: StorageURL, *, timeout_s: float = 5) -> None:
    """Log in to a SQLAlchemy database once (nothing is written); StorageError naming
    ``storage.url`` (password masked) if that fails."""
    import sqlalchemy

    connect_args = {"connect_timeout": int(timeout_s)} if url.scheme == "postgresql" else {}
    try:
        engine = sqlalchemy.create_engine(url.url, connect_args=connect_args)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # any driver error: report one masked line
        why = " ".join(str(getattr(exc, "orig", exc) or exc).split())
        raise StorageError(f"{KEY} {url} is unreachable: {mask_secrets(why)[:300]}") from None


__all__ = ["check_database", "check_sqlite_folder"]
