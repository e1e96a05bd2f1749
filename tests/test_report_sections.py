"""The report's best-run sections: buy-and-hold, monthly returns, the parameter heatmap, the
Pareto front, the trade list and the files phase=best leaves for them (small frames, no CLI);
and one slow end-to-end run through the CLI."""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import FAST, best_dir, run_cli

from crypto_tune.report import (
    benchmark_returns,
    build_report,
    buy_and_hold,
    read_best_files,
    trade_records,
)
from crypto_tune.report._equity import equity_panel
from crypto_tune.report._landscape import chosen_params, grid_stats, heatmap_panel, pareto_panel
from crypto_tune.report._monthly import monthly_panel, monthly_table
from crypto_tune.report._trades import MAX_TRADE_ROWS, format_duration, trades_html

optuna.logging.set_verbosity(optuna.logging.WARNING)
UTC_4H = {"freq": "4h", "tz": "UTC"}


# --- buy and hold and the trade file ------------------------------------------------------
def test_buy_and_hold_is_close_to_close_over_the_strategy_bars() -> None:
    index = pd.date_range("2024-01-01", periods=6, **UTC_4H)
    close = pd.Series([100.0, 110.0, 99.0, 99.0, 198.0, 99.0], index=index)
    # two fold segments with a gap (bar 3 missing): each run starts flat (bought at its close)
    bars = index[[0, 1, 2, 4, 5]]
    np.testing.assert_allclose(buy_and_hold(close, bars), [0.0, 0.1, -0.1, 0.0, -0.5])
    with pytest.raises(KeyError, match="not in the close series"):
        buy_and_hold(close, pd.DatetimeIndex([pd.Timestamp("2030-01-01", tz="UTC")]))


def test_benchmark_of_a_basket_is_equal_unrebalanced_sleeves() -> None:
    index = pd.date_range("2024-01-01", periods=3, **UTC_4H)
    closes = {
        "A": pd.Series([1.0, 2.0, 4.0], index=index),  # x4
        "B": pd.Series([1.0, 1.0, 0.5], index=index),  # x0.5
    }
    folds = {s: [index[:2]] for s in closes}  # in sample: bars 0-1
    holdout = {s: index[1:] for s in closes}  # out of sample: bars 1-2
    is_hold, oos_hold = benchmark_returns(closes, folds, holdout)
    # in sample: A doubles, B flat -> (2 + 1) / 2 = 1.5
    assert (1 + is_hold).prod() == pytest.approx(1.5)
    # out of sample: A doubles, B halves -> (2 + 0.5) / 2 = 1.25
    assert (1 + oos_hold).prod() == pytest.approx(1.25)
    single_is, single_oos = benchmark_returns({"A": closes["A"]}, {"A": folds["A"]}, {"A": index})
    np.testing.assert_allclose(single_oos, [0.0, 1.0, 1.0])
    assert len(single_is) == 2


def test_trade_records_return_is_pnl_over_equity_before_entry() -> None:
    index = pd.date_range("2024-01-01", periods=4, **UTC_4H)
    fold = pd.Series([0.0, 0.1, 0.0, -0.05], index=index)  # equity 1, 1.1, 1.1, 1.045
    trades = pd.DataFrame(
        {
            "entry_time": [index[0], index[2]],
            "exit_time": [index[1], index[3]],
            "side": ["long", "short"],
            "pnl": [0.1, -0.055],
        }
    )
    out = trade_records(trades, [fold], segment="in_sample", symbol="ETHUSDT")
    assert list(out.columns[:3]) == ["segment", "symbol", "entry_time"]
    np.testing.assert_allclose(out["return"], [0.1 / 1.0, -0.055 / 1.1])
    assert set(out["segment"]) == {"in_sample"} and set(out["symbol"]) == {"ETHUSDT"}


def test_read_best_files_new_and_old(tmp_path: Path) -> None:
    index = pd.date_range("2024-01-01", periods=3, **UTC_4H)
    frame = pd.concat(
        {"in_sample": pd.Series([0.0, 0.01, 0.02], index=index)}, names=["segment", "time"]
    ).to_frame("returns")
    frame["benchmark"] = [0.0, -0.01, 0.03]
    frame.to_parquet(tmp_path / "w.curves.parquet")
    pd.DataFrame({"entry_time": index[:1], "pnl": [0.1]}).to_parquet(tmp_path / "w.trades.parquet")
    best = {"files": {"curves": "w.curves.parquet", "trades": "w.trades.parquet"}}
    files = read_best_files(best, tmp_path / "w.json")
    assert files.equity is not None and files.benchmark is not None and files.trades is not None
    np.testing.assert_allclose(files.benchmark["in_sample"], [0.0, -0.01, 0.03])
    # an old best run: no benchmark column, no trade file
    frame[["returns"]].to_parquet(tmp_path / "w.curves.parquet")
    old = read_best_files({"files": {"curves": "w.curves.parquet"}}, tmp_path / "w.json")
    assert old.equity is not None and old.benchmark is None and old.trades is None


