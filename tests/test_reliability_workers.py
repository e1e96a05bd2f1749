"""Overnight on many machines, end to end: several ``crypto-tune -m`` workers on one PostgreSQL
study, a worker killed with SIGKILL, PostgreSQL restarted mid-sweep, a full disk, a read-only
outputs folder, and secrets that never reach a file.

Timing: every wait polls with a deadline; no assertion depends on how fast the machine is,
except the stated grace period (a killed trial is failed no earlier than ``grace - heartbeat``
seconds after the kill, and within a generous bound once a live worker looks).
"""

from __future__ import annotations

import datetime
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import optuna
import pytest
from conftest import FAST, ROOT, _pg_reachable, run_cli

from crypto_tune.storage import database_url
from crypto_tune.sweeper import fixed_overrides

pytestmark = pytest.mark.slow

State = optuna.trial.TrialState
# Short heartbeats for the tests (production defaults: 10 s and 60 s).
HEARTBEAT, GRACE = 1, 4
WORKER_ENV = {"CRYPTO_TUNE_HEARTBEAT": str(HEARTBEAT), "CRYPTO_TUNE_GRACE": str(GRACE)}
# Phase 1 trials of a few seconds, so that a kill or a restart lands inside one.
SLOW = [
    "model.num_boost_round=400",
    "model.early_stopping_rounds=400",
    "model.learning_rate=0.001",
    "model.num_leaves=31",
]


def _args(pg_url: str, outputs: Path, experiment: str, n_trials: int, *extra: str) -> list[str]:
    return [
        "-m",
        "phase=model",
        *FAST,
        "storage=postgres",
        f"storage.url={pg_url}",
        f"experiment_name={experiment}",
        f"paths.outputs={outputs}",
        f"hydra.sweeper.n_trials={n_trials}",
        "phase.pruner=none",  # every trial COMPLETE: these tests count the workers' bookkeeping
        *extra,
    ]


class Worker:
    """A ``crypto-tune`` subprocess whose output goes to files (no pipe to fill up)."""

    def __init__(self, args: list[str], logs: Path, env: dict[str, str] | None = None) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        self.out, self.err = logs / "stdout", logs / "stderr"
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "crypto_tune", *args],
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **WORKER_ENV, **(env or {})},
                stdout=out,
                stderr=err,
                text=True,
            )

    def wait(self, timeout: float = 900) -> int:
        return self.process.wait(timeout=timeout)

    def stderr(self) -> str:
        return self.err.read_text()

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=60)


@contextmanager
def workers(*started: Worker) -> Iterator[tuple[Worker, ...]]:
    """Workers that are killed if the test fails half-way (never left running)."""
    try:
        yield started
    finally:
        for worker in started:
            worker.kill()


def _trials(pg_url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name=name, storage=database_url(pg_url)).get_trials()
    except KeyError:  # not created yet
        return []


def _top_k(pg_url: str, name: str) -> list[tuple[optuna.trial.FrozenTrial, str | None]]:
    """Each trial with the ``best.top_k`` its worker was given (a fixed override: recorded on the
    study, or on the trial when its worker's fixed overrides differ from the study's)."""
    try:
        study = optuna.load_study(study_name=name, storage=database_url(pg_url))
    except KeyError:  # not created yet
        return []
    return [(t, fixed_overrides(study, t).get("best.top_k")) for t in study.get_trials()]


