"""Beyond one machine, on engines that exist, each proven by a real sweep against the project's
PostgreSQL (README "Many machines"):

* Hydra's submitit launcher (``hydra/launcher=submitit_local``; ``submitit_slurm`` is the same
  launcher on a cluster): the trials run in submitit's job processes, land in the study and log
  their MLflow runs under the sweep's parent run;
* Optuna's gRPC storage proxy (``python -m crypto_tune.proxy``) in front of PostgreSQL, with
  ``crypto-tune -m`` workers through it: distinct trials, heartbeats kept through the proxy, and a
  worker killed with SIGKILL has its trial failed by the others and retried.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import optuna
import pytest
import sqlalchemy
from conftest import FAST, ROOT, run_cli

from crypto_tune.storage import database_url

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

State = optuna.trial.TrialState
HEARTBEAT, GRACE = 1, 4  # production defaults: 10 s and 60 s
# Phase 1 trials of a few seconds, so that a kill lands inside one.
SLOW = [
    "model.num_boost_round=400",
    "model.early_stopping_rounds=400",
    "model.learning_rate=0.001",
    "model.num_leaves=31",
]


def _sweep(storage_url: str, outputs: Path, experiment: str, n_trials: int, *extra: str) -> list:
    return [
        "-m",
        "phase=model",
        *FAST,
        f"storage.url={storage_url}",
        f"experiment_name={experiment}",
        f"paths.outputs={outputs}",
        f"hydra.sweeper.n_trials={n_trials}",
        *extra,
    ]


def _trials(pg_url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name=name, storage=database_url(pg_url)).get_trials()
    except KeyError:  # not created yet
        return []


def _trial_runs(outputs: Path, name: str) -> tuple[dict[int, mlflow.entities.Run], list]:
    """The study's MLflow trial runs by trial number (none twice), and its sweep parent runs."""
    mlflow.set_tracking_uri(f"sqlite:///{outputs}/mlflow.db")
    runs = mlflow.search_runs(experiment_names=[name], output_format="list")
    parents = [r for r in runs if r.data.tags.get("kind") == "sweep-summary"]
    numbered = [r for r in runs if "trial_number" in r.data.tags]
    trials = {int(r.data.tags["trial_number"]): r for r in numbered}
    assert len(trials) == len(numbered), "a trial logged twice"
    return trials, parents


def _consistent(trials: list[optuna.trial.FrozenTrial]) -> None:
    assert [t.number for t in trials] == list(range(len(trials)))
    assert not [t.number for t in trials if t.state == State.RUNNING]
    assert all(t.value is not None for t in trials if t.state == State.COMPLETE)


# ------------------------------------------------------------------------------- submitit
def test_a_submitit_local_sweep_lands_in_the_study(
    pg_url: str, outputs: Path, experiment: str
) -> None:
    name = f"{experiment}.SYNTH.4h.all.static.h1.model"
    args = _sweep(pg_url, outputs, experiment, 3, "storage=postgres")
    done = run_cli(*args, "hydra/launcher=submitit_local", timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Submitit 'local' sweep output dir" in done.stdout + done.stderr
    jobs = list(outputs.glob("multiruns/*/*/.submitit/*/*_result.pkl"))
    assert len(jobs) == 3  # each trial ran in its own submitit job process

    trials = _trials(pg_url, name)
    _consistent(trials)
    assert [t.state for t in trials] == [State.COMPLETE] * 3
    runs, parents = _trial_runs(outputs, name)
    assert sorted(runs) == [0, 1, 2] and len(parents) == 1
    for trial in trials:
        run = runs[trial.number]
        assert run.data.metrics["objective"] == pytest.approx(trial.value)
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id


# ----------------------------------------------------------------------------- gRPC proxy
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Process:
    """A subprocess whose output goes to a file (no pipe to fill up); killed if left running."""

    def __init__(self, command: list[str], log: Path, env: dict[str, str]) -> None:
        self.log = log
        with open(log, "w") as out:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def output(self) -> str:
        return self.log.read_text()

    def wait(self, timeout: float = 900) -> int:
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=60)


@contextmanager
def running(*started: Process) -> Iterator[tuple[Process, ...]]:
    try:
        yield started
    finally:
        for process in started:
            process.kill()


def _crypto_tune(args: list[str], log: Path, env: dict[str, str]) -> Process:
    return Process([sys.executable, "-m", "crypto_tune", *args], log, env)


def _poll(condition, timeout: float, what: str, alive: tuple[Process, ...] = ()) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        for process in alive:
            code = process.process.poll()
            assert code is None, f"exited ({code}) before {what}: {process.output()[-3000:]}"
        time.sleep(0.1)