# --- equity against buy and hold ----------------------------------------------------------
def test_equity_panel_draws_buy_and_hold_restarted_at_each_segment() -> None:
    equity = {"in_sample": pd.Series([0.1, 0.1]), "out_of_sample": pd.Series([-0.5, 0.2])}
    hold = {"in_sample": pd.Series([0.0, 0.5]), "out_of_sample": pd.Series([0.1, 0.0])}
    panel = equity_panel(equity, hold)
    traces = {t.name: t for t in panel.figure.data}
    np.testing.assert_allclose(traces["buy and hold, in sample"].y, [1.0, 1.5])
    # out of sample restarts at the strategy's equity (1.21) where the segment starts
    np.testing.assert_allclose(traces["buy and hold, out of sample"].y, [1.331, 1.331])
    assert traces["buy and hold, out of sample"].line.dash == "dot"
    assert panel.captions[0] == (
        "in sample: 2 bars, total return 21.00%, max drawdown 0.00%; "
        "buy and hold 50.00%, max drawdown 0.00%"
    )
    assert panel.captions[-1].startswith("buy and hold (dotted): close-to-close returns")


# --- monthly returns ----------------------------------------------------------------------
def test_monthly_table_compounds_calendar_months() -> None:
    index = pd.to_datetime(
        ["2023-12-31 20:00", "2024-01-01 00:00", "2024-01-31 20:00", "2024-03-01 00:00"], utc=True
    )
    table = monthly_table(pd.Series([0.5, 0.1, 0.1, -0.5], index=index))
    assert list(table.index) == [2023, 2024]
    assert table.loc[2023, "Dec"] == pytest.approx(0.5)
    assert table.loc[2024, "Jan"] == pytest.approx(0.21)
    assert math.isnan(table.loc[2024, "Feb"])
    assert table.loc[2024, "Mar"] == pytest.approx(-0.5)
    assert table.loc[2024, "year"] == pytest.approx(1.21 * 0.5 - 1)
    assert list(table.columns)[-1] == "year" and len(table.columns) == 13


def test_monthly_panel_one_block_per_segment_and_notes() -> None:
    index = pd.date_range("2023-01-01", "2024-06-30", freq="1D", tz="UTC")
    returns = pd.Series(0.001, index=index)
    panel = monthly_panel(
        {"in_sample": returns[:"2023-12-31"], "out_of_sample": returns["2024-01-01":]}
    )
    assert panel.figure is not None
    heatmaps = [t for t in panel.figure.data if t.type == "heatmap"]
    assert [list(h.y) for h in heatmaps] == [["2023"], ["2024"]]
    assert heatmaps[0].text[0][0] == f"{1.001**31 - 1:+.1%}"
    assert panel.captions[:2] == (
        "in sample: 12 months, 12 positive",
        "out of sample: 6 months, 6 positive",
    )
    assert monthly_panel(None).note == "not available: no returns were given"
    plain = monthly_panel({"in_sample": pd.Series([0.1, 0.2])})
    assert plain.note == "not available: the returns have no time index"


# --- parameter heatmap --------------------------------------------------------------------
def _landscape_study(n_trials: int = 80) -> optuna.Study:
    """A plateau around (a=2, b=0.05) and a useless third parameter; names are arbitrary."""

    def objective(trial: optuna.Trial) -> float:
        a = trial.suggest_float("strategy.alpha", 1.0, 3.0)
        b = trial.suggest_float("strategy.beta", 0.01, 0.2, log=True)
        trial.suggest_int("strategy.noise", 0, 3)
        return 1.0 - (a - 2.0) ** 2 - abs(math.log(b / 0.05))

    study = optuna.create_study(
        study_name="landscape", direction="maximize", sampler=optuna.samplers.RandomSampler(0)
    )
    study.optimize(objective, n_trials=n_trials)
    return study


def test_grid_stats_mean_max_count() -> None:
    mean, top, count = grid_stats([(0, 1), (0, 1), (1, 0)], [1.0, 2.0, -1.0], (2, 2))
    assert mean[0, 1] == 1.5 and top[0, 1] == 2.0 and count[0, 1] == 2
    assert mean[1, 0] == -1.0 and count.sum() == 3
    assert np.isnan(mean[0, 0]) and np.isnan(top[1, 1])


