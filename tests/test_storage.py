"""crypto_tune.storage: the URL value, checking and opening a storage, the study-name formula,
and the sweeper handed the opened storage with Optuna left unpatched."""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
from conftest import FAST, ROOT, run_cli

from crypto_tune import storage
from crypto_tune.exceptions import ConfigError, StorageError
from crypto_tune.storage import StorageURL, WorkerOptions, WorkerStorage

optuna.logging.set_verbosity(optuna.logging.WARNING)


# --------------------------------------------------------------------------- the URL value
@pytest.mark.parametrize(
    ("raw", "url", "scheme", "driver"),
    [
        ("sqlite:///outputs/optuna.db", "sqlite:///outputs/optuna.db", "sqlite", None),
        ("postgres://u@h/db", "postgresql+psycopg2://u@h/db", "postgresql", "psycopg2"),
        ("postgresql://u@h:5432/db", "postgresql+psycopg2://u@h:5432/db", "postgresql", "psycopg2"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db", "postgresql", "psycopg"),
        ("POSTGRES+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db", "postgresql", "psycopg2"),
        ("mysql+pymysql://u@h/db", "mysql+pymysql://u@h/db", "mysql", "pymysql"),
        ("grpc://db-proxy:13000", "grpc://db-proxy:13000", "grpc", None),
    ],
)
def test_a_url_is_parsed_once_into_scheme_driver_and_normalised_form(raw, url, scheme, driver):
    value = StorageURL.parse(raw)
    assert (value.url, value.scheme, value.driver) == (url, scheme, driver)
    assert StorageURL.parse(value) is value  # parsing a parsed URL is free
    assert StorageURL.parse(value.url) == value  # and normalising is idempotent
    assert storage.database_url(raw) == url  # the ct.db_url resolver's string


def test_a_url_prints_masked_everywhere():
    value = StorageURL.parse("postgresql://bob:S3cret!@db:5432/crypto_tune?password=Other9")
    assert value.url.startswith("postgresql+psycopg2://bob:S3cret!@")  # for the driver only
    for shown in (str(value), repr(value), f"{value}", value.masked, f"{[value]}"):
        assert "S3cret" not in shown and "Other9" not in shown, shown
    assert str(value) == "postgresql+psycopg2://bob:***@db:5432/crypto_tune?password=***"


def test_kinds_and_their_parts():
    sqlite = StorageURL.parse("sqlite:////abs/dir/optuna.db")
    assert (
        sqlite.is_sqlite and not sqlite.is_grpc and sqlite.sqlite_path == Path("/abs/dir/optuna.db")
    )
    assert StorageURL.parse("sqlite:///:memory:").sqlite_path is None
    assert StorageURL.parse("postgresql://u@h/db").sqlite_path is None
    grpc = StorageURL.parse("grpc://db-proxy:13000/")
    assert grpc.is_grpc and grpc.address == ("db-proxy", 13000)
    with pytest.raises(ConfigError, match="grpc://host:port"):
        _ = StorageURL.parse("postgresql://u@h/db").address


@pytest.mark.parametrize(
    "bad", ["optuna.db", "", "://x", "grpc://host", "grpc://host:port", "grpc://:1", "grpc://h:0"]
)
def test_a_bad_url_is_a_config_error_naming_storage_url(bad):
    with pytest.raises(ConfigError, match=r"^storage\.url"):
        StorageURL.parse(bad)
    assert storage.database_url(bad) == bad  # the resolver leaves it to the settings' check


def test_a_password_in_a_bad_url_is_masked_in_the_error():
    with pytest.raises(ConfigError) as info:
        StorageURL.parse("grpc://me:Pw12345@host")
    assert "Pw12345" not in str(info.value)


def test_the_study_name_formula_has_one_home():
    from crypto_tune.config._resolvers import database_url, study_name

    assert database_url is storage.database_url and study_name is storage.study_name
    assert storage.study_name("default.ETHUSDT.4h.all.static.h1", "wf2.model") == (
        "default.ETHUSDT.4h.all.static.h1.wf2.model"
    )
    config = (ROOT / "conf" / "config.yaml").read_text()
    assert "study_name: ${ct.study_name:${study.name},${phase.name}}" in config
    assert "${study.name}.${phase.name}" not in config


# ------------------------------------------------------------------------ checking, opening
def test_a_sqlite_folder_that_does_not_exist_is_refused_except_under_outputs(tmp_path):
    outputs = tmp_path / "outputs"
    storage.check_storage(f"sqlite:///{outputs}/deep/optuna.db", outputs=outputs)
    assert (outputs / "deep").is_dir()  # the project's own folder is made
    with pytest.raises(ConfigError, match=r"^storage\.url: the folder /nonexistent/dir does not"):
        storage.check_storage("sqlite:////nonexistent/dir/x.db", outputs=outputs)
    with pytest.raises(ConfigError, match="does not exist"):
        storage.open_storage(f"sqlite:///{tmp_path}/elsewhere/x.db")
    assert not (tmp_path / "elsewhere").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is not a folder"):
        storage.check_storage(f"sqlite:///{tmp_path}/file/x.db")


def test_an_unreachable_database_is_one_masked_storage_error():
    with pytest.raises(StorageError, match=r"^storage\.url .* is unreachable") as info:
        storage.check_storage("postgresql://user:s3cret@127.0.0.1:1/db", timeout_s=1)
    assert "s3cret" not in str(info.value)


def test_open_storage_is_one_checked_storage_per_url(tmp_path):
    url = f"sqlite:///{tmp_path}/optuna.db"
    opened = storage.open_storage(url)
    assert isinstance(opened, optuna.storages.RDBStorage)
    assert not isinstance(opened, WorkerStorage)
    assert opened.engine.pool._pre_ping  # type: ignore[attr-defined]
    assert storage.open_storage(StorageURL.parse(url)) is opened
    (tmp_path / "b").mkdir()
    assert storage.open_storage(f"sqlite:///{tmp_path}/b/optuna.db") is not opened
    with pytest.raises(StorageError, match="unreachable"):
        storage.open_storage("postgres://user:s3cret@127.0.0.1:1/db")


def test_a_sweep_worker_opens_one_worker_storage_for_every_caller(tmp_path):
    url = f"sqlite:///{tmp_path}/optuna.db"
    plain = storage.open_storage(url)
    options = WorkerOptions(heartbeat=1, grace=2, db_wait=5)
    with storage.workers_enabled(options):
        assert storage.active_options() == options
        worker = storage.open_storage(url)
        assert isinstance(worker, WorkerStorage) and worker is not plain
        assert repr(worker) == url  # what the sweeper logs as "Storage: ..."
        study = storage.open_study(url, "s", create=True)
        assert study._storage._backend is worker  # type: ignore[attr-defined]
        assert storage.open_study(url, "s") is study
    assert storage.active_options() is None
    assert not isinstance(storage.open_storage(url), WorkerStorage)
    with pytest.raises(ConfigError, match="no study named 'missing'"):
        storage.open_study(url, "missing")
    with pytest.raises(ConfigError, match=r"^run this first$"):
        storage.open_study(url, "missing", missing="run this first")


def test_a_lasting_outage_raises_and_never_exits(tmp_path):
    """A library error, not an exit: the CLI alone prints the line (SweepAborted in a sweep)."""
    worker = WorkerStorage(
        f"sqlite:///{tmp_path}/optuna.db", WorkerOptions(heartbeat=1, grace=2, db_wait=1)
    )
    import sqlalchemy.exc

    def gone() -> None:
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("database is locked"))

    with pytest.raises(StorageError, match=r"has been unreachable for 1 s .*run the same command"):
        worker._retrying(gone)
    with pytest.raises(StorageError):  # already given up: no second wait
        worker._retrying(gone)


