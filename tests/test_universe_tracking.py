"""A universe's runs in MLflow, read back from the real local store: a Phase 1 sweep opens its
parent run, its trials nest under it, and every run names each symbol's candles as an MLflow
dataset whose digest is that symbol's data fingerprint (computed here from the file)."""

from __future__ import annotations

import warnings
from pathlib import Path

import mlflow
from conftest import run_cli
from universe_market import universe_candles, write_universe

from crypto_tune.data import load_candles
from crypto_tune.dataset import data_fingerprint

warnings.filterwarnings("ignore", module="mlflow")
SYMBOLS = [f"S{j}USDT" for j in range(4)]


def test_a_universe_sweep_is_one_parent_run_naming_every_symbols_data(tmp_path: Path) -> None:
    candles = universe_candles(n_symbols=4, n_bars=2500, reversal=0.1, seed=3, late={3: 500})
    template = write_universe(tmp_path / "data", candles)
    outputs = tmp_path / "out"
    done = run_cli(
        "-m",
        "phase=model",
        "asset=universe",
        f"asset.path='{template}'",
        f"asset.symbols=[{','.join(SYMBOLS)}]",
        "features.windows=[5,10,20]",
        "debug=fast",
        "hydra.sweeper.n_trials=2",
        f"paths.outputs={outputs}",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "not opened" not in done.stdout + done.stderr  # the parent run opened
    expected = {
        f"{s}/4h": data_fingerprint(
            load_candles(template.replace("{symbol}", s), timeframe="4h")[0]
        )
        for s in SYMBOLS
    }
    mlflow.set_tracking_uri(f"sqlite:///{outputs}/mlflow.db")
    study = "default." + "+".join(SYMBOLS) + ".4h.all.static.h1.model"
    runs = mlflow.search_runs(experiment_names=[study], output_format="list")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [p.info.run_name for p in parents] == ["sweep-model"]
    trials = [r for r in runs if r is not parents[0]]
    assert len(trials) == 2
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in trials)
    for run in runs:
        logged = {d.dataset.name: d.dataset.digest for d in run.inputs.dataset_inputs}
        assert logged == expected, run.info.run_name
