"""Study identity: names that say what a study measures, fingerprints that refuse a mix, and
per-study results (best run, report, replay)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from conftest import FAST, best_dir, run_cli

from crypto_tune.data import synthetic_market

pytestmark = pytest.mark.slow


def _csv(path: Path, seed: int) -> Path:
    candles = synthetic_market(seed=seed, n_bars=3000, planted_ic=0.1).candles
    candles.rename_axis("timestamp").reset_index().to_csv(path, index=False)
    return path


def _studies(outputs: Path) -> list[str]:
    return sorted(
        s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{outputs}/optuna.db")
    )


def _sweep(outputs: Path, *extra: str, trials: int = 2) -> object:
    return run_cli(
        "-m",
        "phase=model",
        *FAST,
        f"paths.outputs={outputs}",
        "tracking.enabled=false",
        f"hydra.sweeper.n_trials={trials}",
        *extra,
    )


def _one_line_refusal(done, *needles: str) -> None:
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_two_csv_symbols_get_two_studies_and_other_data_is_refused(
    tmp_path: Path, outputs: Path
) -> None:
    ada, link = _csv(tmp_path / "ada.csv", 1), _csv(tmp_path / "link.csv", 2)
    csv = ["asset=csv", "asset.timeframe=4h"]
    for path, symbol in ((ada, "ADAUSDT"), (link, "LINKUSDT")):
        done = _sweep(outputs, *csv, f"asset.path={path}", f"asset.symbol={symbol}")
        assert done.returncode == 0, done.stderr[-2000:]
    assert _studies(outputs) == [
        "default.ADAUSDT.4h.all.static.h1.model",
        "default.LINKUSDT.4h.all.static.h1.model",
    ]
    # the same symbol name on other candles: refused, naming what differs, nothing added
    done = _sweep(outputs, *csv, f"asset.path={link}", "asset.symbol=ADAUSDT")
    _one_line_refusal(done, "default.ADAUSDT.4h.all.static.h1.model", "data ", "experiment_name")
    study = optuna.load_study(
        study_name="default.ADAUSDT.4h.all.static.h1.model",
        storage=f"sqlite:///{outputs}/optuna.db",
    )
    assert len(study.trials) == 2


def test_split_and_horizon_are_part_of_the_name(outputs: Path) -> None:
    assert _sweep(outputs).returncode == 0
    assert _sweep(outputs, "split=walk_forward", "split.train_months=4").returncode == 0
    assert _sweep(outputs, "label.horizon=4").returncode == 0
    assert _studies(outputs) == [
        "default.SYNTH.4h.all.static.h1.model",
        "default.SYNTH.4h.all.static.h4.model",
        "default.SYNTH.4h.all.walk_forward.h1.model",
    ]


def test_a_changed_fixed_setting_is_refused_a_tuned_one_is_not(outputs: Path) -> None:
    assert _sweep(outputs).returncode == 0
    # model.max_depth is not in the search space: other trials would score another model family
    _one_line_refusal(_sweep(outputs, "model.max_depth=3"), "model.max_depth -1 -> 3")
    _one_line_refusal(_sweep(outputs, "phase.objective=rank_ic"), "objective ic -> rank_ic")
    # a tuned parameter given a narrower range resumes the same study
    done = _sweep(outputs, "model.num_leaves=range(4,8)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _studies(outputs) == ["default.SYNTH.4h.all.static.h1.model"]


def test_study_name_override_is_honoured_by_every_phase(outputs: Path) -> None:
    named = ["study.name=mine", f"paths.outputs={outputs}", *FAST, "tracking.enabled=false"]
    assert _sweep(outputs, "study.name=mine").returncode == 0
    done = run_cli("-m", "phase=strategy", "hydra.sweeper.n_trials=5", *named)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "model from study:mine.model#" in done.stdout + done.stderr
    done = run_cli("phase=best", *named)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (outputs / "best" / "mine" / "workflow.best.json").is_file()
    # the best run's look at the holdout is counted beside the study line's studies
    assert _studies(outputs) == ["mine.holdout", "mine.model", "mine.strategy"]


def test_missing_study_hint_repeats_the_overrides(outputs: Path) -> None:
    done = run_cli("-m", "phase=strategy", *FAST, f"paths.outputs={outputs}", "regime=calm")
    _one_line_refusal(done, "default.SYNTH.4h.calm.static.h1.model", "regime=calm")
    assert "run `crypto-tune -m phase=model" in done.stderr


def test_best_and_report_are_per_study_and_replay_needs_no_study(
    tmp_path: Path, outputs: Path
) -> None:
    runs = {}
    for name in ("first", "second"):
        common = [f"experiment_name={name}", f"paths.outputs={outputs}", *FAST]
        common += ["tracking.enabled=false"]
        assert _sweep(outputs, f"experiment_name={name}").returncode == 0
        done = run_cli("-m", "phase=strategy", "hydra.sweeper.n_trials=8", *common)
        assert done.returncode == 0, done.stderr[-2000:]
        assert run_cli("phase=best", *common).returncode == 0
        runs[name] = outputs / "best" / f"{name}.SYNTH.4h.all.static.h1" / "workflow.best.json"
        assert runs[name].is_file()
    first = json.loads(runs["first"].read_text())
    assert first["study"] == "first.SYNTH.4h.all.static.h1"

    done = run_cli("phase=report", "experiment_name=first", f"paths.outputs={outputs}", *FAST)
    assert done.returncode == 0, done.stderr[-2000:]
    html = (outputs / "reports" / "first.SYNTH.4h.all.static.h1.html").read_text()
    assert "first.SYNTH.4h.all.static.h1" in html and "second.SYNTH" not in html
    # a report never shows another study's best run
    done = run_cli(
        "phase=report",
        "experiment_name=first",
        f"paths.outputs={outputs}",
        f"best.from={runs['second']}",
        *FAST,
    )
    _one_line_refusal(done, "belongs to study 'second.SYNTH.4h.all.static.h1'")

    # replay from another outputs folder, on a "machine" without the studies
    elsewhere = tmp_path / "elsewhere"
    before = runs["first"].read_bytes()
    # replay as the README writes it: the file's own data overrides (debug=fast) are applied
    done = run_cli("phase=best", f"paths.outputs={elsewhere}", f"best.from={runs['first']}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "replaying on" in done.stdout and "debug=fast" in done.stdout
    assert runs["first"].read_bytes() == before
    redo = json.loads((best_dir(elsewhere) / "workflow.best.json").read_text())
    assert redo["strategy"]["params"] == first["strategy"]["params"]
    assert redo["metrics"]["out_of_sample"] == first["metrics"]["out_of_sample"]
    # replaying a file onto itself keeps it (a new file is written beside it)
    done = run_cli(
        "phase=best",
        "experiment_name=first",
        f"paths.outputs={outputs}",
        f"best.from={runs['first']}",
        *FAST,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert runs["first"].read_bytes() == before
    assert len(list(runs["first"].parent.glob("workflow.best*.json"))) == 2
    # a replay on other candles is refused
    done = run_cli(
        "phase=best",
        f"paths.outputs={elsewhere}",
        f"best.from={runs['first']}",
        "asset.synthetic.seed=99",
        *FAST,
    )
    _one_line_refusal(done, "best.from:", "data ")
    done = run_cli("phase=best", f"paths.outputs={elsewhere}", "best.from=/no/such.json", *FAST)
    _one_line_refusal(done, "best.from: no such file: /no/such.json")
