"""The HTML report: structure and numbers without a browser, and rendering in headless Chromium."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.metrics import max_drawdown
from crypto_tune.report import build_report, equity_curves, format_value, write_report
from crypto_tune.report._equity import MAX_CURVE_POINTS, equity_panel
from crypto_tune.report._plotlyjs import PLOTLY_JS, library_name, portable
from crypto_tune.report._study_plots import study_panels

CHROMIUM = Path("/usr/bin/chromium")
SECTIONS = (
    "header",
    "robustness",
    "model-study",
    "strategy-study",
    "fold-ic",
    "equity",
    "monthly",
    "trades",
)
STUDY_FIGURES = ("history", "importance", "parallel", "slice")
ALL_FIGURES = [
    *(f"model-{n}" for n in STUDY_FIGURES),
    *(f"strategy-{n}" for n in STUDY_FIGURES),
    "strategy-heatmap",
    "fold-ic",
    "equity",
    "monthly",
]


# --- inputs: real (small) Optuna studies, a hand-written best.json, random-walk returns ------


def _model_objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("model.learning_rate", 0.01, 0.3, log=True)
    leaves = trial.suggest_int("model.num_leaves", 4, 64)
    frac = trial.suggest_float("model.feature_fraction", 0.5, 1.0)
    return (
        0.05
        - (math.log(lr) - math.log(0.05)) ** 2 / 50
        - (leaves - 20) ** 2 / 1e4
        - (frac - 0.8) ** 2
    )


def _strategy_objective(trial: optuna.Trial) -> float:
    threshold = trial.suggest_float("strategy.threshold", 0.0, 0.01)
    leverage = trial.suggest_float("strategy.leverage", 1.0, 5.0)
    return 1.5 - 1e4 * (threshold - 0.003) ** 2 - (leverage - 2.0) ** 2


def _study(name: str, objective, n_trials: int = 30, seed: int = 0) -> optuna.Study:
    study = optuna.create_study(
        study_name=name, direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed)
    )
    study.optimize(objective, n_trials=n_trials)
    return study


@pytest.fixture(scope="module")
def studies() -> tuple[optuna.Study, optuna.Study]:
    return _study("t-model", _model_objective), _study("t-strategy", _strategy_objective, seed=1)


def _best(significant: bool = False) -> dict:
    bridge = {"gross_return": 0.5, "fee_paid": 0.03, "slippage_paid": 0.01, "net_return": 0.45}
    return {
        "costs": {"market": "spot", "fee": 0.001, "in_sample": bridge, "out_of_sample": bridge},
        "model": {"params": {"learning_rate": 0.05, "num_leaves": 20}},
        "strategy": {
            "params": {"leverage": 2.0, "threshold": 0.003, "stop_loss": None, "take_profit": 0.05},
            "overrides": {"leverage": 2.0},
        },
        "metrics": {
            "model": {"ic": 0.0213, "rank_ic": 0.0187, "icir": 0.84},
            "in_sample": {
                "sharpe": 1.4321,
                "sortino": 2.05,
                "max_drawdown": 0.1234,
                "win_rate": 0.531,
                "total_return": 0.4567,
                "n_trades": 1234,
            },
            "out_of_sample": {
                "sharpe": 0.31,
                "sortino": None,  # undefined (no losing bar), as json_value writes it
                "max_drawdown": 0.2,
                "win_rate": 0.5,
                "total_return": -0.0212,
                "n_trades": 30,
            },
            "benchmark": {
                "in_sample": {"sharpe": 0.5, "total_return": 0.25, "max_drawdown": 0.4},
                "out_of_sample": {"sharpe": -0.2, "total_return": -0.1, "max_drawdown": 0.3},
            },
        },
        "robustness": {
            "n_trials": 30,
            "psr": 0.9123,
            "dsr": 0.4,
            "pbo": None,
            "verdict": "edge not significant after 30 trials: DSR 0.40, PBO n/a (DSR below 0.95)",
            "significant": significant,
        },
    }


def _returns(seed: int = 0, n_is: int = 600, n_oos: int = 200) -> dict[str, pd.Series]:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2021-01-01", periods=n_is + n_oos, freq="4h", tz="UTC")
    values = rng.normal(0.0004, 0.012, n_is + n_oos)
    return {
        "in_sample": pd.Series(values[:n_is], index=index[:n_is]),
        "out_of_sample": pd.Series(values[n_is:], index=index[n_is:]),
    }


def _trades() -> pd.DataFrame:
    times = pd.date_range("2021-01-02", periods=6, freq="1D", tz="UTC")
    return pd.DataFrame(
        {
            "segment": ["in_sample"] * 4 + ["out_of_sample"] * 2,
            "symbol": "ETHUSDT",
            "entry_time": times,
            "exit_time": times + pd.Timedelta(hours=8),
            "side": ["long", "short", "long", "long", "short", "long"],
            "entry_price": [100.0, 101.0, 99.0, 98.0, 102.0, 103.0],
            "exit_price": [101.0, 100.0, 98.0, 99.0, 101.0, 104.0],
            "pnl": [0.01, 0.01, -0.01, 0.01, 0.01, 0.01],
            "return": [0.01, 0.0099, -0.0098, 0.0101, 0.01, 0.0099],
            "reason": ["signal", "take_profit", "stop_loss", "signal", "signal", "end"],
        }
    )


def _fold_ic() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "fold": [0, 1, 2, 3],
            "ic": [0.031, 0.012, -0.008, 0.05],
            "rank_ic": [0.02, 0.015, 0.0, 0.041],
            "hit_rate": [0.52, 0.51, 0.49, 0.55],
        }
    )


@pytest.fixture(scope="module")
def report_html(studies) -> str:
    model, strategy = studies
    return build_report(
        title="ETHUSDT 4h <test>",
        model_study=model,
        strategy_study=strategy,
        best=_best(),
        equity=_returns(),
        fold_ic=_fold_ic(),
        benchmark=_returns(seed=1),
        trades=_trades(),
    )


# --- a tiny DOM reader (stdlib only) ---------------------------------------------------------


class _Tables(HTMLParser):
    """Collects each table's rows as lists of cell texts, and every element's attributes by id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.by_id: dict[str, dict[str, str | None]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "id" in found:
            self.by_id[str(found["id"])] = found
        if tag == "table":
            self._table = str(found.get("id"))
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(html: str) -> _Tables:
    parser = _Tables()
    parser.feed(html)
    return parser


def _body(html: str) -> str:
    """The page without its <head> (the inlined plotly.js bundle holds arbitrary text)."""
    return html[html.index("<body>") :]


def _rows(table: list[list[str]]) -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in table if row}


