"""The command line: wrong input fails at start with one line, exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FAST, ROOT, SHARED_DATA, run_cli

pytestmark = pytest.mark.slow  # each case starts a Python process (~2 s)


def _assert_one_line_error(done, *needles: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("crypto-tune: error: ")
    assert "Traceback" not in done.stderr + done.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            ["asset=nope"],
            ["asset=nope", "available: basket, binance, btc, csv, eth, sol, synthetic"],
        ),
        (["label.horizon=0"], ["label.horizon", "got 0"]),
        (["strategy.leverage=-1"], ["strategy.leverage", "-1"]),
        (["strategy.stop_loss=1.5"], ["strategy.stop_loss", "1.5"]),
        (["split.tune_end=2024-02-01"], ["split.tune_end", "split.holdout_start"]),
        (["strategy.leverag=2"], ["strategy.leverag", "leverage"]),
        (["strategy=["], ["strategy=["]),
        (["model.num_leaves=many"], ["model.num_leaves", "many"]),
        (["phase=model", "strategy.leverage=1,2"], ["strategy.leverage=1,2", "-m"]),
        (["-m", "phase=inspect"], ["phase=inspect", "single run"]),
        (["asset=csv", "asset.symbol=X"], ["asset.path", "required"]),
    ],
)
def test_bad_values_fail_at_start(args: list[str], needles: list[str], outputs: Path) -> None:
    done = run_cli(*args, f"paths.outputs={outputs}")
    _assert_one_line_error(done, *needles)
    assert not any(outputs.iterdir()), "nothing may be written on a config error"


def test_bad_csv_names_file_and_row(tmp_path: Path, outputs: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,10,11,9,10.5,100\n"
        "2024-01-01T04:00:00Z,10.5,abc,10,11,100\n"
    )
    done = run_cli(
        "phase=inspect",
        "asset=csv",
        f"asset.path={bad}",
        "asset.symbol=BAD",
        f"paths.outputs={outputs}",
    )
    _assert_one_line_error(done, "bad.csv", "high")


def test_missing_file_is_named(outputs: Path) -> None:
    done = run_cli(
        "phase=inspect",
        "asset=csv",
        "asset.path=/no/such/file.csv",
        "asset.symbol=X",
        f"paths.outputs={outputs}",
    )
    _assert_one_line_error(done, "/no/such/file.csv")


def test_unreachable_postgres_masks_the_password(outputs: Path, experiment: str) -> None:
    url = "postgresql://crypto_tune:TopSecret42@127.0.0.1:5999/crypto_tune"
    done = run_cli(
        "-m",
        "phase=model",
        "storage=postgres",
        f"storage.url={url}",
        f"experiment_name={experiment}",
        f"paths.outputs={outputs}",
        "debug=fast",
    )
    _assert_one_line_error(done, "unreachable", "***")
    assert "TopSecret42" not in done.stdout + done.stderr


def test_wrong_postgres_password(pg_url: str, outputs: Path, experiment: str) -> None:
    url = pg_url.replace(":crypto_tune@", ":WrongPassword9@")
    done = run_cli(
        "-m",
        "phase=model",
        "storage=postgres",
        f"storage.url={url}",
        f"experiment_name={experiment}",
        f"paths.outputs={outputs}",
        "debug=fast",
    )
    _assert_one_line_error(done, "password authentication failed", "***")
    assert "WrongPassword9" not in done.stdout + done.stderr
    import optuna

    from crypto_tune.config._resolvers import database_url

    names = [s.study_name for s in optuna.get_all_study_summaries(database_url(pg_url))]
    assert not any(experiment in name for name in names), "no study may be created"


def test_inspect_runs_from_any_directory(tmp_path: Path) -> None:
    done = run_cli("phase=inspect", "debug=fast", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "rows:" in done.stdout and "holdout" in done.stdout
    assert (tmp_path / "outputs").is_dir()  # paths.outputs defaults to outputs/ in the cwd
    assert not (ROOT / "conf" / "outputs").exists()


def test_inspect_real_eth(shared_data: Path, outputs: Path) -> None:
    done = run_cli("phase=inspect", "asset=eth", f"paths.outputs={outputs}")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "rows:       18,370" in out
    assert "8 gap(s), 16 missing bar(s)" in out
    assert "2021-01-01" in out and "holdout" in out


def test_help_lists_groups_and_objectives() -> None:
    done = run_cli("--help")
    assert done.returncode == 0, done.stderr
    assert "asset: basket, binance, btc, csv, eth, sol, synthetic" in done.stdout
    assert "Phase 2 objective: sharpe|sortino|calmar|sharpe_dd" in done.stdout


def test_walk_forward_inspect_shows_rolling_folds(outputs: Path) -> None:
    done = run_cli("phase=inspect", "split=walk_forward", f"paths.outputs={outputs}")
    assert done.returncode == 0, done.stderr
    assert "split=walk_forward" in done.stdout
    # tune 2021-2023 with a 12-month train window stepping by 3 months: 8 test blocks
    rows = [line for line in done.stdout.splitlines() if line.strip().split(" ")[0].isdigit()]
    assert len(rows) == 8, done.stdout


SWEEP = ["-m", "phase=strategy", "debug=fast", "phase.model_source=config"]


@pytest.mark.parametrize("n_trials", ["0", "-1"])
def test_sweep_without_trials_fails_at_start(n_trials: str, outputs: Path) -> None:
    done = run_cli(*SWEEP, f"hydra.sweeper.n_trials={n_trials}", f"paths.outputs={outputs}")
    _assert_one_line_error(done, "hydra.sweeper.n_trials", n_trials)
    assert not any(outputs.iterdir()), "no optuna.db, no cache, no sweep folder"


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["strategy.leverage=interval(0,2)"], ["strategy.leverage=interval(0,2)", "0.0"]),
        (["strategy.leverage=choice(1,2,200)"], ["strategy.leverage=choice(1,2,200)", "200"]),
        (["strategy.stop_loss=interval(0.1,0.05)"], ["strategy.stop_loss", "low <= high"]),
        (["strategy.nope=interval(1,2)"], ["strategy.nope", "not a known key"]),
        (["model.num_leaves=range(1,10)"], ["model.num_leaves=range(1,10)", "1"]),
        (["model.max_depth=range(-1,5)"], ["model.max_depth=range(-1,5)", "0"]),
    ],
)
def test_sweep_range_with_an_invalid_value_fails_at_start(
    args: list[str], needles: list[str], outputs: Path
) -> None:
    done = run_cli(*SWEEP, *args, f"paths.outputs={outputs}")
    _assert_one_line_error(done, *needles)
    assert not any(outputs.iterdir()), "checked before the first trial: nothing written"


def test_sweep_range_within_the_schema_passes(outputs: Path, experiment: str) -> None:
    done = run_cli(
        *SWEEP,
        "strategy.leverage=interval(0.5,2)",
        "hydra.sweeper.n_trials=1",
        "tracking.enabled=false",
        f"paths.outputs={outputs}",
        f"experiment_name={experiment}",
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_multirun_cfg_job_prints_the_config(outputs: Path) -> None:
    args = ["strategy.leverage=interval(1,2)", f"paths.outputs={outputs}"]
    done = run_cli(*SWEEP, *args, "--cfg", "job")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "strategy:" in done.stdout and "phase:" in done.stdout
    assert not any(outputs.iterdir())


def test_failed_single_run_leaves_no_run_folder(tmp_path: Path, outputs: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,10,11,9,x,1\n")
    done = run_cli(
        "phase=inspect",
        "asset=csv",
        f"asset.path={bad}",
        "asset.symbol=X",
        f"paths.outputs={outputs}",
    )
    _assert_one_line_error(done, "bad.csv")
    assert not any(outputs.iterdir()), [str(p) for p in outputs.rglob("*")]


def test_missing_best_from_file_is_one_line(outputs: Path) -> None:
    missing = outputs.parent / "nope" / "workflow.best.json"
    done = run_cli("phase=best", "debug=fast", f"best.from={missing}", f"paths.outputs={outputs}")
    _assert_one_line_error(done, f"best.from: no such file: {missing}")
    assert not any(outputs.iterdir()), [str(p) for p in outputs.rglob("*")]


@pytest.mark.parametrize("swept", ["regime=calm,volatile", "asset=eth,btc"])
def test_sweeping_a_config_group_is_refused_with_the_way_out(swept: str, outputs: Path) -> None:
    done = run_cli("-m", "phase=strategy", swept, f"paths.outputs={outputs}")
    _assert_one_line_error(done, f"{swept}: a config group cannot be a parameter of one study")
    assert not (outputs / "optuna.db").exists()


def test_a_password_in_the_url_never_reaches_the_run_snapshot(outputs: Path) -> None:
    url = "postgresql://someone:SECRETPW42@127.0.0.1:9/nodb"
    done = run_cli("phase=inspect", *FAST, f"paths.outputs={outputs}", f"storage.url={url}")
    assert done.returncode == 0, done.stderr[-2000:]
    written = [p for p in outputs.rglob("*") if p.is_file()]
    assert any(p.name == "overrides.yaml" for p in written)  # the snapshot is kept...
    for path in written:  # ...with the password masked
        assert b"SECRETPW42" not in path.read_bytes(), path
    assert "SECRETPW42" not in done.stdout + done.stderr


def test_failure_guard_stops_a_sweep_that_keeps_failing() -> None:
    from crypto_tune._sweep_guards import FailureGuard
    from crypto_tune.exceptions import InvalidTrialError

    guard = FailureGuard(min_trials=5, max_rate=0.5)
    for _ in range(2):
        assert guard.record(None) is None
    for _ in range(2):
        assert guard.record(InvalidTrialError("bad")) is None  # 2 of 4: not enough trials yet
    assert guard.record(InvalidTrialError("worse")) == "3 of 5 trials failed; last: worse"


def test_a_ctrl_c_lost_in_a_finalizer_stops_the_next_trial(monkeypatch) -> None:
    """SIGINT inside a trial raises at once; when it lands in a finalizer (a LightGBM booster's
    ``__del__``), Python ignores the exception and the trial goes on: the next trial's start
    raises it (CI lost one such Ctrl-C: the sweep ran to its end with exit 0)."""
    import signal
    import sys

    from crypto_tune._sweep_guards import DeferredInterrupt

    ignored: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    guard = DeferredInterrupt()
    guard.enter_task()

    class Finalised:
        def __del__(self) -> None:
            guard._handle(signal.SIGINT, None)

    Finalised()  # collected at once: its __del__ takes the signal, and Python ignores it
    assert len(ignored) == 1 and isinstance(ignored[0].exc_value, KeyboardInterrupt)
    guard.in_task = False  # the trial ended normally
    with pytest.raises(KeyboardInterrupt):
        guard.enter_task()  # the next trial stops before any work
    # between trials an interrupt is held (once); inside a trial it raises
    held = DeferredInterrupt()
    held._handle(signal.SIGINT, None)
    with pytest.raises(KeyboardInterrupt):
        held._handle(signal.SIGINT, None)  # a second Ctrl-C is never held
    inside = DeferredInterrupt()
    inside.enter_task()
    with pytest.raises(KeyboardInterrupt):
        inside._handle(signal.SIGINT, None)


# Issue 22, item 7: commands that used to succeed (or fail) by accident.


@pytest.mark.parametrize("phase", ["model", "strategy"])
def test_a_sweep_phase_without_m_is_refused(phase: str, outputs: Path) -> None:
    done = run_cli(f"phase={phase}", *FAST, f"paths.outputs={outputs}")
    _assert_one_line_error(done, f"phase={phase} is a sweep: add -m", "crypto-tune -m")
    assert not any(outputs.iterdir()), [str(p) for p in outputs.rglob("*")]


def test_walkforward_without_its_split_is_refused(outputs: Path) -> None:
    done = run_cli("phase=walkforward", *FAST, f"paths.outputs={outputs}")
    _assert_one_line_error(done, "add split=walk_forward", "split=static")
    assert not any(outputs.iterdir()), [str(p) for p in outputs.rglob("*")]


def test_an_outputs_folder_that_cannot_be_made_is_one_line() -> None:
    done = run_cli("phase=inspect", *FAST, "paths.outputs=/proc/crypto-tune-x")
    _assert_one_line_error(done, "paths.outputs", "/proc/crypto-tune-x")


def test_an_outputs_folder_is_not_left_behind_by_the_check(tmp_path: Path) -> None:
    target = tmp_path / "new" / "outputs"
    done = run_cli("phase=walkforward", *FAST, f"paths.outputs={target}")
    assert done.returncode == 2
    assert not (tmp_path / "new").exists()


def test_best_from_an_empty_object_names_the_missing_entry(tmp_path: Path, outputs: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    done = run_cli("phase=best", *FAST, f"best.from={empty}", f"paths.outputs={outputs}")
    _assert_one_line_error(done, "empty.json is not a workflow.best.json", "no 'model' entry")
    assert "('model')" not in done.stderr


def _csv(path: Path, start: str, periods: int) -> Path:
    import numpy as np
    import pandas as pd

    index = pd.date_range(start, periods=periods, freq="4h", tz="UTC")
    close = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, periods)))
    frame = pd.DataFrame(
        {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1.0},
        index=index.strftime("%Y-%m-%dT%H:%M:%SZ").rename("timestamp"),
    )
    frame.to_csv(path)
    return path


def test_a_one_row_csv_is_blamed_on_the_file(tmp_path: Path, outputs: Path) -> None:
    one = _csv(tmp_path / "one.csv", "2024-01-01", 1)
    args = ("asset=csv", f"asset.path={one}", "asset.symbol=X", f"paths.outputs={outputs}")
    done = run_cli("phase=inspect", *args)
    _assert_one_line_error(done, "one.csv: the data hold 1 bar from 2024-01-01 00:00")
    assert not any(outputs.iterdir()), [str(p) for p in outputs.rglob("*")]


def test_a_csv_starting_late_says_where_its_data_start(tmp_path: Path, outputs: Path) -> None:
    late = _csv(tmp_path / "y2023.csv", "2023-01-01", 6 * 365)
    args = ("asset=csv", f"asset.path={late}", "asset.symbol=X", f"paths.outputs={outputs}")
    done = run_cli("phase=inspect", *args)
    _assert_one_line_error(
        done, "y2023.csv", "from 2023-01-01 00:00", "starting after split.tune_start 2021-01-01"
    )
    assert not any(outputs.iterdir()), "no feature-cache file is left behind"


def test_help_starts_with_the_ten_knobs() -> None:
    """Issue 22, item 8: 144 lines of help never mentioned hydra.sweeper.n_trials."""
    done = run_cli("--help")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "ten knobs" in line)
    assert start <= 3, lines[:5]
    knobs = [line.split()[0] for line in lines[start + 1 : start + 11]]
    assert len(knobs) == 10 and all("=" in k for k in knobs), knobs
    assert "hydra.sweeper.n_trials=N" in knobs
    assert not lines[start + 11].strip()  # ten, then the commands


def test_a_path_template_the_shell_unquoted_gets_the_quoting_hint() -> None:
    """`asset.path='/data/{symbol}.csv'` typed in a shell reaches Hydra without its quotes."""
    done = run_cli("phase=inspect", "asset=universe", "asset.path=/data/{symbol}.csv")
    _assert_one_line_error(
        done,
        "mismatched input '{'",
        "(quote a value with braces: \"asset.path='/data/{symbol}.csv'\")",
    )


def test_a_refused_run_removes_the_outputs_folder_it_made(tmp_path: Path) -> None:
    """A missing data file: before, the new paths.outputs stayed behind, empty."""
    target = tmp_path / "new" / "outputs"
    missing = tmp_path / "none.csv"
    csv = ["asset=csv", f"asset.path={missing}", "asset.symbol=X"]
    done = run_cli("phase=best", *csv, f"paths.outputs={target}")
    _assert_one_line_error(done, f"asset.path: file {missing} not found")
    assert not (tmp_path / "new").exists(), [str(p) for p in tmp_path.rglob("*")]


def test_inspect_of_a_basket_with_a_missing_member_prints_only_the_error(
    tmp_path: Path, outputs: Path
) -> None:
    basket = ["asset=basket", f"asset.path='{SHARED_DATA}/binance_{{symbol}}_4h.csv'"]
    done = run_cli(
        "phase=inspect", *basket, "asset.symbols=[ETHUSDT,NOPEUSDT]", f"paths.outputs={outputs}"
    )
    _assert_one_line_error(done, "binance_NOPEUSDT_4h.csv not found")
    assert done.stdout == ""
    assert not any(outputs.iterdir()), [str(p) for p in outputs.rglob("*")]
