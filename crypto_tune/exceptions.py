"""One root exception; the CLI alone turns it into one line and exit code 2."""

from __future__ import annotations


class CryptoTuneError(Exception):
    """Root of every error crypto-tune raises on purpose (bad input, not a bug)."""


class ConfigError(CryptoTuneError):
    """A configuration value is missing, of the wrong type or out of range."""


class DataError(CryptoTuneError):
    """A candle file or frame is malformed; the message names the file and the row or column."""


class StorageError(CryptoTuneError):
    """A study or tracking store cannot be reached or read (secrets masked)."""


class InvalidTrialError(CryptoTuneError):
    """A trial's parameters cannot be evaluated (reported to Optuna as a failed trial)."""


class SweepAborted(BaseException):  # a signal like KeyboardInterrupt, not an error
    """Carries a CryptoTuneError raised by the sweeper outside any trial (the study storage
    unreachable for longer than ``CRYPTO_TUNE_DB_WAIT``) through Hydra, which reports every
    ``Exception`` as a traceback and exit code 1, to the CLI's one line and exit code 2.

    A BaseException on purpose, like KeyboardInterrupt: no ``except Exception`` on the way
    swallows it (pytest's ``Exit`` does the same)."""

    def __init__(self, error: CryptoTuneError) -> None:
        super().__init__(str(error))
        self.error = error


__all__ = [
    "ConfigError",
    "CryptoTuneError",
    "DataError",
    "InvalidTrialError",
    "StorageError",
    "SweepAborted",
]