def _poll(
    condition: Callable[[], bool], timeout: float, what: str, alive: tuple[Worker, ...] = ()
) -> None:
    """Wait for ``condition``; fail at the deadline or as soon as a worker of ``alive`` exits."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        for worker in alive:
            code = worker.process.poll()
            assert code is None, f"worker exited ({code}) before {what}: {worker.output()[-3000:]}"
        time.sleep(0.2)


def _assert_consistent(trials: list[optuna.trial.FrozenTrial]) -> None:
    """No RUNNING trial left, distinct numbers 0..n-1, every COMPLETE trial holds its value."""
    assert [t.number for t in trials] == list(range(len(trials)))
    assert not [t.number for t in trials if t.state == State.RUNNING]
    for trial in trials:
        if trial.state == State.COMPLETE:
            assert trial.value is not None


@pytest.mark.postgres
def test_three_workers_share_one_study(pg_url: str, outputs: Path, experiment: str) -> None:
    n = 2
    name = f"{experiment}.SYNTH.4h.all.static.h1.model"
    # No worker dies here: a long grace period, so three live workers on a loaded machine never
    # judge each other's trial stale (at 4 s, one heartbeat held up 3 s would fail a trial).
    live = {"CRYPTO_TUNE_GRACE": "60"}
    started = [
        Worker(_args(pg_url, outputs, experiment, n), outputs.parent / f"w{k}", live)
        for k in range(3)
    ]
    with workers(*started):
        for worker in started:
            assert worker.wait() == 0, worker.stderr()[-3000:]
    trials = _trials(pg_url, name)
    _assert_consistent(trials)
    assert [t.state for t in trials] == [State.COMPLETE] * 3 * n

    mlflow.set_tracking_uri(f"sqlite:///{outputs}/mlflow.db")
    runs = mlflow.search_runs(experiment_names=[name], output_format="list")
    trial_runs = {
        int(r.data.tags["trial_number"]): r
        for r in runs
        if r.data.tags.get("kind") != "sweep-summary"
    }
    assert sorted(trial_runs) == list(range(3 * n))  # one run per trial, none twice
    for trial in trials:
        assert trial_runs[trial.number].data.metrics["objective"] == pytest.approx(trial.value)
    parents = [r for r in runs if r.data.tags.get("kind") == "sweep-summary"]
    assert len({r.data.tags["pid"] for r in parents}) == 3


@pytest.mark.postgres
def test_a_killed_worker_loses_no_trial_and_the_study_completes(
    pg_url: str, outputs: Path, experiment: str
) -> None:
    """SIGKILL during a Phase 1 trial: the trial is failed after the grace period by the live
    worker, retried (CRYPTO_TUNE_RETRIES=1), the live worker goes on, and rerunning the killed
    command completes its share; no complete trial is lost."""
    name = f"{experiment}.SYNTH.4h.all.static.h1.model"
    retry = {"CRYPTO_TUNE_RETRIES": "1"}
    # The victim is given a fixed value the live worker is not (the sweeper records a sweep's
    # fixed command-line values, see crypto_tune.sweeper): that tells whose trial is whose.
    victim_args = _args(pg_url, outputs, experiment, 3, *SLOW, "best.top_k=17")
    live = Worker(
        _args(pg_url, outputs, experiment, 400, *SLOW, "best.top_k=18"),
        outputs.parent / "live",
        retry,
    )
    with workers(live):

        def running_of(marker: str) -> list[optuna.trial.FrozenTrial]:
            return [t for t, k in _top_k(pg_url, name) if t.state == State.RUNNING and k == marker]

        _poll(lambda: bool(running_of("18")), 300, "the live worker to run a trial", (live,))
        seen: list[optuna.trial.FrozenTrial] = []  # the victim's RUNNING trials, last look

        def in_its_second_trial() -> bool:
            trials = _top_k(pg_url, name)  # one look: the kill follows it at once
            seen[:] = [t for t, k in trials if t.state == State.RUNNING and k == "17"]
            return bool(seen) and any(t.state == State.COMPLETE and k == "17" for t, k in trials)

        for attempt in range(3):  # a kill between two trials (a few ms of ~2 s) is retried
            victim = Worker(victim_args, outputs.parent / f"victim{attempt}", retry)
            with workers(victim):
                _poll(
                    in_its_second_trial,
                    300,
                    "the victim to complete one trial and start the next",
                    (victim, live),
                )
                target = seen[-1]  # (a second look found none when that trial had just ended)
                os.kill(victim.process.pid, signal.SIGKILL)
                killed_at = time.monotonic()
                victim.wait(60)
            state = next(t for t in _trials(pg_url, name) if t.number == target.number).state
            if state == State.RUNNING:  # the kill landed inside the trial
                break
        else:
            pytest.fail("three kills in a row landed between trials")
        before = {t.number: t.value for t in _trials(pg_url, name) if t.state == State.COMPLETE}

        def target_state() -> State:
            return next(t for t in _trials(pg_url, name) if t.number == target.number).state

        _poll(lambda: target_state() != State.RUNNING, 120, "the killed trial to be failed")
        failed_after = time.monotonic() - killed_at
        assert target_state() == State.FAIL
        # Never before its heartbeat is older than the grace period (last beat <= 1 interval
        # before the kill); the bound above is generous for a loaded machine.
        assert failed_after >= GRACE - HEARTBEAT - 0.5, failed_after
        _poll(
            lambda: any(
                t.system_attrs.get("failed_trial") == target.number and t.state == State.COMPLETE
                for t in _trials(pg_url, name)
            ),
            300,
            "the retry of the killed trial to complete",
            (live,),
        )
        count = sum(k == "18" for _, k in _top_k(pg_url, name))
        _poll(
            lambda: (
                sum(k == "18" and t.state == State.COMPLETE for t, k in _top_k(pg_url, name))
                > count
            ),
            300,
            "the live worker to go on",
            (live,),
        )
        assert live.process.poll() is None
        live.process.send_signal(signal.SIGINT)  # stop it: Ctrl-C keeps complete trials
        assert live.wait(120) == 130, live.stderr()[-3000:]
    assert "its worker sent no heartbeat" in live.output()

    def victim_complete() -> int:
        return sum(t.state == State.COMPLETE and k == "17" for t, k in _top_k(pg_url, name))

    done_before = victim_complete()
    rerun = run_cli(*victim_args, env={**WORKER_ENV, **retry}, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    trials = _trials(pg_url, name)
    _assert_consistent(trials)
    after = {t.number: t.value for t in trials if t.state == State.COMPLETE}
    assert before.items() <= after.items()  # no complete trial lost or changed
    assert victim_complete() == done_before + 3  # the rerun completed its share


def _cluster() -> list[str]:
    """``[version, name]`` of the machine's PostgreSQL cluster (as scripts/pg-setup.sh finds it)."""
    if os.geteuid() != 0 or shutil.which("pg_ctlcluster") is None:
        pytest.skip("restarting PostgreSQL needs root and pg_ctlcluster")
    listed = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
    )
    return listed.stdout.split()[:2]