def test_a_worker_reads_its_running_trials_back_as_the_database_holds_them(tmp_path):
    """A trial the worker created is read back from memory while RUNNING, without a query, and
    equal at every step to a read from the database (its intermediate values too); a failed
    write or the tell send its reads back to the database."""
    import sqlalchemy

    # heartbeats far apart: the heartbeat thread's queries (same engine) never land in a count
    worker = WorkerStorage(
        f"sqlite:///{tmp_path}/optuna.db", WorkerOptions(heartbeat=60, grace=120, db_wait=5)
    )
    study = optuna.create_study(
        study_name="s", storage=worker, sampler=optuna.samplers.RandomSampler(seed=0)
    )
    queries: list[str] = []
    sqlalchemy.event.listen(
        worker.engine, "before_cursor_execute", lambda *args: queries.append(args[2])
    )

    def read_back(trial_id: int, *, kept: bool) -> None:
        queries.clear()
        mine = worker.get_trial(trial_id)
        assert (not queries) == kept
        assert mine == optuna.storages.RDBStorage.get_trial(worker, trial_id)

    trial = study.ask()
    read_back(trial._trial_id, kept=True)
    trial.suggest_float("x", 0.0, 1.0)
    trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    trial.suggest_int("n", 1, 9)
    trial.suggest_float("step", 0.0, 1.0, step=0.1)
    trial.suggest_categorical("c", ["a", None, 2.5, True])
    trial.set_user_attr("u", {"k": (1, 2), 3: "x"})  # as JSON gives it back: a list, "3"
    worker.set_trial_system_attr(trial._trial_id, "s", [1, "a"])
    read_back(trial._trial_id, kept=True)
    trial.set_user_attr("u", "again")
    read_back(trial._trial_id, kept=True)
    assert worker.get_trial(trial._trial_id).user_attrs == {"u": "again"}
    with pytest.raises(ValueError, match="different distribution"):  # refused by the storage
        choice = optuna.distributions.CategoricalDistribution(["a"])
        worker.set_trial_param(trial._trial_id, "x", 0, choice)
    read_back(trial._trial_id, kept=False)
    study.tell(trial, 0.25)
    read_back(trial._trial_id, kept=False)

    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    worker.set_trial_param(trial._trial_id, "x", 0.5, optuna.distributions.FloatDistribution(0, 1))
    read_back(trial._trial_id, kept=False)  # "x" twice: the database ignores the second
    study.tell(trial, 0.5)

    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    trial.report(0.5, step=1)  # a Phase 1 fold's score
    read_back(trial._trial_id, kept=True)
    trial.report(float("-inf"), step=2)
    worker.set_trial_intermediate_value(trial._trial_id, 1, 0.75)  # a step written again
    read_back(trial._trial_id, kept=True)
    assert worker.get_trial(trial._trial_id).intermediate_values == {1: 0.75, 2: float("-inf")}
    queries.clear()
    assert not trial.should_prune()  # the pruner's reads: the study's trials, then this one
    assert len(queries) == 1, queries  # which trials match, then served from memory
    trial.report(float("nan"), step=3)
    queries.clear()
    kept = worker.get_trial(trial._trial_id).intermediate_values
    assert not queries and math.isnan(kept[3])
    database = optuna.storages.RDBStorage.get_trial(worker, trial._trial_id).intermediate_values
    assert list(kept) == list(database) == [1, 2, 3] and math.isnan(database[3])
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)

    study.enqueue_trial({"x": 0.5})  # a WAITING trial picked up by ask: read from the database
    trial = study.ask()
    assert trial.suggest_float("x", 0.0, 1.0) == 0.5
    read_back(trial._trial_id, kept=False)


