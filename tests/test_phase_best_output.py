"""The best run's printed table: every cell fits its column, whatever the market did."""

from __future__ import annotations

import pytest

from crypto_tune.phases._best_output import _fmt


@pytest.mark.parametrize(
    ("value", "key", "text"),
    [
        (0.2564, "total_return", "25.64%"),
        (-0.9574, "total_return", "-95.74%"),
        (148185.264, "total_return", "1.48e+07%"),
        (9999.99, "total_return", "999999.00%"),
        (95779064.4274, "total_return", "9.58e+09%"),
        (-123456.0, "total_return", "-1.23e+07%"),
        (None, "sharpe", "—"),
        (1.6534, "sharpe", "1.653"),
        (425, "n_trades", "425"),
    ],
)
def test_cells_fit_the_fourteen_character_column(value: object, key: str, text: str) -> None:
    assert _fmt(value, key) == text
    assert len(text) < 14  # one space at least between the columns
