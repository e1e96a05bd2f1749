"""Logging helpers: mask secrets (database passwords) in every record and message."""

from __future__ import annotations

import logging
import re

# scheme://user:password@host -> scheme://user:***@host
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s'\"]+):(?P<pw>[^@\s'\"]+)@")
# password=... in libpq keyword strings or query parameters
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>[^\s&;'\"]+)", re.IGNORECASE)
MASK = "***"


def mask_secrets(text: str) -> str:
    """Replace passwords in database URLs and ``password=`` pairs with ``***``.

    >>> mask_secrets("postgresql://bob:s3cret@127.0.0.1:5432/db")
    'postgresql://bob:***@127.0.0.1:5432/db'
    """
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:{MASK}@", text)
    return _KEYWORD_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}", text)


class MaskSecretsFilter(logging.Filter):
    """A logging filter that masks secrets in the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg = masked
            record.args = None
        return True


__all__ = ["MaskSecretsFilter", "mask_secrets"]