def test_the_caches_reads_of_own_trials_are_served_from_memory(tmp_path):
    """Optuna's cache reads the trial just told and the trial just created before each trial's
    suggestions: a worker serves them from memory after one query (ids, states, completion
    times), equal to the full read; another worker's trial sends the read to the database."""
    import sqlalchemy

    url = f"sqlite:///{tmp_path}/optuna.db"
    # heartbeats far apart: the heartbeat thread's queries (same engine) never land in a count
    worker = WorkerStorage(url, WorkerOptions(heartbeat=60, grace=120, db_wait=5))
    study = optuna.create_study(
        study_name="s", storage=worker, sampler=optuna.samplers.RandomSampler(seed=0)
    )
    queries: list[str] = []
    sqlalchemy.event.listen(
        worker.engine, "before_cursor_execute", lambda *args: queries.append(args[2])
    )

    def read(included: set[int], after: int, *, served: bool) -> list:
        expected = optuna.storages.RDBStorage._get_trials(
            worker, study._study_id, None, included, after
        )
        queries.clear()
        got = worker._get_trials(study._study_id, None, included, after)
        assert got == expected
        assert (len(queries) == 1) == served, queries
        return got

    previous = -1
    for value in (0.5, float("inf"), None):
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        trial.set_user_attr("u", [value])
        tid = trial._trial_id
        if previous > -1:
            assert [t.number for t in read(set(), previous, served=True)] == [trial.number]
        if value is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)
        (told,) = read({tid}, tid - 1, served=True)
        assert told.state.is_finished() and told.datetime_complete is not None
        read({tid}, tid - 1, served=False)  # served once: the cache keeps it from then on
        previous = tid

    mine = study.ask()
    other = optuna.storages.RDBStorage(url)._create_new_trial(study._study_id)  # another worker
    assert other._trial_id > mine._trial_id
    assert len(read(set(), previous, served=False)) == 2
    assert worker.get_trial(mine._trial_id) == optuna.storages.RDBStorage.get_trial(
        worker, mine._trial_id
    )