def test_heatmap_over_the_two_most_important_parameters_marks_the_choice() -> None:
    study = _landscape_study()
    best = {"strategy": {"params": {"alpha": 2.0, "beta": 0.05, "noise": 1}}}
    chosen = chosen_params(study, best)
    assert chosen == {"strategy.alpha": 2.0, "strategy.beta": 0.05, "strategy.noise": 1}
    panel = heatmap_panel(study, chosen)
    assert panel.figure is not None, panel.note
    heat, dots, star = panel.figure.data
    axes = {panel.figure.layout.xaxis.title.text, panel.figure.layout.yaxis.title.text}
    assert axes == {"alpha", "beta"}  # the noise parameter is the least important
    assert len(dots.x) == 80
    assert star.name == "chosen"
    assert len(heat.z) * len(heat.z[0]) == 100  # a 10 x 10 grid of the two parameters
    # the mean per cell is the mean of the trials that fall in it
    values = np.array([t.value for t in study.trials])
    assert np.nanmax(np.asarray(heat.z, dtype=float)) <= values.max() + 1e-12
    log_axis = "y" if panel.figure.layout.yaxis.title.text == "beta" else "x"
    assert getattr(panel.figure.layout, f"{log_axis}axis").type == "log"
    assert "importance (fANOVA): alpha" in panel.captions[0] or "beta" in panel.captions[0]
    assert re.search(r"chosen cell: mean -?[\d.e-]+ over \d+ trial", panel.captions[1])
    assert re.search(r"\((the neighbours keep \d+% .*: (a plateau|a spike))\)", panel.captions[1])


def test_heatmap_notes_and_categorical_axes() -> None:
    assert heatmap_panel(None, None).note == "not available: no study was given"
    one = optuna.create_study()
    one.optimize(lambda t: t.suggest_float("strategy.x", 0, 1), n_trials=5)
    assert heatmap_panel(one, None).note == (
        "not available: needs two varied parameters, the study has 1"
    )

    def objective(trial: optuna.Trial) -> float:
        window = trial.suggest_categorical("strategy.window", [42, 90, 180])
        return trial.suggest_float("strategy.entry", 1.0, 3.0) + window / 100

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(1))
    study.optimize(objective, n_trials=30)
    panel = heatmap_panel(study, chosen_params(study, None))  # no best run: the best trial
    assert panel.figure is not None
    layout = panel.figure.layout
    kinds = {layout.xaxis.title.text: layout.xaxis.type, layout.yaxis.title.text: layout.yaxis.type}
    assert kinds["window"] == "category"
    assert panel.figure.data[2].name == "chosen"


# --- Pareto front -------------------------------------------------------------------------
def _two_objective_study() -> optuna.Study:
    study = optuna.create_study(
        study_name="pareto",
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.RandomSampler(2),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["sharpe", "max_drawdown"])

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        risk = trial.suggest_float("strategy.risk", 0.0, 1.0)
        other = trial.suggest_float("strategy.other", 0.0, 1.0)
        return risk - 0.3 * other, 0.1 + risk + 0.2 * other

    study.optimize(objective, n_trials=40)
    return study


def test_pareto_front_with_the_chosen_trial() -> None:
    study = _two_objective_study()
    pick = study.best_trials[0]
    tuned = {k.removeprefix("strategy."): v for k, v in pick.params.items()}
    panel = pareto_panel(study, chosen_params(study, {"strategy": {"tuned": tuned}}, "tuned"))
    assert panel is not None and panel.figure is not None
    rest, front, star = panel.figure.data
    assert len(front.x) == len(study.best_trials)
    assert len(rest.x) + len(front.x) == 40
    assert list(front.x) == sorted(front.x)
    assert star.name == f"chosen (trial {pick.number})"
    assert (star.x[0], star.y[0]) == tuple(pick.values)
    assert panel.figure.layout.xaxis.title.text == "sharpe (maximize)"
    assert panel.figure.layout.yaxis.title.text == "max_drawdown (minimize)"
    assert panel.captions[1] == f"chosen: trial {pick.number}, on the front"
    unknown = pareto_panel(study, {"strategy.risk": 5.0, "strategy.other": 0.0})
    assert unknown is not None and len(unknown.figure.data) == 2
    assert unknown.captions[1].startswith("chosen trial not found")
    assert pareto_panel(_landscape_study(5), {}) is None  # single objective: no figure


