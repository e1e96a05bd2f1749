"""The model and portfolio a universe's best run trades (crypto_tune/phases/_universe_choice.py):
the studies' choices, the command line's ``model.*``/``strategy.*``/``universe.*`` over them, a
replayed ``workflow.best.json`` (its model too) checked against this run's panel; the holdout
predicted by one refit or retrained every ``best.retrain_months``; the ``best.*`` option it does
not honour refused in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from universe_market import universe_candles, write_universe

from crypto_tune.cli import preflight
from crypto_tune.exceptions import ConfigError

SYMBOLS = [f"S{j}USDT" for j in range(6)]
NAME = "default." + "+".join(SYMBOLS) + ".4h.all.static.h1"


def _base(tmp_path: Path, *, seed: int = 1, symbols: list[str] = SYMBOLS) -> list[str]:
    folder = tmp_path / f"data{seed}"
    if folder.is_dir():
        template = str(folder / "binance_{symbol}_4h.csv")
    else:
        candles = universe_candles(n_symbols=6, n_bars=3000, reversal=0.15, seed=seed)
        template = write_universe(folder, candles)
    return [
        "asset=universe",
        f"asset.path='{template}'",
        f"asset.symbols=[{','.join(symbols)}]",
        "features.windows=[5,10,20]",
        "phase.model_source=config",  # no Phase 1 study: the config's model
        "debug=fast",
        "tracking.enabled=false",
        f"paths.outputs={tmp_path / 'out'}",
    ]


def _error(args: list[str]) -> str:
    with pytest.raises(ConfigError) as caught:
        preflight(args)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_best_options_a_universe_does_not_honour_are_refused(tmp_path: Path) -> None:
    base = ["phase=best", "strategy=topk", *_base(tmp_path)]
    message = _error([*base, "best.selection=robust"])
    assert message.startswith("best.selection must be best on asset=universe")
    assert message.endswith("got 'robust'")


def _holdout(base: list[str], *extra: str) -> tuple[Any, np.ndarray]:
    """The context and holdout predictions of the config's model, as phase=best makes them
    (the settings of a Phase 2 run: no study needed)."""
    from crypto_tune.phases._universe_best import holdout_predictions
    from crypto_tune.phases._universe_strategy import universe_context

    settings = preflight(["phase=strategy", "strategy=topk", *base, *extra])
    assert settings is not None
    context = universe_context(settings)
    retrain = settings.best.retrain_months
    return context, holdout_predictions(settings, context, settings.model, retrain_months=retrain)


def test_the_holdout_retrained_every_month_learns_only_from_the_past(tmp_path: Path) -> None:
    """``best.retrain_months``: each block of the holdout (2022-01-01..05-15 here) is predicted
    by a refit on every bar before it. A block longer than the holdout is the one refit; the
    first month's block trains on the refit's span; truncating the candles after March leaves
    January and February's predictions as they were."""
    base = _base(tmp_path)
    context, refit = _holdout(base)
    _, yearly = _holdout(base, "best.retrain_months=12")
    _, monthly = _holdout(base, "best.retrain_months=1")
    data = context.data
    rows = data.rows(np.asarray(data.holdout.test_idx))
    assert np.isfinite(refit[rows]).all() and np.isnan(np.delete(refit, rows)).all()
    np.testing.assert_array_equal(yearly, refit)
    np.testing.assert_array_equal(np.isnan(monthly), np.isnan(refit))
    when = data.panel.index[data.panel.bar[rows]]
    january = rows[when < pd.Timestamp("2022-02-01", tz="UTC")]
    later = rows[when >= pd.Timestamp("2022-02-01", tz="UTC")]
    np.testing.assert_array_equal(monthly[january], refit[january])
    assert not np.allclose(monthly[later], refit[later])  # retrained models from February

    folder = tmp_path / "data1"
    cut = tmp_path / "cut"
    cut.mkdir()
    for file in folder.glob("*.csv"):
        frame = pd.read_csv(file)
        frame[frame.iloc[:, 0] < "2022-03-01"].to_csv(cut / file.name, index=False)
    truncated = [a for a in base if not a.startswith(("asset.path", "paths.outputs"))]
    truncated += [
        f"asset.path='{cut / 'binance_{symbol}_4h.csv'}'",
        f"paths.outputs={tmp_path / 'out_cut'}",
        "split.holdout_end=2022-02-28",  # the data's end: no block without bars
    ]
    short, past = _holdout(truncated, "best.retrain_months=1")
    early = when < pd.Timestamp("2022-03-01", tz="UTC") - pd.Timedelta(hours=4)
    bars = data.panel.bar[rows][early]
    syms = data.panel.sym[rows][early]
    panel = short.data.panel
    position = {(b, s): r for r, (b, s) in enumerate(zip(panel.bar, panel.sym, strict=True))}
    short_rows = np.array([position[(b, s)] for b, s in zip(bars, syms, strict=True)])
    assert np.isfinite(past[short_rows]).all()
    np.testing.assert_array_equal(past[short_rows], monthly[rows[early]])