def test_a_new_trial_has_its_first_heartbeat_before_ask_returns(tmp_path):
    """The first heartbeat is recorded with the trial (no wait for the heartbeat thread), as
    Optuna's record_heartbeat records one; the thread keeps beating it afterwards."""
    import sqlalchemy

    worker = WorkerStorage(
        f"sqlite:///{tmp_path}/optuna.db", WorkerOptions(heartbeat=1, grace=2, db_wait=5)
    )
    study = optuna.create_study(study_name="s", storage=worker)
    beats = sqlalchemy.text("SELECT trial_id, heartbeat FROM trial_heartbeats")
    trial = study.ask()
    with worker.engine.connect() as connection:
        (first,) = connection.execute(beats).all()
    assert first[0] == trial._trial_id and first[1] is not None
    worker._create_new_trial(study._study_id)  # a second RUNNING trial: its own row
    with worker.engine.connect() as connection:
        assert len(connection.execute(beats).all()) == 2
    assert trial._trial_id in worker._own


def test_the_storage_package_imports_nothing_above_it():
    """The door sits below the CLI, the phases and the settings: it takes values, not settings."""
    above = ("crypto_tune.cli", "crypto_tune.phases", "crypto_tune.config", "crypto_tune.study")
    for module in Path(storage.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not [n for n in names if n.startswith(above)], f"{module.name}: {names}"


# ------------------------------------------------------------------------------- the sweep
def test_the_sweepers_own_storage_error_leaves_hydra_as_sweep_aborted(tmp_path):
    """Hydra prints any Exception from a sweeper as a traceback (exit 1): the sweeper's project
    errors pass through it as SweepAborted, which the CLI alone prints as one line (exit 2)."""
    from omegaconf import OmegaConf

    from crypto_tune.exceptions import SweepAborted
    from crypto_tune.sweeper import CryptoTuneSweeperImpl

    sweeper = CryptoTuneSweeperImpl(
        None, "maximize", "sqlite:////nonexistent/dir/x.db", "s", 1, 1, 0.0, None, None
    )
    sweeper.config = OmegaConf.create({"paths": {"root": str(tmp_path)}})
    with pytest.raises(SweepAborted) as stopped:
        sweeper.sweep([])
    assert isinstance(stopped.value.error, ConfigError)
    assert str(stopped.value).startswith("storage.url: the folder /nonexistent/dir")
    assert not isinstance(stopped.value, Exception)  # no `except Exception` on the way stops it


_SWEEP = """
import json, sys
import optuna
original = optuna.storages.get_storage
from crypto_tune import cli, storage
try:
    cli.main(sys.argv[1:])
except SystemExit as stop:
    assert not stop.code, stop.code
url = storage.StorageURL.parse(sys.argv[-1].split("=", 1)[1])
opened = storage.open_storage(url)  # this process's worker storage: the one the sweeper used
print(json.dumps({
    "unpatched": optuna.storages.get_storage is original,
    "worker": isinstance(opened, storage.WorkerStorage),
    "swept": len(opened._swept),
}))
"""


@pytest.mark.slow
def test_a_sweep_is_handed_the_opened_storage_and_optuna_stays_unpatched(outputs: Path):
    url = f"sqlite:///{outputs}/optuna.db"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(_SWEEP),
            "-m",
            "phase=model",
            *FAST,
            "tracking.enabled=false",
            f"paths.outputs={outputs}",
            "hydra.sweeper.n_trials=2",
            f"storage.url={url}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"unpatched": True, "worker": True, "swept": 1}
    study = optuna.load_study(study_name=optuna.get_all_study_names(url)[0], storage=url)
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 2


def test_the_cli_refuses_a_sqlite_file_in_a_missing_folder_in_one_line(outputs: Path):
    done = run_cli(
        "-m",
        "phase=model",
        *FAST,
        f"paths.outputs={outputs}",
        "storage.url=sqlite:////nonexistent/dir/x.db",
    )
    assert done.returncode == 2, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("crypto-tune: error: storage.url: "), lines
    assert not Path("/nonexistent").exists()


def test_a_trials_parameters_written_together_are_the_rows_written_one_by_one(tmp_path):
    """Inside ``parameters_together`` a worker's trial's parameters are served to reads at once
    and reach the database when it ends, in one transaction: the same rows (values,
    distributions, order) as Optuna writes one parameter at a time; Optuna's distribution check
    still refuses at the call, and a write the database refuses raises at the end."""
    import sqlalchemy

    from crypto_tune.storage import parameters_together

    def suggest(trial: optuna.Trial) -> None:
        trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        trial.suggest_int("n", 1, 9)
        trial.suggest_categorical("c", ["a", None, 2.5, True])

    rows = "select trial_id, param_name, param_value, distribution_json from trial_params"
    written = {}
    for together in (False, True):
        url = f"sqlite:///{tmp_path}/{together}.db"
        # heartbeats far apart: no beat's commit inside the counts below
        worker = WorkerStorage(url, WorkerOptions(heartbeat=60, grace=120, db_wait=5))
        study = optuna.create_study(
            study_name="s", storage=worker, sampler=optuna.samplers.RandomSampler(seed=0)
        )
        commits: list[object] = []
        sqlalchemy.event.listen(worker.engine, "commit", commits.append)
        for _ in range(3):
            trial = study.ask()
            commits.clear()
            if together:
                with parameters_together(study._storage):
                    suggest(trial)
                    assert worker.get_trial(trial._trial_id).params.keys() == {"x", "lr", "n", "c"}
                    with worker.engine.connect() as connection:  # not written yet
                        mine = f"{rows} where trial_id = {trial._trial_id}"
                        held = connection.execute(sqlalchemy.text(mine)).all()
                    assert len(held) == (0 if trial.number else 4)
            else:
                suggest(trial)
            # a process's first trial: each parameter at once (no distribution known to check)
            assert len(commits) == (1 if together and trial.number else 4)
            assert worker.get_trial(trial._trial_id) == optuna.storages.RDBStorage.get_trial(
                worker, trial._trial_id
            )
            study.tell(trial, 0.5)
        with worker.engine.connect() as connection:
            written[together] = connection.execute(
                sqlalchemy.text(rows + " order by param_id")
            ).all()

        trial = study.ask()
        with pytest.raises(ValueError, match="different distribution"), parameters_together(worker):
            choice = optuna.distributions.CategoricalDistribution(["a"])
            worker.set_trial_param(trial._trial_id, "x", 0, choice)
        study.tell(trial, 0.5)
        trial = study.ask()
        with (
            pytest.raises(optuna.exceptions.UpdateFinishedTrialError),
            parameters_together(worker),
        ):
            trial.suggest_float("x", 0.0, 1.0)  # kept: "x" has a distribution to check
            optuna.storages.RDBStorage.set_trial_state_values(  # another worker ended it
                worker, trial._trial_id, optuna.trial.TrialState.FAIL
            )
        assert "x" not in optuna.storages.RDBStorage.get_trial(worker, trial._trial_id).params
        assert trial._trial_id not in worker._written  # its reads go to the database again
    assert written[True] == written[False] and len(written[True]) == 12


def test_parameters_together_changes_nothing_for_another_thread_or_storage(tmp_path):
    import threading

    from crypto_tune.storage import parameters_together

    plain = optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/plain.db")
    with parameters_together(plain):  # not a worker storage: nothing to keep
        pass
    worker = WorkerStorage(
        f"sqlite:///{tmp_path}/optuna.db", WorkerOptions(heartbeat=1, grace=2, db_wait=5)
    )
    study = optuna.create_study(study_name="s", storage=worker)
    trial = study.ask()
    with parameters_together(worker):
        other = threading.Thread(target=lambda: trial.suggest_float("x", 0.0, 1.0))
        other.start()
        other.join()
        # the other thread's parameter is written at once
        assert "x" in optuna.storages.RDBStorage.get_trial(worker, trial._trial_id).params