def test_report_of_a_two_objective_strategy_study() -> None:
    study = _two_objective_study()
    html = build_report(
        title="multi",
        model_study=None,
        strategy_study=study,
        best=None,
        equity=None,
        fold_ic=None,
    )
    names = re.findall(r'<div class="figure" data-figure="([^"]+)"', html)
    assert names == [
        "strategy-history",
        "strategy-importance",
        "strategy-parallel",
        "strategy-slice",
        "strategy-heatmap",
        "strategy-pareto",
    ]
    assert "is multi-objective" not in html
    assert "this plot shows sharpe" in html


# --- the trade list -----------------------------------------------------------------------
def _trade_frame(n_is: int, n_oos: int, symbols: tuple[str, ...] = ("ETHUSDT",)) -> pd.DataFrame:
    rows = []
    for segment, n, start in (
        ("in_sample", n_is, "2021-01-01"),
        ("out_of_sample", n_oos, "2024-01-01"),
    ):
        times = pd.date_range(start, periods=n, freq="8h", tz="UTC")
        for k, time in enumerate(times):
            rows.append(
                {
                    "segment": segment,
                    "symbol": symbols[k % len(symbols)],
                    "entry_time": time,
                    "exit_time": time + pd.Timedelta(hours=4 * (1 + k % 7)),
                    "side": "long" if k % 2 else "short",
                    "entry_price": 2000.0 + k,
                    "exit_price": 2001.0 + k,
                    "pnl": 0.001 * (1 if k % 3 else -1),
                    "return": 0.002 * (1 if k % 3 else -1),
                    "reason": ("signal", "stop_loss", "take_profit")[k % 3],
                }
            )
    return pd.DataFrame(rows)


def test_trade_list_caps_rows_counts_and_sorts() -> None:
    html = trades_html(_trade_frame(250, 12), file="workflow.best.trades.parquet")
    ins = html[html.index('data-segment="in_sample"') : html.index('data-segment="out_of_sample"')]
    oos = html[html.index('data-segment="out_of_sample"') :]
    assert ins.count("<tr>") == MAX_TRADE_ROWS + 1  # header + the last 200
    assert "showing the last 200 of 250 trades" in ins
    assert ">51</td>" in ins and ">50</td>" not in ins  # trade numbers 51..250
    assert oos.count("<tr>") == 12 + 1 and "all 12 trades" in oos
    assert "All trades are in workflow.best.trades.parquet." in html
    assert "250 trades; 125 long, 125 short; win rate" in ins
    assert "exits: " in ins
    assert 'class="sortable trades"' in html and "data-v=" in html
    assert ">symbol<" not in html  # one asset: no symbol column
    assert "2021-01-01 00:00" not in ins  # the first 50 trades are only in the file
    basket = trades_html(_trade_frame(4, 2, ("ETHUSDT", "BTCUSDT")))
    assert ">symbol<" in basket and ">BTCUSDT<" in basket
    assert "not available" in trades_html(None)
    only_is = trades_html(_trade_frame(3, 0))
    assert "Out of sample: no trade" in only_is


def test_trade_list_formats() -> None:
    html = trades_html(_trade_frame(2, 0))
    assert ">2,000.00<" in html and ">+0.20%<" in html and ">-0.0010<" in html
    assert format_duration(pd.Timedelta(hours=28)) == "1d 4h"
    assert format_duration(pd.Timedelta(hours=4)) == "4h"


def test_report_with_every_best_run_section() -> None:
    index = pd.date_range("2023-06-01", periods=600, **UTC_4H)
    rng = np.random.default_rng(0)
    values = pd.Series(rng.normal(0, 0.01, 600), index=index)
    html = build_report(
        title="all",
        model_study=None,
        strategy_study=_landscape_study(30),
        best={"strategy": {"params": {"alpha": 2.0, "beta": 0.05}}, "files": {"trades": "t.pq"}},
        equity={"in_sample": values[:400], "out_of_sample": values[400:]},
        fold_ic=None,
        benchmark={"in_sample": values[:400] * 0.5, "out_of_sample": values[400:] * 0.5},
        trades=_trade_frame(5, 3),
    )
    body = html[html.index("<body>") :]
    for section in ("monthly", "trades", "equity", "strategy-study"):
        assert f'<section id="{section}"' in body
    for figure in ("strategy-heatmap", "equity", "monthly"):
        assert f'data-figure="{figure}"' in body
    assert "buy and hold, out of sample" in body
    assert "All trades are in t.pq." in body
    assert "strategy-pareto" not in body


