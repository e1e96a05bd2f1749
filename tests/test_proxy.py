"""The gRPC storage proxy in one process: Optuna's gRPC storage proxy with the workers' heartbeat
service, in front of SQLite; the worker side (:class:`ProxyWorkerStorage`) keeps its trials
alive and fails a dead worker's trial through it, as :class:`WorkerStorage` does on the database.
End to end with PostgreSQL and ``crypto-tune -m`` workers: tests/test_scaleout.py."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from crypto_tune import storage
from crypto_tune.exceptions import ConfigError, StorageError
from crypto_tune.storage import WorkerOptions, check_storage, open_storage, workers_enabled

RUNNING, FAIL, COMPLETE = (
    optuna.trial.TrialState.RUNNING,
    optuna.trial.TrialState.FAIL,
    optuna.trial.TrialState.COMPLETE,
)
SERVED = WorkerOptions(heartbeat=1, grace=2, retries=1, db_wait=5)
X = {"x": optuna.distributions.FloatDistribution(0, 1)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(database URL, proxy URL): a proxy on a fresh SQLite file, stopped after the test."""
    database = f"sqlite:///{tmp_path}/optuna.db"
    port = free_port()
    server = storage.serve(database, host="127.0.0.1", port=port, options=SERVED)
    try:
        yield database, f"grpc://127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


def _state(database: str, number: int) -> optuna.trial.TrialState:
    return optuna.load_study(study_name="s", storage=database).trials[number].state


def test_a_dead_workers_trial_is_failed_through_the_proxy_and_retried(served) -> None:
    database, url = served
    dead = optuna.storages.RDBStorage(database, heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(study_name="s", storage=dead, direction="maximize")
    orphan = study.ask(X)
    dead.record_heartbeat(orphan._trial_id)  # its worker then dies: no more heartbeats
    killed_at = time.monotonic()

    # The proxy judges staleness: its grace period and retries replace the worker's own.
    worker = storage.ProxyWorkerStorage(url, WorkerOptions(heartbeat=1, grace=30, db_wait=5))
    assert (worker.options.grace, worker.options.retries) == (2, 1)
    assert repr(worker) == url
    mine = optuna.load_study(study_name="s", storage=worker)
    own = mine.ask(X)  # the first trial sweeps the study: too early, the orphan is not stale
    assert _state(database, orphan.number) == RUNNING

    deadline = time.monotonic() + 60
    while _state(database, orphan.number) != FAIL:
        assert time.monotonic() < deadline, "the orphan was never failed"
        time.sleep(0.1)
    assert time.monotonic() - killed_at >= SERVED.grace - SERVED.heartbeat
    # This worker's own trial is kept alive through the proxy, never failed.
    time.sleep(SERVED.grace + 1)
    assert _state(database, own.number) == RUNNING
    mine.tell(own, 0.25)
    retry = mine.ask(X)  # the proxy enqueued the stale trial again (retries=1)
    assert retry.params == orphan.params
    assert mine.trials[retry.number].system_attrs["failed_trial"] == orphan.number
    mine.tell(retry, 0.75)
    trials = optuna.load_study(study_name="s", storage=database).trials
    assert [t.state for t in trials] == [FAIL, COMPLETE, COMPLETE]


def test_a_live_trial_failed_by_the_proxy_is_dropped_not_crashing(served, caplog) -> None:
    database, url = served
    worker = storage.ProxyWorkerStorage(url, WorkerOptions(heartbeat=1, grace=2, db_wait=5))
    study = optuna.create_study(study_name="s", storage=worker, direction="maximize")
    trial = study.ask(X)
    optuna.load_study(study_name="s", storage=database).tell(trial.number, state=FAIL)
    with caplog.at_level("WARNING", logger="crypto_tune"):
        study.tell(trial, 0.5)  # what the sweeper does: must not raise
    assert "marked FAIL by another worker" in caplog.text
    assert _state(database, 0) == FAIL


def test_a_restarted_proxy_is_ridden_out_a_lost_one_stops_the_worker_in_one_line(
    tmp_path: Path, caplog
) -> None:
    database = f"sqlite:///{tmp_path}/optuna.db"
    port = free_port()
    url = f"grpc://127.0.0.1:{port}"
    server = storage.serve(database, host="127.0.0.1", port=port, options=SERVED)
    worker = storage.ProxyWorkerStorage(url, WorkerOptions(heartbeat=1, grace=2, db_wait=4))
    study = optuna.create_study(study_name="s", storage=worker)
    server.stop(grace=None).wait()
    restarted: list = []
    back = threading.Timer(
        1.0,
        lambda: restarted.append(
            storage.serve(database, host="127.0.0.1", port=port, options=SERVED)
        ),
    )
    back.start()
    try:
        with caplog.at_level("WARNING", logger="crypto_tune"):
            trial = study.ask(X)  # waits for the proxy to come back
        study.tell(trial, 1.0)
        assert "study database unreachable" in caplog.text
        assert "reachable again" in caplog.text
        assert _state(database, trial.number) == COMPLETE
    finally:
        back.join()
        for again in restarted:
            again.stop(grace=None).wait()
    with pytest.raises(StorageError) as stopped:  # gone for longer than CRYPTO_TUNE_DB_WAIT
        study.ask(X)  # the library raises; the CLI alone prints the line (test_reliability.py)
    assert str(stopped.value).startswith(f"the study database {url} has been unreachable")


def test_a_heartbeat_as_long_as_the_proxys_grace_period_is_refused(served) -> None:
    _, url = served
    with pytest.raises(ConfigError, match="must stay below the grace period of the storage proxy"):
        storage.ProxyWorkerStorage(url, WorkerOptions(heartbeat=2, grace=30))


def test_open_storage_opens_grpc_urls_as_proxy_clients(served) -> None:
    database, url = served
    plain = open_storage(url)
    assert isinstance(plain, optuna.storages.GrpcStorageProxy)
    assert not isinstance(plain, storage.ProxyWorkerStorage) and open_storage(url) is plain
    created = optuna.create_study(study_name="s", storage=plain)
    assert optuna.load_study(study_name="s", storage=database).study_name == created.study_name
    with workers_enabled(WorkerOptions(heartbeat=1, grace=2, db_wait=5)):
        worker = open_storage(url)
        assert isinstance(worker, storage.ProxyWorkerStorage) and open_storage(url) is worker
        # The sweeper hands Optuna this object: used as is (the proxy client keeps its own
        # cache).
        assert optuna.load_study(study_name="s", storage=worker)._storage is worker


def test_a_missing_proxy_or_a_bad_url_is_one_line() -> None:
    url = f"grpc://127.0.0.1:{free_port()}"
    with pytest.raises(StorageError, match=r"is unreachable: no gRPC storage proxy answered"):
        check_storage(url, timeout_s=1)
    for bad in ("grpc://host", "grpc://host:port", "grpc://:13000", "grpc://h:99999"):
        with pytest.raises(ConfigError, match=r"storage\.url"):
            check_storage(bad)


def test_the_proxy_command_says_what_is_wrong_in_one_line() -> None:
    secret = "postgresql://me:TopSecret42@127.0.0.1:9/db"
    done = subprocess.run(
        [sys.executable, "-m", "crypto_tune.proxy", "--storage", secret, "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert done.stderr.startswith("crypto-tune-proxy: error: storage.url ")
    assert "is unreachable" in done.stderr and "TopSecret42" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