def test_a_two_objective_study_is_chosen_from_by_best_pareto(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optuna
    from optuna.distributions import IntDistribution

    from crypto_tune.phases._universe_choice import choose_universe

    study = optuna.create_study(directions=["maximize", "minimize"])
    space = {"universe.top_k": IntDistribution(1, 4)}
    for top_k, values in ((1, [2.0, 0.5]), (2, [1.9, 0.1]), (3, [1.0, 0.05])):  # one front
        trial = optuna.trial.create_trial(
            params={"universe.top_k": top_k}, distributions=space, values=values
        )
        study.add_trial(trial)
    monkeypatch.setattr("crypto_tune.study.load_study", lambda settings, phase: study)
    base = ["phase=best", "strategy=topk", "hparams_search=strategy_pareto", *_base(tmp_path)]
    for rule, top_k in (("utopia", 2), ("first", 1)):  # utopia: the balanced compromise
        settings = preflight([*base, f"best.pareto={rule}"])
        assert settings is not None
        choice = choose_universe(settings)
        assert choice.settings.universe.top_k == top_k and choice.trial_id == top_k - 1
        assert choice.source.endswith(f"#{top_k - 1} (Pareto front of 3, best.pareto={rule})")


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A Phase 2 study of 6 portfolio trials on a planted-reversal universe."""
    tmp = tmp_path_factory.mktemp("universe_choice")
    base = _base(tmp)
    done = run_cli("-m", "phase=strategy", "strategy=topk", *base)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp, base


def _best(args: list[str]) -> tuple[dict[str, Any], Path]:
    """Run phase=best in this process; the document it wrote (the newest) and its path."""
    from crypto_tune.phases import run_phase
    from crypto_tune.phases._results import best_folder

    settings = preflight(["phase=best", "strategy=topk", *args])
    assert settings is not None
    run_phase(settings)
    files = sorted(
        best_folder(settings).glob("workflow.best*.json"), key=lambda p: p.stat().st_mtime
    )
    return json.loads(files[-1].read_text()), files[-1]


@pytest.mark.slow
def test_command_line_overrides_win_over_the_trial(tuned: tuple[Path, list[str]]) -> None:
    _, base = tuned
    plain, path = _best(base)
    strategy = plain["strategy"]
    trial_top_k = strategy["tuned"]["universe.top_k"]
    assert strategy["universe"]["top_k"] == trial_top_k

    before = set(path.parent.glob("workflow.best*"))
    top_k = 1 if trial_top_k != 1 else 2
    found, path = _best([*base, f"universe.top_k={top_k}", "strategy.slippage=0.0005"])
    strategy = found["strategy"]
    assert strategy["universe"]["top_k"] == top_k  # the command line won over the trial
    assert strategy["params"]["slippage"] == 0.0005
    assert plain["strategy"]["overrides"] == {} and "no overrides" in plain["how"]["text"]
    assert strategy["overrides"] == {"strategy.slippage": 0.0005, "universe.top_k": top_k}
    assert strategy["tuned"] == plain["strategy"]["tuned"]  # the trial's, as recorded
    assert strategy["source"] == plain["strategy"]["source"]
    assert f"overrides strategy.slippage=0.0005, universe.top_k={top_k}" in found["how"]["text"]
    assert found["how"]["overrides"] == strategy["overrides"]
    # no longer trial N: the verdict's family is the study's, none left out by number
    number = int(plain["strategy"]["source"].rsplit("#", 1)[1])
    assert plain["robustness"]["chosen"] == f"strategy#{number}"
    robustness = found["robustness"]
    assert robustness["chosen"] is None
    assert (
        robustness["family"]["strategy_trials"] == plain["robustness"]["family"]["strategy_trials"]
    )
    assert found["how"]["holdout_looks"] == plain["how"]["holdout_looks"] + 1  # a new look
    # best.overwrite: the result made with other settings is kept, with its curves
    assert path.name == "workflow.best.json"
    assert (path.parent / "workflow.best.universe_curves.csv").is_file()
    kept = sorted(set(path.parent.glob("workflow.best*")) - before)
    assert [p.suffix for p in kept] == [".json", ".csv"], kept
    assert kept[1].name == kept[0].name.removesuffix(".json") + ".universe_curves.csv"
    assert json.loads(kept[0].read_text())["strategy"] == plain["strategy"]


@pytest.mark.slow
def test_a_replay_trades_the_files_portfolio_on_its_data_only(
    tuned: tuple[Path, list[str]],
) -> None:
    tmp, base = tuned
    made, path = _best([*base, "universe.top_k=3", "universe.rebalance=2"])
    file = tmp / "replayed.json"
    shutil.copy(path, file)
    again, _ = _best([*base, f"best.from={file}"])
    strategy = again["strategy"]
    assert strategy["source"] == f"file:{file}"
    assert strategy["tuned"] == made["strategy"]["tuned"]
    assert strategy["overrides"] == made["strategy"]["overrides"]
    assert strategy["universe"] == made["strategy"]["universe"]
    assert again["metrics"]["out_of_sample"] == made["metrics"]["out_of_sample"]
    assert again["metrics"]["in_sample"] == made["metrics"]["in_sample"]
    assert again["robustness"]["chosen"] is None
    assert f"portfolio file:{file}" in again["how"]["text"]
    # replaying the file is the same look at the holdout as the run that wrote it
    assert again["how"]["settings_key"] == made["how"]["settings_key"]
    assert again["how"]["holdout_looks"] == made["how"]["holdout_looks"]
    # the command line wins over the replayed file too
    over, _ = _best([*base, f"best.from={file}", "universe.top_k=1"])
    assert over["strategy"]["universe"]["top_k"] == 1
    assert over["strategy"]["universe"]["rebalance"] == 2
    assert over["strategy"]["overrides"]["universe.top_k"] == 1

    # the file is refused on other data: other candles, other symbols, another kind of run
    message = _error(["phase=best", "strategy=topk", f"best.from={file}", *_base(tmp, seed=2)])
    assert message.startswith(f"best.from: {file} was made on other inputs than this run's")
    assert "asset.data_fingerprint" in message
    fewer = _base(tmp, symbols=SYMBOLS[:5])
    message = _error(["phase=best", "strategy=topk", f"best.from={file}", *fewer])
    assert f"asset.symbols {SYMBOLS} in the file, {SYMBOLS[:5]} here" in message
    single = tmp / "single.json"
    single.write_text(json.dumps({"model": {"params": {}}, "strategy": {"params": {}}}))
    message = _error(["phase=best", "strategy=topk", f"best.from={single}", *base])
    assert message == (
        f"best.from: {single} is not a universe's workflow.best.json, this run is asset=universe"
    )


@pytest.mark.slow
def test_the_model_is_overridden_recorded_and_replayed(tuned: tuple[Path, list[str]]) -> None:
    """The command line's ``model.*`` win over the resolved model and are recorded; a replay
    trades the file's model (its ``model.params``), not this run's config or study."""
    tmp, base = tuned
    plain, _ = _best(base)
    assert plain["model"]["source"] == "config" and plain["model"]["overrides"] == {}
    made, path = _best([*base, "model.num_leaves=5", "model.min_data_in_leaf=50"])
    model = made["model"]
    assert model["params"]["num_leaves"] == 5 and model["params"]["min_data_in_leaf"] == 50
    assert model["overrides"] == {"num_leaves": 5, "min_data_in_leaf": 50}
    assert model["predictions"] != plain["model"]["predictions"]  # another model's
    assert "overrides model.num_leaves=5, model.min_data_in_leaf=50" in made["how"]["text"]
    assert made["how"]["overrides"] == {"model.num_leaves": 5, "model.min_data_in_leaf": 50}
    assert made["robustness"]["chosen"] is None  # no longer the trial's portfolio
    assert made["how"]["holdout_looks"] == plain["how"]["holdout_looks"] + 1

    file = tmp / "model_replayed.json"
    shutil.copy(path, file)
    again, _ = _best([*base, f"best.from={file}"])  # no model.* on this command line
    assert again["model"]["source"] == f"file:{file}" and again["model"]["overrides"] == {}
    assert again["model"]["params"] == model["params"]
    assert again["model"]["predictions"] == model["predictions"]
    assert again["metrics"]["out_of_sample"] == made["metrics"]["out_of_sample"]
    assert f"model file:{file}" in again["how"]["text"]
    # no Phase 1 study in these outputs: a replay (the file's model) and a report (the file
    # alone) need none, whatever phase.model_source says
    default_source = [a for a in base if a != "phase.model_source=config"]
    replayed, _ = _best([*default_source, f"best.from={file}"])
    assert replayed["model"]["params"] == model["params"]
    from crypto_tune.phases import run_phase

    settings = preflight(["phase=report", "strategy=topk", *default_source])
    assert settings is not None
    run_phase(settings)

    older = json.loads(file.read_text())
    del older["model"]["params"]  # as written before a universe recorded its model
    file.write_text(json.dumps(older))
    with pytest.raises(ConfigError) as caught:
        _best([*base, f"best.from={file}"])
    assert str(caught.value).startswith(f"best.from: {file} has no model.params")


@pytest.mark.slow
def test_a_retrained_holdout_is_said_and_counted_as_another_look(
    tuned: tuple[Path, list[str]],
) -> None:
    _, base = tuned
    plain, _ = _best(base)
    found, _ = _best([*base, "best.retrain_months=1"])
    how = found["how"]
    assert how["holdout_model"] == "retrained" and how["retrain_months"] == 1
    assert plain["how"]["holdout_model"] == "refit" and plain["how"]["retrain_months"] == 0
    assert "a model retrained every 1 month(s) on everything before" in how["text"]
    assert found["strategy"]["holdout_retrain_months"] == 1
    assert found["strategy"]["tuned"] == plain["strategy"]["tuned"]
    assert found["metrics"]["in_sample"] == plain["metrics"]["in_sample"]
    assert found["metrics"]["out_of_sample"] != plain["metrics"]["out_of_sample"]
    assert how["holdout_looks"] == plain["how"]["holdout_looks"] + 1


def test_a_look_with_the_configs_model_is_keyed_on_its_parameters(tmp_path: Path) -> None:
    """The holdout look of a universe traded with the config's model (or a file's) is told
    apart by the model's parameters: editing the model in the config is another look. A model
    from a Phase 1 trial is named by its trial (its key as before)."""
    import dataclasses

    from crypto_tune.phases._universe_choice import UniverseChoice, record_universe_look

    settings = preflight(["phase=strategy", "strategy=topk", *_base(tmp_path)])
    assert settings is not None

    def look(model_source: str, num_leaves: int, origin: str | None = None) -> dict[str, Any]:
        model = dataclasses.replace(settings.model, num_leaves=num_leaves)
        choice = UniverseChoice(
            settings,
            {"universe.top_k": 2},
            {},
            "study:s#1",
            None,
            1,
            model,
            model_source,
            {},
            origin,
        )
        return record_universe_look(choice)

    assert look("config", 15)["looks"] == 1
    assert look("config", 15)["new"] is False  # the same look again
    edited = look("config", 9)  # the config's model edited: another look
    assert (edited["new"], edited["looks"], edited["this_look"]) == (True, 2, 2)
    first = look("study:m#4", 15)
    assert first["new"] is True and look("study:m#4", 9)["new"] is False
    # a replay of the file that trial's best run wrote: the same look, not another one
    replayed = look("file:/x/workflow.best.json", 15, origin="study:m#4")
    assert replayed["new"] is False and replayed["key"] == first["key"]


def test_a_setting_the_study_was_run_with_is_no_override() -> None:
    """Before, ``universe.long_only=true`` (which a spot study's best run must repeat) was
    reported as a manual override: "overrides universe.long_only=True" and no chosen trial."""
    import optuna

    from crypto_tune.fingerprint import ATTR
    from crypto_tune.phases._study_settings import beyond_study

    study = optuna.create_study()
    study.set_user_attr(
        ATTR, {"universe.long_only": True, "universe.top_k": 2, "strategy.slippage": 0.0002}
    )
    given = {
        "universe.long_only": True,  # as the study ran: no override
        "universe.top_k": 2,  # tuned (the trial's is 3): an override
        "strategy.slippage": 0.0005,  # other than the study's: an override
        "universe.max_gross": 1.0,  # not recorded: kept
    }
    assert beyond_study(given, study, {"universe.top_k": 3}) == {
        "universe.top_k": 2,
        "strategy.slippage": 0.0005,
        "universe.max_gross": 1.0,
    }
    assert beyond_study(given, optuna.create_study(), {}) == given  # no fingerprint: all kept
