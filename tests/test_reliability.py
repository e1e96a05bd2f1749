"""Crash safety in one process: options, disk faults, cache integrity, the bounded prediction
cache, and stale-trial recovery by :class:`crypto_tune.storage.WorkerStorage` (SQLite)."""

from __future__ import annotations

import errno
import logging
import multiprocessing
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from crypto_tune.cli import preflight
from crypto_tune.dataset import read_checked_parquet, write_atomic_parquet
from crypto_tune.exceptions import ConfigError
from crypto_tune.memo import clear_memos
from crypto_tune.reliability import disk_fault
from crypto_tune.storage import (
    WorkerOptions,
    WorkerStorage,
    open_storage,
    worker_options,
    workers_enabled,
)

RUNNING, FAIL = optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.FAIL


def test_worker_options_from_the_environment() -> None:
    assert worker_options({}) == WorkerOptions(heartbeat=10, grace=60, retries=0, db_wait=120)
    given = {"CRYPTO_TUNE_HEARTBEAT": "2", "CRYPTO_TUNE_GRACE": "5", "CRYPTO_TUNE_RETRIES": "1"}
    assert worker_options(given) == WorkerOptions(heartbeat=2, grace=5, retries=1, db_wait=120)
    with pytest.raises(ConfigError, match="CRYPTO_TUNE_HEARTBEAT must be an integer"):
        worker_options({"CRYPTO_TUNE_HEARTBEAT": "soon"})
    with pytest.raises(ConfigError, match="CRYPTO_TUNE_RETRIES must be >= 0"):
        worker_options({"CRYPTO_TUNE_RETRIES": "-1"})
    with pytest.raises(ConfigError, match="must exceed CRYPTO_TUNE_HEARTBEAT"):
        worker_options({"CRYPTO_TUNE_HEARTBEAT": "30", "CRYPTO_TUNE_GRACE": "30"})


def test_disk_faults_are_one_line_other_errors_are_not() -> None:
    full = disk_fault(OSError(errno.ENOSPC, "No space left on device", "/x/cache/f.parquet"))
    assert full is not None and "/x/cache/f.parquet" in full and "no space left" in full
    # pyarrow's wording: an OSError without errno
    arrow = OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")
    assert disk_fault(arrow) is not None and "no space left" in disk_fault(arrow)  # type: ignore[operator]
    assert "read-only" in (disk_fault(OSError(errno.EROFS, "Read-only file system")) or "")
    assert disk_fault(OSError(errno.ECONNREFUSED, "Connection refused")) is None
    assert disk_fault(ValueError("No space left on device")) is None


