"""``phase=report regime=switch``: the regime-switch page from a tiny synthetic run — its
sections, no NaN or missing-value text, its regime bands equal to the causal labels (recomputed
on data cut at each bar: no lookahead), logged to MLflow; and the command that fixes a missing
best run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

STUDY = "default.SYNTH.4h.switch.static.h1"
SECTIONS = ("header", "performance", "equity", "per-regime", "parameters")


@pytest.fixture(scope="module")
def switch_run(tmp_path_factory) -> Path:
    outputs = tmp_path_factory.mktemp("switch") / "outputs"
    common = ["regime=switch", "debug=fast", f"paths.outputs={outputs}"]
    quiet = "tracking.enabled=false"
    budgets = ["regime.model_trials=2", "regime.strategy_trials=10"]
    for args in (["phase=regimes", quiet, *budgets], ["phase=best", quiet], ["phase=report"]):
        done = run_cli(*args, *common)
        assert done.returncode == 0, (args, done.stderr[-3000:])
    assert f"wrote {outputs}/reports/{STUDY}.html" in done.stdout
    return outputs


def test_report_without_a_best_run_names_the_command(tmp_path: Path) -> None:
    done = run_cli("phase=report", "regime=switch", "debug=fast", f"paths.outputs={tmp_path}")
    assert done.returncode == 2
    assert "crypto-tune phase=best regime=switch debug=fast" in done.stderr, done.stderr
    done = run_cli("-m", "phase=report", "regime=switch", "debug=fast", f"paths.outputs={tmp_path}")
    assert done.returncode == 2 and "phase=report regime=switch" in done.stderr


@pytest.mark.slow
def test_the_page_has_its_sections_and_no_missing_numbers(switch_run: Path) -> None:
    page = (switch_run / "reports" / f"{STUDY}.html").read_text()
    for section in SECTIONS:
        assert f'id="{section}"' in page, section
    assert 'id="plot-equity"' in page and 'id="report-status"' in page
    for table in ("performance-table", "per-regime-table", "parameters-table"):
        assert f'id="{table}"' in page
    visible = re.sub(r"<script.*?</script>", "", page, flags=re.DOTALL)
    assert not re.search(r"\bnan\b|\bNone\b|\binf\b|undefined", visible, re.IGNORECASE)
    for text in ("switch, in sample", "single set, out of sample", "calm bars", "volatile bars"):
        assert text in visible
    assert "buy and hold, out of sample" in page  # issue 22.6: the page had no benchmark
    assert 'id="how"' in page and "predicted per regime set by one refit" in page
    best = json.loads((switch_run / "best" / STUDY / "workflow.best.json").read_text())
    assert best["robustness"]["family"]["holdout_looks"] == 1
    best = json.loads((switch_run / "best" / STUDY / "workflow.best.json").read_text())
    entry = best["regime_switch"]["calm"]["strategy_params"]["entry"]
    assert f"{entry:.4g}" in visible  # the calm set's entry, side by side with the others
    # logged to MLflow as the other reports are
    mlflow.set_tracking_uri(f"sqlite:///{switch_run}/mlflow.db")
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(f"{STUDY}.report")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == [f"{STUDY}.html"]


@pytest.mark.slow
def test_the_bands_are_the_causal_labels(switch_run: Path) -> None:
    """The page's bands are the hysteresis labels each bar had at its close: recomputed on the
    candles cut right after the bar, they are the same."""
    from crypto_tune.cli import preflight
    from crypto_tune.dataset import prepare_dataset
    from crypto_tune.regimes import switch_labels, volatility_regime
    from crypto_tune.report._switch import equity_figure, read_curves

    settings = preflight(
        ["phase=report", "regime=switch", "debug=fast", f"paths.outputs={switch_run}"]
    )
    candles = prepare_dataset(settings).candles
    curves = read_curves(switch_run / "best" / STUDY / "workflow.best.curves.parquet")
    assert set(curves["label"]) <= {"calm", "volatile", "unknown"}
    assert {"calm", "volatile"} <= set(curves["label"])
    assert np.isfinite(curves[["returns", "single_set"]].to_numpy()).all()
    regime = settings.regime
    positions = candles.index.get_indexer(curves.index)
    assert (positions >= 0).all()
    for cut in np.linspace(len(curves) // 10, len(curves) - 1, 5).astype(int):
        stop = int(positions[cut]) + 1  # the data end at the bar's close
        raw = volatility_regime(
            candles.iloc[:stop],
            window=regime.window,
            lookback=regime.lookback,
            quantile=regime.quantile,
        )
        known = switch_labels(raw, regime.confirm).astype(object).to_numpy()
        drawn = curves["label"].to_numpy()[: cut + 1]
        assert np.array_equal(known[positions[: cut + 1]].astype(str), drawn.astype(str))
    figure = equity_figure(curves)
    bands = {t.name: np.asarray(t.y) for t in figure.data if t.name.endswith(" bars")}
    assert set(bands) == {"calm bars", "volatile bars"}
    for name, y in bands.items():
        expected = (curves["label"] == name.split()[0]).to_numpy(dtype=float)
        assert np.array_equal(y, expected)
    # the holdout bars follow the in-sample bars, out of sample last
    segments = curves["segment"].to_numpy()
    assert pd.Index(curves.index).is_monotonic_increasing
    assert (segments[: (segments == "in_sample").sum()] == "in_sample").all()


def test_the_parameter_table_shows_the_leverage_the_backtest_applied() -> None:
    """On spot without borrowing the backtest caps the leverage at 1: the table shows that, and
    the tuned value beside it; a leverage under the cap, and a market that lends, stay as tuned."""
    from crypto_tune.report._switch_tables import parameters_table

    def strategy(**params: object) -> dict:
        return {"strategy_params": {"name": "zscore", "sizing": "fixed", **params}}

    document = {
        "regime_switch": {
            "calm": strategy(leverage=2.5, max_leverage=3.0),
            "volatile": strategy(leverage=0.5, max_leverage=1.0),
        },
        "comparison": {"single_set": strategy(leverage=1.0, max_leverage=2.0)},
        "costs": {"market": "spot", "max_leverage": 1.0},
    }

    def cells(page: str, key: str) -> list[str]:
        row = re.search(rf'<tr data-key="strategy_params.{key}">(.*?)</tr>', page)
        assert row is not None, key
        return re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))

    capped = "1 (the market&#x27;s limit: no borrowing), tuned "
    page = parameters_table(document)
    assert cells(page, "leverage") == [capped + "2.5", "0.5", "1"]
    assert cells(page, "max_leverage") == [capped + "3", "1", capped + "2"]
    document["costs"] = {"market": "spot", "max_leverage": None}  # a borrow rate: no cap
    assert cells(parameters_table(document), "leverage") == ["2.5", "0.5", "1"]