# --- structure (no browser) ------------------------------------------------------------------


def test_sections_figures_and_self_contained(report_html: str) -> None:
    for section in SECTIONS:
        assert f'id="{section}"' in report_html
    names = re.findall(r'<div class="figure" data-figure="([^"]+)"', report_html)
    assert names == ALL_FIGURES
    assert "window.__reportFigures = 12;" in report_html
    assert 'data-expected="12"' in report_html
    # Light: plotly.js is not inlined; one placeholder that write_report links to the folder's
    # copy, and no other external script.
    assert "<script src" not in report_html.lower()
    assert "* plotly.js v" not in report_html
    assert report_html.count(PLOTLY_JS) == 1
    assert report_html.count("Plotly.newPlot(") == 12
    assert "not available" not in _body(report_html)
    # The title is escaped, never markup.
    assert "<title>ETHUSDT 4h &lt;test&gt;</title>" in report_html
    assert "<h1>ETHUSDT 4h &lt;test&gt;</h1>" in report_html


def test_robustness_tables_hand_formatted(report_html: str) -> None:
    dom = _parse(report_html)
    perf = _rows(dom.tables["performance-table"])
    assert perf["Sharpe ratio"] == ["1.43", "0.31", "0.50", "-0.20"]
    assert perf["Sortino ratio"] == ["2.05", "—", "—", "—"]
    assert perf["max drawdown"] == ["12.34%", "20.00%", "40.00%", "30.00%"]
    assert perf["win rate"] == ["53.10%", "50.00%", "—", "—"]
    assert perf["total return"] == ["45.67%", "-2.12%", "25.00%", "-10.00%"]
    assert perf["trades"] == ["1,234", "30", "—", "—"]
    strategy = _rows(dom.tables["strategy-table"])
    assert strategy == {
        "leverage": ["2 (override)"],
        "threshold": ["0.003"],
        "stop loss": ["—"],
        "take profit": ["0.05"],
    }
    robust = _rows(dom.tables["robustness-table"])
    assert robust["trials (Phase 2)"] == ["30"]
    assert robust["PSR"] == ["0.912"]
    assert robust["DSR"] == ["0.400"]
    assert robust["PBO"] == ["—"]
    assert robust["mean IC over folds"] == ["0.0213"]
    assert robust["ICIR"] == ["0.84"]
    assert robust["looks at the holdout"] == ["—"]  # a document without the family
    names = ("performance-table", "strategy-table", "robustness-table")
    cells = [c for name in names for row in dom.tables[name] for c in row]
    assert len(cells) == 5 * 9 + 2 * 4 + 2 * 12
    for cell in cells:
        assert not re.search(r"\b(nan|inf|none|null)\b", cell, flags=re.IGNORECASE), cell


