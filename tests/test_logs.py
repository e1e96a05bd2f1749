"""crypto_tune.logs: no database password in any log line."""

from __future__ import annotations

import logging

import pytest

from crypto_tune.logs import MaskSecretsFilter, mask_secrets


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://bob:s3cret@h:5432/db", "postgresql://bob:***@h:5432/db"),
        ("postgresql+psycopg2://bob:p%40ss@h/db", "postgresql+psycopg2://bob:***@h/db"),
        ("storage 'postgres://u:x@h/d' down", "storage 'postgres://u:***@h/d' down"),
        ("host=h password=hunter2 dbname=d", "host=h password=*** dbname=d"),
        ("?user=u&Password=abc&x=1", "?user=u&Password=***&x=1"),
        ("sqlite:////tmp/optuna.db", "sqlite:////tmp/optuna.db"),
        ("postgresql://bob@h/db", "postgresql://bob@h/db"),
        ("grpc://127.0.0.1:13000", "grpc://127.0.0.1:13000"),
    ],
)
def test_mask_secrets(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked


def test_filter_masks_the_formatted_message_with_its_arguments() -> None:
    args = ("pg://u:pw@h/d",)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "storage %s", args, None)
    assert MaskSecretsFilter().filter(record) is True
    assert record.getMessage() == "storage pg://u:***@h/d" and "pw" not in record.getMessage()