@pytest.mark.postgres
def test_workers_ride_out_a_postgres_restart(pg_url: str, outputs: Path, experiment: str) -> None:
    name = f"{experiment}.SYNTH.4h.all.static.h1.model"
    cluster = _cluster()
    # A grace period longer than the restart, so live trials are not judged stale meanwhile.
    env = {"CRYPTO_TUNE_GRACE": "20", "CRYPTO_TUNE_DB_WAIT": "120"}
    n = 4
    started = [
        Worker(_args(pg_url, outputs, experiment, n, *SLOW), outputs.parent / f"w{k}", env)
        for k in range(2)
    ]
    with workers(*started):
        _poll(
            lambda: (
                sum(t.state == State.COMPLETE for t in _trials(pg_url, name)) >= 1
                and sum(t.state == State.RUNNING for t in _trials(pg_url, name)) >= 1
            ),
            300,
            "a complete trial and a running one",
            tuple(started),
        )
        restarted = datetime.datetime.now()
        try:
            subprocess.run(["pg_ctlcluster", *cluster, "restart"], check=True, timeout=120)
        finally:
            _poll(lambda: _pg_reachable(pg_url), 120, "PostgreSQL to accept connections again")
        codes = [w.wait() for w in started]
    for worker, code in zip(started, codes, strict=True):
        err = worker.stderr()
        if code != 0:  # allowed: one clear line, then the same command resumes
            assert code == 2 and "Traceback" not in err, err[-3000:]
            assert "unreachable" in err.strip().splitlines()[-1]
            again = run_cli(*_args(pg_url, outputs, experiment, 1, *SLOW), env=WORKER_ENV)
            assert again.returncode == 0, again.stderr[-3000:]
        else:
            assert "Traceback" not in err
    trials = _trials(pg_url, name)
    _assert_consistent(trials)
    assert sum(t.state == State.COMPLETE for t in trials) >= (n if any(codes) else 2 * n)
    if not any(codes):
        assert [t.state for t in trials] == [State.COMPLETE] * 2 * n
    # The sweep really went on across the restart.
    assert any(t.datetime_complete and t.datetime_complete > restarted for t in trials)