def test_verdict_box_colour_follows_significance(studies) -> None:
    for significant, css in ((True, "significant"), (False, "not-significant")):
        html = build_report(
            title="t",
            model_study=None,
            strategy_study=None,
            best=_best(significant),
            equity=None,
            fold_ic=None,
        )
        box = _parse(html).by_id["verdict"]
        assert box["class"] == f"verdict {css}"
        assert box["data-significant"] == ("true" if significant else "false")
        assert "edge not significant after 30 trials: DSR 0.40" in html


def test_a_significant_edge_the_holdout_contradicts_is_a_caution_with_how_it_was_made() -> None:
    best = _best(True)
    best["robustness"]["holdout_disagrees"] = True
    best["how"] = {"text": "holdout 2024-01-01..2024-12-31 predicted by one refit"}
    html = build_report(
        title="t", model_study=None, strategy_study=None, best=best, equity=None, fold_ic=None
    )
    box = _parse(html).by_id["verdict"]
    assert box["class"] == "verdict caution" and box["data-significant"] == "true"
    assert _parse(html).by_id["how"] is not None
    assert "How this was made:</strong> holdout 2024-01-01..2024-12-31 predicted by" in html


def test_a_significant_edge_buy_and_hold_beat_in_sample_is_a_caution_that_says_why() -> None:
    best = _best(True)
    best["robustness"]["benchmark_note"] = (
        "buy-and-hold did better in sample (Sharpe 62.31 against 20.33): the edge may be the "
        "market's drift, not the model's forecast"
    )
    html = build_report(
        title="t", model_study=None, strategy_study=None, best=best, equity=None, fold_ic=None
    )
    box = _parse(html).by_id["verdict"]
    assert box["class"] == "verdict caution" and box["data-significant"] == "true"
    assert "; but buy-and-hold did better in sample (Sharpe 62.31 against 20.33)" in html


def test_the_header_names_the_data_the_result_was_made_on() -> None:
    best = _best(True)
    assert 'id="data"' not in build_report(
        title="t", model_study=None, strategy_study=None, best=best, equity=None, fold_ic=None
    )  # a document written before it named its files: no line
    best["asset"] = {"files": {"ETHUSDT": "/data/eth <4h>.csv"}, "data_fingerprint": "abc123"}
    html = build_report(
        title="t", model_study=None, strategy_study=None, best=best, equity=None, fold_ic=None
    )
    assert _parse(html).by_id["data"] is not None
    assert (
        "<strong>Data:</strong> ETHUSDT /data/eth &lt;4h&gt;.csv (fingerprint abc123)</p>" in html
    )