# --- end to end through the CLI -----------------------------------------------------------
@pytest.mark.slow
def test_report_of_a_best_run_end_to_end(outputs: Path, experiment: str) -> None:
    common = [*FAST, f"paths.outputs={outputs}", f"experiment_name={experiment}"]
    steps = [
        ["-m", "phase=model", "hydra.sweeper.n_trials=2"],
        ["-m", "phase=strategy", "hydra.sweeper.n_trials=30"],
        ["phase=best"],
        ["phase=report"],
    ]
    for step in steps:
        done = run_cli(*step, *common, timeout=900)
        assert done.returncode == 0, f"{step}: {done.stderr[-3000:]}"
    folder = best_dir(outputs)
    best = json.loads((folder / "workflow.best.json").read_text())
    assert best["files"]["trades"] == "workflow.best.trades.parquet"
    curves = pd.read_parquet(folder / best["files"]["curves"])
    assert list(curves.columns) == ["returns", "benchmark"]
    assert np.isfinite(curves["benchmark"]).all()
    trades = pd.read_parquet(folder / best["files"]["trades"])
    assert {"segment", "symbol", "entry_time", "exit_time", "pnl", "return", "reason"} <= set(
        trades.columns
    )
    n_is = int((trades["segment"] == "in_sample").sum())
    assert n_is == best["metrics"]["in_sample"]["n_trades"]
    (report,) = (outputs / "reports").glob("*.html")
    html = report.read_text()
    body = html[html.index("<body>") :]
    for section in ("equity", "monthly", "trades", "strategy-study"):
        assert f'<section id="{section}"' in body
    for figure in ("strategy-heatmap", "equity", "monthly"):
        assert f'data-figure="{figure}"' in body
    assert "buy and hold, in sample" in body and "buy and hold, out of sample" in body
    assert 'id="trades-in_sample"' in body
    assert f"{n_is:,} trades" in body
    assert "not available: no trade list was given" not in body


# --- layout -----------------------------------------------------------------------------------
def test_slice_plot_wraps_into_rows_that_fit_the_page() -> None:
    """Issue 22.6: Optuna's slice plot is 300 px per parameter (2,700 px for Phase 1's nine
    parameters) inside a 1,200 px page; the report lays it out three to a row, page-wide."""
    from crypto_tune.report._study_plots import study_panels

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(
        lambda t: sum(t.suggest_float(f"model.p{i}", 0, 1) for i in range(9)), n_trials=12
    )
    panels, _ = study_panels(study, prefix="model", label="Phase 1")
    figure = next(p.figure for p in panels if p.name == "model-slice")
    assert figure is not None and figure.layout.width is None
    tops = set()
    for i in range(9):
        suffix = "" if i == 0 else str(i + 1)
        x0, x1 = figure.layout[f"xaxis{suffix}"].domain
        y0, y1 = figure.layout[f"yaxis{suffix}"].domain
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        tops.add(round(y1, 6))
    assert len(tops) == 3  # three rows of three


def test_basket_page_shows_members_correlation_and_contributions() -> None:
    """Issue 22.6: the basket's page had no member table, correlations or contributions (the
    terminal printed them)."""
    from crypto_tune.report import build_report

    member = {
        "ic": 0.021,
        "holdout_ic": 0.004,
        "in_sample": {"sharpe": 1.2, "n_trades": 40},
        "out_of_sample": {"sharpe": -0.3, "n_trades": 12},
    }
    segment = {
        "rebalances": 52,
        "mean_gross": 0.93,
        "correlation": {"ETH": {"ETH": 1.0, "BTC": 0.71}, "BTC": {"ETH": 0.71, "BTC": 1.0}},
        "contributions": {
            "ETH": {"return": 0.12, "risk": 0.6},
            "BTC": {"return": 0.05, "risk": 0.4},
            "costs": {"return": -0.01, "risk": None},
        },
    }
    best = {
        "members": {"ETH": member, "BTC": member},
        "portfolio": {
            "weights": "inverse_vol",
            "rebalance": "weekly",
            "target_vol": 0.2,
            "in_sample": segment,
            "out_of_sample": segment,
        },
    }
    page = build_report(
        title="basket", model_study=None, strategy_study=None, best=best, equity=None, fold_ic=None
    )
    assert 'id="basket"' in page and 'id="members-table"' in page
    assert page.count('<tr data-key="ETH">') == 1 and "+12.0% ret, 60% risk" in page
    assert 'id="correlation-in-sample"' in page and "<td>0.71</td>" in page
    assert "target volatility 20%" in page and "52 rebalances" in page
    single = build_report(
        title="one", model_study=None, strategy_study=None, best={}, equity=None, fold_ic=None
    )
    assert 'id="basket"' not in single
