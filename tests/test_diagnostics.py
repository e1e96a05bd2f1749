"""The best run's self-explanations: signal distribution, trade-rate and holdout warnings."""

from __future__ import annotations

import numpy as np

from crypto_tune.diagnostics import (
    benchmark_note,
    holdout_note,
    objective_note,
    signal_distribution,
    trade_rate_warning,
    trades_per_year,
)


def test_signal_distribution_counts_bars_beyond_entry() -> None:
    signal = np.array([np.nan, -2.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0])
    out = signal_distribution(signal, 1.0)
    assert out["n_bars"] == 7
    assert out["beyond_entry"] == 4 / 7
    assert out["q50"] == 0.5
    assert signal_distribution(signal, None)["beyond_entry"] is None
    assert signal_distribution(np.array([np.nan]), 1.0)["q50"] is None


def test_trades_per_year() -> None:
    assert trades_per_year(12, 2190, 2190) == 12
    assert trades_per_year(0, 0, 2190) is None


def test_trade_rate_warning_below_a_third() -> None:
    assert trade_rate_warning(30.0, 11.0) is None
    text = trade_rate_warning(30.0, 9.0, in_sample_beyond=0.2, out_of_sample_beyond=0.01)
    assert text is not None and text.startswith("stopped trading out of sample: 9.0 trades/year")
    assert "1.0% out of sample" in text
    assert trade_rate_warning(None, 0.0) is None


def test_holdout_note_only_when_it_contradicts() -> None:
    assert holdout_note(True, 0.5) is None
    assert "contradicts" in str(holdout_note(True, -0.1))
    assert "looks better" in str(holdout_note(False, 1.5))
    assert holdout_note(False, 0.3) is None


def test_objective_note_names_the_penalty_and_the_study_value() -> None:
    common = dict(in_sample_sharpe=1.2, reasons=["manual overrides {'entry': 2.0}"])
    plain = objective_note(
        "psr",
        study_value=0.9,
        recomputed=0.9,
        raw_score=0.9,
        shortfall=0,
        infeasible=False,
        **common,
    )
    assert "no penalty" in plain and "recorded" not in plain
    penalised = objective_note(
        "psr",
        study_value=0.9,
        recomputed=0.5,
        raw_score=0.8,
        shortfall=0.3,
        infeasible=False,
        **common,
    )
    assert "trade-floor penalty of 0.3" in penalised and "recorded 0.9 because manual" in penalised
    ruined = objective_note(
        "psr",
        study_value=None,
        recomputed=-10.5,
        raw_score=0.1,
        shortfall=0,
        infeasible=True,
        **common,
    )
    assert "infeasible" in ruined


def test_benchmark_note_only_for_a_significant_edge_that_trails_buy_and_hold() -> None:
    note = benchmark_note(True, 20.33, 62.31)
    assert (
        note is not None
        and "buy-and-hold did better in sample (Sharpe 62.31 against 20.33)" in note
    )
    assert benchmark_note(True, 1.5, 0.9) is None
    assert benchmark_note(False, 0.5, 2.0) is None
    assert benchmark_note(True, None, 2.0) is None
    assert benchmark_note(True, 1.0, float("nan")) is None


def test_objective_note_says_undefined_for_a_score_of_flat_returns() -> None:
    note = objective_note(
        "psr_nines",
        study_value=-0.301,
        recomputed=-0.301,
        raw_score=float("nan"),
        shortfall=1.0,
        infeasible=False,
        in_sample_sharpe=None,
        reasons=[],
    )
    assert "psr_nines undefined (the returns never vary) lowered by" in note
    assert "nan" not in note.lower()
