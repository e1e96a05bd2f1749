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


__all__ = ["ConfigError", "CryptoTuneError", "DataError", "InvalidTrialError", "StorageError"]
