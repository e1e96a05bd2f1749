"""The report's robustness section (crypto_tune/report/_robustness.py): the strategy table shows
the leverage the backtest applied, capped by the market as on the terminal table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crypto_tune.costs import applied_leverage
from crypto_tune.phases._best_output import _print_table
from crypto_tune.report._robustness import robustness_section

SPOT = {"market": "spot", "fee": 0.001, "max_leverage": 1.0}  # no asset.borrow_rate: no loan
MARGIN = {"market": "spot", "fee": 0.001, "max_leverage": None}  # a borrow rate: no cap


def _best(params: dict, costs: dict) -> dict:
    metrics = {"sharpe": 1.0, "n_trades": 3}
    return {
        "asset": {"name": "BTC/USDT", "timeframe": "4h"},
        "periods": {"tune": ["2021", "2023"], "holdout": ["2024", "2024"]},
        "strategy": {"params": {"name": "zscore", **params}, "overrides": {}, "tuned": {}},
        "metrics": {
            "in_sample": metrics,
            "out_of_sample": metrics,
            "model": {"ic": 0.02, "rank_ic": 0.02, "holdout_ic": 0.01},
        },
        "robustness": {"psr": 0.9, "dsr": 0.5, "pbo": 0.2, "n_trials": 10, "verdict": "weak"},
        "costs": costs,
    }


def _cell(html: str, key: str) -> str:
    match = re.search(rf'<tr data-key="{key}"><th scope="row">[^<]*</th><td>([^<]*)<', html)
    assert match is not None, key
    return match.group(1)


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"sizing": "vol_target", "target_vol": 0.3, "max_leverage": 2.0}, "max_leverage"),
        ({"sizing": "fixed", "leverage": 2.0}, "leverage"),
    ],
)
def test_strategy_table_shows_the_leverage_the_market_allowed(
    params: dict, key: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    best = _best(params, SPOT)
    shown = "1 (the market&#x27;s limit: no borrowing)"
    assert _cell(robustness_section(best), key) == shown
    # the terminal says the same, in the same words
    _print_table(best, tmp_path / "workflow.best.json")
    assert "1 (the market's limit: no borrowing)" in capsys.readouterr().out


def test_strategy_table_keeps_the_leverage_where_the_market_lends() -> None:
    best = _best({"sizing": "vol_target", "target_vol": 0.3, "max_leverage": 2.0}, MARGIN)
    assert _cell(robustness_section(best), "max_leverage") == "2"
    lower = _best({"sizing": "fixed", "leverage": 0.5}, SPOT)  # under the cap: as set
    assert _cell(robustness_section(lower), "leverage") == "0.5"
    unknown = _best({"sizing": "fixed", "leverage": 2.0}, {})  # an older file: no market cap
    assert _cell(robustness_section(unknown), "leverage") == "2"


def test_applied_leverage_is_the_cap_with_its_reason() -> None:
    assert applied_leverage(2.0, SPOT) == "1 (the market's limit: no borrowing)"
    assert applied_leverage(2.0, MARGIN) == 2.0
    assert applied_leverage(1.0, SPOT) == 1.0
    assert applied_leverage(None, SPOT) is None
    assert applied_leverage(2.0, None) == 2.0


def test_strategy_table_names_the_rule_and_what_its_levels_are_in() -> None:
    best = _best({"sizing": "fixed", "leverage": 1.0}, MARGIN)
    best["strategy"]["params"]["name"] = "quantile"
    best["signal"] = {"kind": "trailing rank of the predictions"}
    assert _cell(robustness_section(best), "name") == "quantile (trailing rank of the predictions)"