def test_missing_inputs_become_notes() -> None:
    html = build_report(
        title="empty", model_study=None, strategy_study=None, best=None, equity=None, fold_ic=None
    )
    for section in SECTIONS:
        assert f'id="{section}"' in html
    assert 'class="figure"' not in html
    assert "window.__reportFigures = 0;" in html
    # verdict, table, costs, 2 studies, fold IC, equity, monthly returns, trades
    assert _body(html).count("not available") == 9
    assert "verdict not available: no best run was given" in html
    assert "not available: no returns were given" in html
    # Empty inputs too, and a best.json missing whole blocks shows dashes.
    html = build_report(
        title="empty",
        model_study=optuna.create_study(study_name="nothing-run"),
        strategy_study=None,
        best={"robustness": {"verdict": "x", "significant": True}},
        equity={"in_sample": pd.Series([], dtype=float)},
        fold_ic=pd.DataFrame(columns=["fold", "ic", "rank_ic", "hit_rate"]),
    )
    assert "study &#x27;nothing-run&#x27; has no complete trial" in html
    assert "not available: the return series are empty" in html
    assert "not available: the per-fold IC table is empty" in html
    assert "Monthly returns of the strategy: not available: the return series are empty" in html
    assert "not available: no trade list was given" in html
    perf = _rows(_parse(html).tables["performance-table"])
    assert perf["Sharpe ratio"] == ["—", "—", "—", "—"]


def test_degenerate_studies_give_notes_not_crashes() -> None:
    one = _study("one", _strategy_objective, n_trials=1)
    panels, note = study_panels(one, prefix="strategy", label="s")
    assert note == ""
    by_name = {p.name: p for p in panels}
    assert by_name["strategy-importance"].figure is None
    assert by_name["strategy-importance"].note == "not available: needs >= 2 complete trials, got 1"
    assert by_name["strategy-history"].figure is not None
    no_params = _study("flat", lambda trial: 1.0, n_trials=3)
    panels, _ = study_panels(no_params, prefix="model", label="m")
    assert [p.figure is None for p in panels] == [False, True, True, True]
    multi = optuna.create_study(directions=["maximize", "minimize"], study_name="multi")
    multi.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=3)
    panels, note = study_panels(multi, prefix="model", label="m")  # drawn on objective 1
    assert note == ""
    assert [p.figure is not None for p in panels] == [True, True, True, True]
    assert "the plots show" not in panels[1].captions
    assert (
        panels[0].captions[0]
        == "multi-objective study (objective 1, objective 2): this plot shows objective 1"
    )
    failed = optuna.create_study(study_name="failing")
    failed.optimize(lambda t: float("nan"), n_trials=2)  # NaN values are FAIL trials
    assert study_panels(failed, prefix="model", label="m")[1].endswith("has no complete trial")


def test_a_plot_that_raises_becomes_a_note(studies, monkeypatch: pytest.MonkeyPatch) -> None:
    def degenerate(study: optuna.Study) -> None:
        raise RuntimeError("all importances\nare zero")

    monkeypatch.setattr(optuna.visualization, "plot_param_importances", degenerate)
    panels, note = study_panels(studies[0], prefix="model", label="m")
    assert note == ""
    assert [p.figure is None for p in panels] == [False, True, False, False]
    assert panels[1].note == "not available: RuntimeError: all importances are zero"


# --- equity and drawdown ----------------------------------------------------------------------


def test_equity_curves_hand_computed() -> None:
    equity, drawdown = equity_curves(pd.Series([0.1, -0.5, 0.2]))
    np.testing.assert_allclose(equity, [1.1, 0.55, 0.66])
    np.testing.assert_allclose(drawdown, [0.0, -0.5, -0.4])
    # A first loss is a drawdown from the starting equity, not from the first bar.
    _, drawdown = equity_curves(pd.Series([-0.1, 0.05]), start=2.0)
    np.testing.assert_allclose(drawdown, [-0.1, -0.055])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-0.5, 0.5, allow_nan=False), min_size=1, max_size=60))
def test_drawdown_matches_metrics_max_drawdown(values: list[float]) -> None:
    equity, drawdown = equity_curves(pd.Series(values))
    assert -drawdown.min() == pytest.approx(max_drawdown(values), abs=1e-12)
    assert equity.iloc[-1] == pytest.approx(np.prod(1 + np.array(values)), rel=1e-12)
    assert (drawdown <= 1e-15).all()


