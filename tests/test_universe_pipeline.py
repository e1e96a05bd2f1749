"""asset=universe end to end on synthetic universes of our own making: a planted cross-sectional
reversal is found (Phase 1 IC, Phase 2 portfolio, best run), a null universe is not."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import optuna
import pytest
from conftest import run_cli
from universe_market import universe_candles, write_universe

from crypto_tune.cli import preflight
from crypto_tune.exceptions import ConfigError

SYMBOLS = [f"S{j}USDT" for j in range(6)]


def _overrides(tmp_path: Path, *, reversal: float, seed: int = 1) -> list[str]:
    candles = universe_candles(
        n_symbols=6,
        n_bars=3000,
        reversal=reversal,
        seed=seed,
        late={5: 600},
        gaps={2: (1000, 1010)},
    )
    template = write_universe(tmp_path / "data", candles)
    return [
        "asset=universe",
        f"asset.path='{template}'",
        f"asset.symbols=[{','.join(SYMBOLS)}]",
        "features.windows=[5,10,20]",
        "debug=fast",
        "tracking.enabled=false",
        f"paths.outputs={tmp_path / 'out'}",
    ]


def test_inspect_shows_the_panel_and_the_folds(tmp_path: Path, capsys) -> None:
    from crypto_tune.phases import run_phase

    settings = preflight(["phase=inspect", *_overrides(tmp_path, reversal=0.0)])
    assert settings is not None
    run_phase(settings)
    out = capsys.readouterr().out
    assert "6 symbols" in out and "S5USDT" in out and "folds" in out


def test_universe_options_are_checked(tmp_path: Path) -> None:
    base = _overrides(tmp_path, reversal=0.0)
    with pytest.raises(ConfigError, match="does not run on asset=universe"):
        preflight(["phase=final", *base])
    with pytest.raises(ConfigError, match="the portfolio rule of a universe: use asset=universe"):
        preflight(["phase=model", "strategy=topk", "debug=fast", f"paths.outputs={tmp_path}"])
    with pytest.raises(ConfigError, match="add strategy=topk"):
        preflight(["phase=strategy", "phase.model_source=config", *base])
    with pytest.raises(ConfigError, match=r"universe\.long_only must be true"):
        preflight(["phase=strategy", "strategy=topk", "asset.market=spot", *base])
    with pytest.raises(ConfigError, match=r"universe\.top_k must be an int >= 1, got 0"):
        preflight(["phase=model", "universe.top_k=0", *base])
    with pytest.raises(ConfigError, match=r"universe\.label must be one of"):
        preflight(["phase=model", "universe.label=median", *base])


@pytest.mark.slow
def test_planted_reversal_is_found_end_to_end(tmp_path: Path) -> None:
    base = _overrides(tmp_path, reversal=0.15)
    done = run_cli("-m", "phase=model", "hydra.sweeper.n_trials=2", *base)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "universe of 6" in done.stdout
    db = f"sqlite:///{tmp_path / 'out'}/optuna.db"
    name = "default." + "+".join(SYMBOLS) + ".4h.all.static.h1"
    model = optuna.load_study(study_name=f"{name}.model", storage=db)
    assert model.best_value > 0.05  # the mean per-bar cross-sectional IC
    done = run_cli("-m", "phase=strategy", "strategy=topk", "hydra.sweeper.n_trials=20", *base)
    assert done.returncode == 0, done.stderr[-3000:]
    strategy = optuna.load_study(study_name=f"{name}.strategy", storage=db)
    assert len(strategy.trials) == 20 and strategy.best_value > 1.0
    # the same command resumes the same study; other inputs are refused
    done = run_cli(
        "-m",
        "phase=strategy",
        "strategy=topk",
        "hydra.sweeper.n_trials=2",
        "strategy.fee=0.002",
        *base,
    )
    assert done.returncode != 0 and "other inputs" in done.stdout + done.stderr

    done = run_cli("phase=best", "strategy=topk", *base)
    assert done.returncode == 0, done.stderr[-3000:]
    best = json.loads((tmp_path / "out" / "best" / name / "workflow.best.json").read_text())
    metrics = best["metrics"]
    assert metrics["out_of_sample"]["sharpe"] > 1.0
    assert metrics["out_of_sample"]["sharpe"] > metrics["benchmark"]["out_of_sample"]["sharpe"]
    assert metrics["model"]["holdout"]["rank_ic"] > 0.05
    assert set(best["symbols"]) == set(SYMBOLS)
    assert all(v["rank_ic_out_of_sample"] > 0 for v in best["symbols"].values())
    assert best["robustness"]["significant"] is True
    assert metrics["in_sample"]["turnover_per_year"] > 0
    family = best["robustness"]["family"]  # the whole search counted, every look at the holdout
    assert family["model_trials"] == 2 and family["strategy_trials"] == 20
    assert family["holdout_looks"] == 1 and "first look" in best["how"]["text"]
    done = run_cli("phase=report", "strategy=topk", *base)
    assert done.returncode == 0, done.stderr[-3000:]
    page = (tmp_path / "out" / "reports" / f"{name}.html").read_text()
    assert 'data-figure="contributions"' in page and "Verdict" in page
    assert 'class="symbols"' in page


@pytest.mark.slow
def test_a_null_universe_has_no_edge(tmp_path: Path) -> None:
    # the portfolio study trades a fixed (untuned) setting other than the config's
    base = [*_overrides(tmp_path, reversal=0.0, seed=4), "universe.max_gross=0.8"]
    for phase, trials in (("model", 2), ("strategy", 20)):
        done = run_cli(
            "-m", f"phase={phase}", "strategy=topk", f"hydra.sweeper.n_trials={trials}", *base
        )
        assert done.returncode == 0, done.stderr[-3000:]
    name = "default." + "+".join(SYMBOLS) + ".4h.all.static.h1"
    # a best run without it would trade the config's 1.0 under "no overrides": refused
    done = run_cli("phase=best", "strategy=topk", *base[:-1])
    assert done.returncode == 2
    assert (
        f"phase=best: study '{name}.strategy' traded other fixed settings than this run "
        "(universe.max_gross 0.8 -> 1.0): repeat universe.max_gross=0.8 on the command line"
    ) in done.stderr
    assert not (tmp_path / "out" / "best" / name / "workflow.best.json").exists()
    done = run_cli("phase=best", "strategy=topk", *base)  # repeated as the study ran: no override
    assert done.returncode == 0, done.stderr[-3000:]
    best = json.loads((tmp_path / "out" / "best" / name / "workflow.best.json").read_text())
    assert "no overrides" in best["how"]["text"]
    assert best["robustness"]["significant"] is False
    # another fee on the command line: an override, and so is the cost it resolves
    done = run_cli("phase=best", "strategy=topk", *base, "strategy.fee=0")
    assert done.returncode == 0, done.stderr[-3000:]
    fee_free = json.loads((tmp_path / "out" / "best" / name / "workflow.best.json").read_text())
    assert "overrides strategy.fee=0" in fee_free["how"]["text"]
    assert "do not trade" in best["robustness"]["verdict"]
    assert abs(best["metrics"]["model"]["rank_ic"]) < 0.03
    # the same files rewritten with other candles: the studies' verdict would judge another market
    write_universe(tmp_path / "data", universe_candles(n_symbols=6, n_bars=3000, seed=5))
    done = run_cli("phase=best", "strategy=topk", *base)
    assert done.returncode == 2
    assert (
        f"phase=best: study '{name}.model' was tuned on other data than this run reads (data "
        in (done.stderr)
    )


@pytest.mark.slow
def test_walkforward_retunes_every_window_and_resumes(tmp_path: Path) -> None:
    base = [
        *_overrides(tmp_path, reversal=0.15),
        "phase=walkforward",
        "strategy=topk",
        "split=walk_forward",
        "split.train_months=6",
        "split.test_months=3",
        "walkforward.model_trials=2",
        "walkforward.strategy_trials=8",
        "tracking.enabled=true",  # after _overrides' false: this run is logged to MLflow
    ]
    done = run_cli(*base)
    assert done.returncode == 0, done.stderr[-3000:]
    name = "default." + "+".join(SYMBOLS) + ".4h.all.walk_forward.h1"
    document = json.loads(
        (tmp_path / "out" / "best" / name / "walkforward.universe.json").read_text()
    )
    assert len(document["windows"]) == 4
    assert document["stitched"]["sharpe"] > document["benchmark"]["sharpe"]
    assert all(w["test_rank_ic"] > 0.03 for w in document["windows"])
    # how it was made: the studies, the data, the windows' budgets and objectives
    assert document["studies"][:2] == [f"{name}.wf0.model", f"{name}.wf0.strategy"]
    assert document["asset"]["symbols"] == SYMBOLS
    assert document["asset"]["data_fingerprint"]
    assert document["budgets"] == {"model_trials": 2, "strategy_trials": 8}
    assert document["split"]["train_months"] == 6 and document["universe"]["top_k"] == 2
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'out'}/mlflow.db")
    (run,) = mlflow.search_runs(experiment_names=[f"{name}.walkforward"], output_format="list")
    assert run.data.tags["data_fingerprint"] == document["asset"]["data_fingerprint"]
    assert run.data.params["budgets.model_trials"] == "2"
    assert run.data.metrics["stitched.sharpe"] == pytest.approx(document["stitched"]["sharpe"])
    steps = mlflow.MlflowClient().get_metric_history(run.info.run_id, "window.oos_sharpe")
    assert sorted(m.step for m in steps) == [0, 1, 2, 3]
    assert {d.dataset.name for d in run.inputs.dataset_inputs} == {f"{s}/4h" for s in SYMBOLS}
    artifacts = [a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)]
    assert "walkforward.universe.json" in artifacts
    again = run_cli(*base)  # every study is complete: nothing is tuned again
    assert again.returncode == 0, again.stderr[-3000:]
    assert "(0 tuned here" in again.stdout + again.stderr
    assert "(2 tuned here" not in again.stdout + again.stderr
