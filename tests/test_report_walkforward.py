"""The walk-forward page's window table (crypto_tune/report/_walkforward.py) and the terminal's:
a dash in the in-sample Sharpe is explained, as the one in the OOS IC is."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from crypto_tune.phases._walkforward_output import print_table
from crypto_tune.report._walkforward import (
    FLAT_IS_NOTE,
    NO_IC_NOTE,
    NO_IS_TRADE_NOTE,
    OOS_SHARPE_NOTES,
    _window_table,
    window_notes,
)


def _window(number: int, is_sharpe: float | None, is_trades: int = 0) -> dict:
    return {
        "number": number,
        "train_start": "2022-01-01T00:00:00",
        "train_end": "2022-12-31T20:00:00",
        "test_start": "2023-01-01T00:00:00",
        "test_end": "2023-03-31T20:00:00",
        "in_sample": {"sharpe": is_sharpe, "n_trades": is_trades, "annual_return": None},
        "out_of_sample": {"sharpe": 0.5, "total_return": 0.01, "n_trades": 3, "ic": 0.021},
        "model_params": {"num_leaves": 7},
        "strategy_params": {"entry": 1.5},
    }


def _document(windows: list[dict]) -> dict:
    row = {
        "sharpe": 0.5,
        "total_return": 0.01,
        "annual_return": 0.04,
        "max_drawdown": 0.02,
        "psr": 0.6,
    }
    return {
        "asset": {"symbol": "BTC/USDT", "timeframe": "4h"},
        "split": {"train_months": 12, "test_months": 3, "expanding": False},
        "period": ["2022-01-01", "2023-03-31"],
        "windows": windows,
        "stitched": row | {"n_trades": 3},
        "benchmark": row,
        "efficiency": None,
        "in_sample_annual_return_mean": None,
    }


def test_window_table_explains_an_in_sample_sharpe_without_trades(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Issue 22 follow-up: a window whose tuning folds made no trade showed an unexplained
    dash as its IS Sharpe (its in-sample returns are all 0: no standard deviation)."""
    windows = [_window(0, 1.2, 40), _window(1, None, 0)]
    table = _window_table(windows)
    assert "<td>1.200</td>" in table and "<td>—</td>" in table
    assert 'id="no-is-sharpe-note"' in table and html.escape(NO_IS_TRADE_NOTE) in table
    assert 'id="no-ic-note"' not in table
    print_table(_document(windows), tmp_path / "walkforward.json")
    out = capsys.readouterr().out
    assert NO_IS_TRADE_NOTE in out and NO_IC_NOTE not in out


def test_window_notes_only_for_a_dash_and_true_to_its_cause() -> None:
    assert window_notes([_window(0, 1.2, 40)]) == []
    assert window_notes([_window(0, float("nan"), 0)]) == [("no-is-sharpe-note", NO_IS_TRADE_NOTE)]
    # trades but no Sharpe (flat or too short): not called "no trade"
    assert window_notes([_window(0, None, 2)]) == [("no-is-sharpe-note", FLAT_IS_NOTE)]
    no_ic = _window(0, 1.2, 40)
    no_ic["out_of_sample"]["ic"] = None
    assert window_notes([no_ic]) == [("no-ic-note", NO_IC_NOTE)]
    assert 'id="no-is-sharpe-note"' not in _window_table([_window(0, 1.2, 40)])


def test_window_table_explains_a_missing_oos_sharpe_per_window(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A window's OOS Sharpe is "—" when metrics.sharpe_ratio has none (under 2 returns, or zero
    deviation: all 0 without a trade): the notes name the window and that cause."""
    idle, flat, short = _window(1, 1.2, 40), _window(2, 1.2, 40), _window(3, 1.2, 40)
    idle["out_of_sample"] |= {"sharpe": None, "n_trades": 0, "n_bars": 540}
    flat["out_of_sample"] |= {"sharpe": float("nan"), "n_trades": 2, "n_bars": 540}
    short["out_of_sample"] |= {"sharpe": None, "n_trades": 0, "n_bars": 1}
    idle2 = _window(4, 1.2, 40)
    idle2["out_of_sample"] |= {"sharpe": None, "n_trades": 0, "n_bars": 540}
    windows = [_window(0, 1.2, 40), idle, flat, short, idle2]
    notes = dict(window_notes(windows))
    named = {"no-oos-trade-note": "windows 1, 4", "flat-oos-note": "window 2"}
    named["short-oos-note"] = "window 3"
    assert notes == {k: f"— in OOS Sharpe: {w} {OOS_SHARPE_NOTES[k]}" for k, w in named.items()}
    table = _window_table(windows)
    for key, text in notes.items():
        assert f'<p class="note" id="{key}">{html.escape(text)}.</p>' in table
    assert window_notes([_window(0, 1.2, 40)]) == []  # a Sharpe: no note
    print_table(_document(windows), tmp_path / "walkforward.json")
    assert notes["no-oos-trade-note"] in capsys.readouterr().out