def test_out_of_sample_continues_from_in_sample_end() -> None:
    equity = {
        "in_sample": pd.Series([0.1, 0.1]),  # equity 1.1, 1.21
        "out_of_sample": pd.Series([-0.5, 0.2]),  # 0.605, 0.726; drawdown from 1.21
    }
    figure = equity_panel(equity).figure
    is_eq, is_dd, oos_eq, oos_dd = figure.data
    np.testing.assert_allclose(is_eq.y, [1.1, 1.21])
    np.testing.assert_allclose(oos_eq.y, [0.605, 0.726])
    np.testing.assert_allclose(oos_dd.y, [-0.5, -0.4])
    # Without a DatetimeIndex the x axis is the bar number, numbered on across segments.
    assert list(is_eq.x) == [1, 2]
    assert list(oos_eq.x) == [3, 4]
    assert list(is_dd.x) == [1, 2]
    captions = equity_panel(equity).captions
    assert captions == (
        "in sample: 2 bars, total return 21.00%, max drawdown 0.00%",
        "out of sample: 2 bars, total return -40.00%, max drawdown 50.00%",
        "buy and hold not available: the best run has no benchmark returns",
    )


def test_long_curves_are_bucketed_keeping_the_trough() -> None:
    rng = np.random.default_rng(3)
    n = 3 * MAX_CURVE_POINTS + 17
    returns = pd.Series(rng.normal(0, 0.01, n))
    returns.iloc[n // 2] = -0.4  # one deep fall in the middle of a bucket
    figure = equity_panel({"in_sample": returns}).figure
    curve, drawdown = figure.data
    full_equity, full_drawdown = equity_curves(returns)
    assert len(curve.y) <= MAX_CURVE_POINTS
    assert curve.y[-1] == pytest.approx(full_equity.iloc[-1])
    assert min(drawdown.y) == pytest.approx(full_drawdown.min())
    assert curve.x[-1] == n


# --- bad input ----------------------------------------------------------------------------


def _error(kind: type[Exception], pattern: str, **changes: object) -> None:
    kwargs = dict(
        title="t", model_study=None, strategy_study=None, best=None, equity=None, fold_ic=None
    )
    with pytest.raises(kind, match=pattern) as info:
        build_report(**{**kwargs, **changes})
    assert "\n" not in str(info.value)


def test_bad_inputs_raise_one_line_errors() -> None:
    _error(ConfigError, r"^title must be a non-empty string, got ''$", title="")
    _error(ConfigError, r"^best must be a mapping .* got <class 'list'>$", best=[])
    _error(ConfigError, r"^model_study must be an optuna.Study or None", model_study="study")
    bad = pd.Series([0.01, float("nan")], index=pd.date_range("2024-01-01", periods=2, freq="h"))
    _error(
        DataError,
        r"^equity\['out_of_sample'\]: return at row 1 \(2024-01-01 01:00:00\) is not a finite "
        r"number, got nan$",
        equity={"out_of_sample": bad},
    )
    _error(
        ConfigError, r"^equity keys must be among .*, got \['holdout'\]$", equity={"holdout": bad}
    )
    _error(
        ConfigError, r"^equity\['in_sample'\] must be a pandas Series", equity={"in_sample": [1]}
    )
    _error(
        DataError,
        r"^fold_ic: missing column\(s\) \['rank_ic'\], got columns \['fold', 'ic'\]$",
        fold_ic=pd.DataFrame({"fold": [0], "ic": [0.1]}),
    )
    _error(ConfigError, r"^fold_ic must be a pandas DataFrame or None", fold_ic={"ic": [0.1]})


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**9), 10**9)),
    st.sampled_from(["pct", "ratio", "prob", "ic", "int", "num"]),
)
@example(1.8e306, "pct")  # 100 * 1.8e306 overflows to inf: once printed 'inf%'
@example(-sys.float_info.max, "pct")
@example(sys.float_info.max, "int")
def test_format_value_never_prints_nan_or_inf(value: float, kind: str) -> None:
    text = format_value(value, kind)
    assert not re.search(r"nan|inf", text, flags=re.IGNORECASE)
    assert len(text) <= 30, text  # never a wall of digits
    if not math.isfinite(value):
        assert text == "—"
    elif kind == "pct" and abs(100 * value) < 1e15:
        assert text == f"{100 * value:.2f}%"
    elif kind == "pct":  # scientific: the same number, 4 significant digits
        assert re.fullmatch(r"-?\d\.\d{3}e[+-]\d{2,3}%", text), text
        assert float(text[:-1]) == pytest.approx(100 * float(value), rel=1e-3)