@pytest.mark.postgres
def test_a_lasting_outage_stops_with_one_line_and_the_command_resumes(
    pg_url: str, outputs: Path, experiment: str
) -> None:
    """PostgreSQL down for longer than CRYPTO_TUNE_DB_WAIT: each worker stops with one line
    (exit 2) when it next needs the database; after the restart the same command resumes, the
    trials the stopped workers left RUNNING are failed at once (their heartbeats are stale)."""
    name = f"{experiment}.SYNTH.4h.all.static.h1.model"
    cluster = _cluster()
    env = {"CRYPTO_TUNE_DB_WAIT": "3"}
    started = [
        Worker(_args(pg_url, outputs, experiment, 20, *SLOW), outputs.parent / f"w{k}", env)
        for k in range(2)
    ]
    with workers(*started):
        _poll(
            lambda: sum(t.state == State.COMPLETE for t in _trials(pg_url, name)) >= 1,
            300,
            "a complete trial",
            tuple(started),
        )
        before = {t.number: t.value for t in _trials(pg_url, name) if t.state == State.COMPLETE}
        subprocess.run(["pg_ctlcluster", *cluster, "stop"], check=True, timeout=120)
        try:
            codes = [w.wait(300) for w in started]
        finally:
            subprocess.run(["pg_ctlcluster", *cluster, "start"], check=True, timeout=120)
            _poll(lambda: _pg_reachable(pg_url), 120, "PostgreSQL to accept connections again")
    for worker, code in zip(started, codes, strict=True):
        assert code == 2, worker.output()[-3000:]
        line = _one_error_line(worker.stderr())
        assert "unreachable for 3 s" in line and "run the same command again" in line
    done = run_cli(*_args(pg_url, outputs, experiment, 2, *SLOW), env=WORKER_ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = _trials(pg_url, name)
    _assert_consistent(trials)
    after = {t.number: t.value for t in trials if t.state == State.COMPLETE}
    assert before.items() <= after.items()
    assert len(after) >= len(before) + 2


# --------------------------------------------------------------------------------- disks
@contextmanager
def _tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A small tmpfs mounted at ``folder`` (root only); unmounted whatever happens."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()[:200]}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.startswith("crypto-tune:")]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


def test_a_read_only_outputs_folder_fails_at_start(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "ro", "ro,size=1m") as folder:
        for args in (
            ["-m", "phase=model", *FAST, f"paths.outputs={folder}/out"],
            ["phase=inspect", *FAST, f"paths.outputs={folder}"],
        ):
            done = run_cli(*args)
            assert done.returncode == 2, done.stderr[-3000:]
            line = _one_error_line(done.stderr)
            assert "paths.outputs" in line and "read-only file system" in line
        assert list(folder.iterdir()) == []


def test_a_full_disk_during_a_cache_write_stops_cleanly(tmp_path: Path) -> None:
    outputs, cache = tmp_path / "outputs", tmp_path / "cache"
    args = [
        "-m",
        "phase=model",
        *FAST,
        f"paths.outputs={outputs}",
        f"paths.cache={cache}",
        "hydra.sweeper.n_trials=2",
        "tracking.enabled=false",
    ]
    with _tmpfs(cache, "size=1m"):  # the feature cache of this market is ~2 MB
        done = run_cli(*args)
        assert done.returncode == 2, done.stderr[-3000:]
        line = _one_error_line(done.stderr)
        assert "cannot write" in line and "no space left" in line
        assert [p for p in cache.rglob("*") if p.is_file()] == []  # nothing half-written
    done = run_cli(*args)  # disk space back: the same command runs
    assert done.returncode == 0, done.stderr[-3000:]
    study = optuna.load_study(
        study_name="default.SYNTH.4h.all.static.h1.model", storage=f"sqlite:///{outputs}/optuna.db"
    )
    _assert_consistent(study.get_trials())
    assert sum(t.state == State.COMPLETE for t in study.get_trials()) == 2


def test_a_full_disk_inside_a_trial_fails_the_trial_and_stops(tmp_path: Path) -> None:
    """The features fit; the disk fills up when the first trial writes its predictions."""
    outputs, cache = tmp_path / "outputs", tmp_path / "cache"
    args = [
        "-m",
        "phase=model",
        *FAST,
        f"paths.outputs={outputs}",
        f"paths.cache={cache}",
        "hydra.sweeper.n_trials=2",
        "tracking.enabled=false",
    ]
    with _tmpfs(cache, "size=8m"):
        filler = cache / "filler"
        done = run_cli(*args[:-2], "hydra.sweeper.n_trials=1", "tracking.enabled=false")
        assert done.returncode == 0, done.stderr[-3000:]
        for path in (cache / "predictions").glob("*"):
            path.unlink()
        free = shutil.disk_usage(cache).free
        filler.write_bytes(b"\0" * max(free - 4096, 0))  # leave less than one prediction file
        done = run_cli(*args)
        assert done.returncode == 2, done.stderr[-3000:]
        line = _one_error_line(done.stderr)
        assert "cannot write" in line and "no space left" in line
        assert list((cache / "predictions").glob("*")) == []  # nothing half-written
    study = optuna.load_study(
        study_name="default.SYNTH.4h.all.static.h1.model", storage=f"sqlite:///{outputs}/optuna.db"
    )
    trials = study.get_trials()
    _assert_consistent(trials)
    assert trials[-1].state == State.FAIL


# ------------------------------------------------------------------------------- secrets
def _psql(sql: str) -> None:
    subprocess.run(
        ["runuser", "-u", "postgres", "--", "psql", "-v", "ON_ERROR_STOP=1", "-qtA", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )


@pytest.fixture
def secret_role(pg_url: str) -> Iterator[tuple[str, str, str]]:
    """(role, password, database): a throwaway role with a random password and its database."""
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("creating a PostgreSQL role needs root (runuser -u postgres)")
    suffix = secrets.token_hex(4)
    role, database = f"ct_secret_{suffix}", f"ct_secret_{suffix}"
    password = f"Pw{secrets.token_hex(12)}"
    _psql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        _psql(f"CREATE DATABASE {database} OWNER {role}")
        yield role, password, database
    finally:
        _psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        _psql(f"DROP ROLE IF EXISTS {role}")


@pytest.mark.postgres
@pytest.mark.parametrize("where", ["PGPASSWORD", "pgpass"])
def test_the_password_never_reaches_a_file(
    secret_role: tuple[str, str, str], tmp_path: Path, where: str
) -> None:
    role, password, database = secret_role
    home, outputs = tmp_path / "home", tmp_path / "outputs"
    home.mkdir()
    env = {"HOME": str(home), "PGPASSWORD": ""}
    if where == "PGPASSWORD":
        env["PGPASSWORD"] = password
    else:
        pgpass = home / ".pgpass"
        pgpass.write_text(f"127.0.0.1:5432:{database}:{role}:{password}\n")
        pgpass.chmod(0o600)
        env.pop("PGPASSWORD")
    url = f"postgresql://{role}@127.0.0.1:5432/{database}"
    common = [*FAST, "storage=postgres", f"storage.url={url}", f"paths.outputs={outputs}"]
    base = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    runs = [
        ["-m", "phase=model", "hydra.sweeper.n_trials=2", *common],
        [
            "-m",
            "phase=strategy",
            "hydra.sweeper.n_trials=5",
            "tracking.per_trial_runs=true",
            *common,
        ],
        ["phase=best", *common],
        ["phase=report", *common],
    ]
    for args in runs:
        done = subprocess.run(
            [sys.executable, "-m", "crypto_tune", *args],
            cwd=tmp_path,
            env={**base, "PYTHONUNBUFFERED": "1", **env},
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert password not in done.stdout + done.stderr
    written = [p for p in [*outputs.rglob("*"), *home.rglob("*")] if p.is_file()]
    written = [p for p in written if p.name != ".pgpass"]
    assert any(p.name == "mlflow.db" for p in written)
    assert any(p.suffix == ".html" for p in written)
    assert any(p.name == "config.yaml" and p.parent.name == ".hydra" for p in written)
    assert any(p.suffix == ".log" for p in written) and any("cache" in p.parts for p in written)
    leaked = [str(p) for p in written if password.encode() in p.read_bytes()]
    assert leaked == []