def test_unwritable_outputs_fail_preflight_without_writing(tmp_path: Path) -> None:
    afile = tmp_path / "a-file"
    afile.write_text("x")
    with pytest.raises(ConfigError, match=r"paths.outputs: .*a-file is not a folder"):
        preflight(["phase=inspect", "debug=fast", f"paths.outputs={afile}/out"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


# ---------------------------------------------------------------------------------- caches
def _frame(seed: int, rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2021-01-01", periods=rows, freq="4h", tz="UTC")
    return pd.DataFrame(rng.normal(size=(rows, 5)), index=index, columns=list("abcde"))


def test_a_truncated_or_corrupt_cache_file_is_detected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.parquet"
    frame = _frame(1)
    write_atomic_parquet(frame, path, {"write": "w1"})
    read = read_checked_parquet(path)
    assert read is not None and read[0].equals(frame) and read[1]["write"] == "w1"
    assert [p.name for p in tmp_path.iterdir()] == ["c.parquet"]  # no temporary file left

    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated (a crash without fsync, a full disk)
    with caplog.at_level(logging.WARNING):
        assert read_checked_parquet(path) is None
    assert "unreadable" in caplog.text

    # Same size, one value changed in place: Parquet still parses, the checksum does not match.
    write_atomic_parquet(frame, path)
    other = frame.copy()
    other.iloc[100, 2] = 123.456
    pd_bytes, good = bytearray(path.read_bytes()), np.float64(frame.iloc[100, 2]).tobytes()
    at = bytes(pd_bytes).find(good)
    assert at > 0
    pd_bytes[at : at + 8] = np.float64(123.456).tobytes()
    path.write_bytes(bytes(pd_bytes))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert read_checked_parquet(path) is None
    assert "checksum mismatch" in caplog.text or "unreadable" in caplog.text

    frame.to_parquet(path)  # written by an older version: no checksum, rebuilt
    assert read_checked_parquet(path) is None


def _writer(path: str, seed: int, rounds: int) -> None:
    for k in range(rounds):
        write_atomic_parquet(_frame(seed * 1000 + k, rows=2000), Path(path))


def test_concurrent_writers_never_expose_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.parquet"
    write_atomic_parquet(_frame(0, rows=2000), path)
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_writer, args=(str(path), s, 15)) for s in (1, 2, 3)]
    for writer in writers:
        writer.start()
    reads = 0
    while any(w.is_alive() for w in writers) or reads < 5:
        got = read_checked_parquet(path)
        assert got is not None  # always one complete, self-consistent version
        assert got[0].shape == (2000, 5)
        reads += 1
    for writer in writers:
        writer.join(timeout=120)
        assert writer.exitcode == 0
    assert [p.name for p in tmp_path.iterdir()] == ["shared.parquet"]


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    import pyarrow.parquet as pq

    def full_disk(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 half")
        raise OSError(errno.ENOSPC, "No space left on device", where)

    monkeypatch.setattr(pq, "write_table", full_disk)
    with pytest.raises(OSError) as raised:
        write_atomic_parquet(_frame(1), tmp_path / "f.parquet")
    assert disk_fault(raised.value) is not None
    assert list(tmp_path.iterdir()) == []


def _dataset_settings(outputs: Path):
    settings = preflight(
        ["phase=model", "debug=fast", f"paths.outputs={outputs}", "tracking.enabled=false"]
    )
    assert settings is not None
    return settings


def test_prediction_cache_rebuilds_damaged_files_and_memory_is_bounded(
    outputs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import dataclasses

    from crypto_tune.dataset import prepare_dataset
    from crypto_tune.model import _oof

    settings = _dataset_settings(outputs)
    dataset = prepare_dataset(settings)
    model = dataclasses.replace(settings.model, num_boost_round=20, early_stopping_rounds=5)
    clear_memos("predictions")
    first = _oof.out_of_fold(dataset, model, seed=1, cache_dir=settings.paths.cache)
    folder = Path(settings.paths.cache) / "predictions"
    pred = folder / f"{first.key}.parquet"
    pred.write_bytes(pred.read_bytes()[:100])  # truncated
    clear_memos("predictions")
    with caplog.at_level(logging.WARNING):
        again = _oof.out_of_fold(dataset, model, seed=1, cache_dir=settings.paths.cache)
    assert not again.from_cache and "rebuilding" in caplog.text
    assert again.frame.equals(first.frame)
    clear_memos("predictions")
    assert _oof.out_of_fold(dataset, model, seed=1, cache_dir=settings.paths.cache).from_cache

    # Two files from different writes (two workers racing on one key) are not trusted together.
    meta = folder / f"{first.key}.importance.parquet"
    stored = read_checked_parquet(meta)
    assert stored is not None
    write_atomic_parquet(stored[0], meta, {"write": "another-writer"})
    clear_memos("predictions")
    assert not _oof.out_of_fold(dataset, model, seed=1, cache_dir=settings.paths.cache).from_cache

    # A Phase 1 sweep trains a new model per trial: memory keeps only the most recent few.
    clear_memos("predictions")
    keys = []
    for leaves in range(4, 4 + _oof.MEMORY_SIZE + 3):
        trial_model = dataclasses.replace(model, num_leaves=leaves)
        keys.append(
            _oof.out_of_fold(dataset, trial_model, seed=1, cache_dir=settings.paths.cache).key
        )
    assert len(_oof._MEMORY) == _oof.MEMORY_SIZE
    assert list(_oof._MEMORY) == keys[-_oof.MEMORY_SIZE :]


# ------------------------------------------------------------------------- stale trials
def _poll(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_dead_workers_trial_is_failed_after_the_grace_period_and_retried(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/optuna.db"
    dead = optuna.storages.RDBStorage(url, heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(study_name="s", storage=dead, direction="maximize")
    study.enqueue_trial({"x": 0.5})
    done = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    study.tell(done, 1.0)
    orphan = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    dead.record_heartbeat(orphan._trial_id)  # its worker then dies: no more heartbeats
    killed_at = time.monotonic()

    options = WorkerOptions(heartbeat=1, grace=2, retries=1, db_wait=5)
    live = WorkerStorage(url, options)
    assert "sqlite" in repr(live)
    worker = optuna.load_study(study_name="s", storage=live)
    # The first trial this worker starts sweeps the study: too early, the orphan is not stale.
    mine = worker.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    assert worker.trials[orphan.number].state == RUNNING

    def failed() -> bool:
        return optuna.load_study(study_name="s", storage=url).trials[orphan.number].state == FAIL

    _poll(failed, timeout=60, what="the orphan to be failed")
    assert time.monotonic() - killed_at >= options.grace - options.heartbeat
    # Its own running trial is kept alive by the heartbeat thread, never failed.
    time.sleep(options.grace + 1)
    assert optuna.load_study(study_name="s", storage=url).trials[mine.number].state == RUNNING
    worker.tell(mine, 0.25)
    # The stale trial was enqueued again (retries=1): the next ask picks it up, same params.
    retry = worker.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    assert retry.params == orphan.params
    assert worker.trials[retry.number].system_attrs["failed_trial"] == orphan.number
    worker.tell(retry, 0.75)
    trials = optuna.load_study(study_name="s", storage=url).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert len({t.number for t in trials}) == len(trials)


def test_a_live_trial_failed_by_another_worker_is_dropped_not_crashing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path}/optuna.db"
    storage = WorkerStorage(url, WorkerOptions(heartbeat=1, grace=2, retries=0, db_wait=5))
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    # Another worker judged it stale (this one was cut off longer than the grace period).
    other = optuna.load_study(study_name="s", storage=url)
    other.tell(trial.number, state=FAIL)
    with caplog.at_level(logging.WARNING, logger="crypto_tune"):
        study.tell(trial, 0.5)  # what the sweeper does: must not raise
    assert "marked FAIL by another worker" in caplog.text
    assert optuna.load_study(study_name="s", storage=url).trials[0].state == FAIL


def test_a_sweep_worker_opens_worker_storages_and_leaves_optuna_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/optuna.db"
    original = optuna.storages.get_storage
    with workers_enabled(WorkerOptions(heartbeat=1, grace=2, retries=0, db_wait=5)):
        worker = open_storage(url)
        assert isinstance(worker, WorkerStorage) and open_storage(url) is worker
        study = optuna.create_study(study_name="s", storage=worker)
        assert study._storage._backend is worker  # type: ignore[attr-defined]
        # A URL string given to Optuna is Optuna's own business: no worker storage behind it.
        plain = optuna.load_study(study_name="s", storage=url)
        assert not isinstance(plain._storage._backend, WorkerStorage)  # type: ignore[attr-defined]
        assert optuna.storages.get_storage is original
    assert not isinstance(open_storage(url), WorkerStorage)