def test_format_value_huge_values_print_in_scientific_notation() -> None:
    assert format_value(1.8e306, "pct") == "1.800e+308%"
    assert format_value(-1.8e306, "pct") == "-1.800e+308%"
    assert format_value(sys.float_info.max, "pct") == "1.798e+310%"
    assert format_value(1e13, "pct") == "1.000e+15%"
    assert format_value(9.99e12, "pct") == "999000000000000.00%"
    assert format_value(2e15, "ratio") == "2.000e+15"
    assert format_value(10**20, "int") == "1.000e+20"
    assert format_value(1.8e306, "num") == "1.8e+306"


def test_format_value_cases() -> None:
    assert format_value(np.float64(0.5), "pct") == "50.00%"
    assert format_value(np.int64(12345), "int") == "12,345"
    assert format_value(True, "int") == "—"
    assert format_value("1.0", "ratio") == "—"
    assert format_value(0.00012345, "num") == "0.0001234"
    assert format_value(125.0, "num") == "125"
    assert format_value(-0.0, "pct") == "0.00%"


def test_pages_of_one_folder_share_one_plotly_js(report_html: str, tmp_path: Path) -> None:
    """Issue 22, item 8: every page used to inline plotly.js (~4 MB each, ~6 MB a page)."""
    first = write_report(report_html, tmp_path / "a.html")
    second = write_report(report_html, tmp_path / "b.html")
    library = tmp_path / library_name()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.html", "b.html", library.name])
    assert "* plotly.js v" in library.read_text(encoding="utf-8")
    for page in (first, second):
        text = page.read_text(encoding="utf-8")
        assert f'<script src="{library.name}" data-plotlyjs="local"></script>' in text
        assert "* plotly.js v" not in text and page.stat().st_size < 1_000_000
    cdn = portable(first.read_text(encoding="utf-8"))  # a copy that leaves the folder (MLflow)
    assert f'<script src="https://cdn.plot.ly/{library.name}" charset="utf-8"></script>' in cdn
    assert 'data-plotlyjs="local"' not in cdn


def test_write_report_is_atomic_and_readable(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "report.html"
    assert write_report("<html>one</html>", target) == target
    assert write_report("<html>two</html>", target) == target
    assert target.read_text(encoding="utf-8") == "<html>two</html>"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]
    assert target.stat().st_mode & 0o777 == 0o644
    with pytest.raises(ConfigError, match="html must be a non-empty string"):
        write_report("", target)


# --- headless Chromium ---------------------------------------------------------------------


def _chromium() -> str:
    if CHROMIUM.exists():
        return str(CHROMIUM)
    if not os.environ.get("CI"):
        pytest.skip("/usr/bin/chromium is absent (install it: apt-get install chromium)")
    pytest.fail("/usr/bin/chromium is absent on CI (scripts/ci-system-deps.sh installs it)")


def _render(page: Path, profile: Path) -> dict[str, str | None]:
    """Load ``page`` in headless Chromium and return the attributes of #report-status."""
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    status = _parse(done.stdout).by_id.get("report-status")
    assert status is not None, f"no #report-status in the dumped DOM: {done.stdout[-500:]!r}"
    return status


@pytest.mark.slow
def test_every_figure_renders_in_chromium(report_html: str, tmp_path: Path) -> None:
    page = write_report(report_html, tmp_path / "report.html")
    status = _render(page, tmp_path / "profile")
    assert status["data-done"] == "1"
    assert status["data-errors"] == "0"
    assert status["data-expected"] == "12"
    assert status["data-rendered"] == "12"


@pytest.mark.slow
def test_chromium_check_catches_script_errors_and_missing_figures(
    report_html: str, tmp_path: Path
) -> None:
    # Control: one figure's plot call broken and a script error thrown; the check must see both.
    first = report_html.index('data-figure="model-history"')
    broken = report_html[:first] + report_html[first:].replace(
        "Plotly.newPlot(", "Plotly.__missing__(", 1
    )
    broken = broken.replace("</body>", '<script>throw new Error("boom");</script></body>')
    page = write_report(broken, tmp_path / "broken.html")
    status = _render(page, tmp_path / "profile")
    assert status["data-done"] == "1"
    assert int(str(status["data-errors"])) >= 2  # the missing function and "boom"
    assert status["data-rendered"] == "11"