def _heartbeats(pg_url: str, name: str) -> dict[int, int]:
    """Trial number -> heartbeat rows in the database (what the proxy recorded for workers)."""
    engine = sqlalchemy.create_engine(database_url(pg_url))
    query = sqlalchemy.text(
        "SELECT t.number, count(h.trial_heartbeat_id) FROM trials t "
        "JOIN studies s ON s.study_id = t.study_id "
        "LEFT JOIN trial_heartbeats h ON h.trial_id = t.trial_id "
        "WHERE s.study_name = :name GROUP BY t.number"
    )
    try:
        with engine.connect() as connection:
            return {int(n): int(c) for n, c in connection.execute(query, {"name": name})}
    finally:
        engine.dispose()


def test_workers_through_the_grpc_proxy_share_a_study_and_bury_a_killed_one(
    pg_url: str, outputs: Path, experiment: str
) -> None:
    """A proxy in front of PostgreSQL; a worker through it is killed with SIGKILL mid-trial;
    two more workers through it fail its trial once its heartbeat is older than the proxy's
    grace period, retry it (CRYPTO_TUNE_RETRIES=1 on the proxy) and complete their share."""
    name = f"{experiment}.SYNTH.4h.all.static.h1.model"
    port = _free_port()
    url = f"grpc://127.0.0.1:{port}"
    served = {"CRYPTO_TUNE_HEARTBEAT": str(HEARTBEAT), "CRYPTO_TUNE_GRACE": str(GRACE)}
    serve = ["--storage", pg_url, "--host", "127.0.0.1", "--port", str(port)]
    server = Process(
        [sys.executable, "-m", "crypto_tune.proxy", *serve],
        outputs.parent / "proxy.log",
        {**served, "CRYPTO_TUNE_RETRIES": "1"},
    )
    worker_env = {"CRYPTO_TUNE_HEARTBEAT": str(HEARTBEAT)}
    with running(server):
        _poll(lambda: "serving" in server.output(), 120, "the proxy to serve", (server,))
        assert ":crypto_tune@" not in server.output()  # the password is masked

        victim = _crypto_tune(
            _sweep(url, outputs, experiment, 3, "storage=grpc", *SLOW),
            outputs.parent / "victim.log",
            worker_env,
        )
        with running(victim):
            seen: list[optuna.trial.FrozenTrial] = []  # RUNNING and beating, last look

            def beating() -> bool:
                beats = _heartbeats(pg_url, name)  # one look: the kill follows it at once
                seen[:] = [
                    t
                    for t in _trials(pg_url, name)
                    if t.state == State.RUNNING and beats.get(t.number)
                ]
                return bool(seen)

            _poll(beating, 300, "the victim's trial to beat", (victim, server))
            target = seen[0]  # (a second look found none when that trial had just ended)
            os.kill(victim.process.pid, signal.SIGKILL)
            victim.wait(60)
        assert "Storage: grpc://127.0.0.1" in victim.output()

        def state() -> State:
            return next(t for t in _trials(pg_url, name) if t.number == target.number).state

        assert state() == State.RUNNING, "the kill landed after the trial"
        # Past the grace period: the next worker's first trial finds the trial stale (the
        # timing rule itself is proven on the database in test_reliability_workers.py).
        time.sleep(GRACE + HEARTBEAT)
        assert state() == State.RUNNING  # nobody buries a trial while no worker runs
        first = _crypto_tune(
            _sweep(url, outputs, experiment, 2, "storage=grpc", *SLOW),
            outputs.parent / "w1.log",
            worker_env,
        )
        second = _crypto_tune(
            _sweep(url, outputs, experiment, 2, "storage=grpc", *SLOW),
            outputs.parent / "w2.log",
            worker_env,
        )
        with running(first, second):
            assert first.wait() == 0, first.output()[-3000:]
            assert second.wait() == 0, second.output()[-3000:]
        assert state() == State.FAIL
        logs = first.output() + second.output()
        assert f"trial {target.number}: its worker sent no heartbeat for {GRACE} s" in logs
        server.process.send_signal(signal.SIGTERM)
        assert server.wait(60) == 0, server.output()[-3000:]

    trials = _trials(pg_url, name)
    _consistent(trials)
    complete = [t for t in trials if t.state == State.COMPLETE]
    killed = [t for t in trials if t.state == State.FAIL]
    assert [t.number for t in killed] == [target.number]
    assert len(complete) == 4 == len(trials) - 1  # the two workers' 2 + 2 trials
    retried = [t for t in complete if t.system_attrs.get("failed_trial") == target.number]
    assert len(retried) == 1 and retried[0].params == target.params
    beats = _heartbeats(pg_url, name)
    assert all(beats[t.number] == 1 for t in trials)  # every trial heartbeat through the proxy
    runs, parents = _trial_runs(outputs, name)
    for trial in complete:
        assert runs[trial.number].data.metrics["objective"] == pytest.approx(trial.value)
    assert len(parents) == 3  # one sweep parent per worker
