"""Shared fixtures: the CLI as a subprocess, a private outputs folder, the real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# Hypothesis: `make test` and CI are deterministic (the same examples on every run, derived from
# each test); HYPOTHESIS_PROFILE=dev explores new random examples and replays saved failures.
# Loaded before any test module builds its own @settings, which inherit from this profile.
hypothesis_settings.register_profile(
    "ci", derandomize=True, max_examples=100, deadline=None, database=None
)
hypothesis_settings.register_profile("dev", derandomize=False, max_examples=100, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
PG_SETUP = ROOT / "scripts" / "pg-setup.sh"
TEST_PG_URL = os.environ.get(
    "CRYPTO_TUNE_TEST_PG_URL", "postgresql://crypto_tune:crypto_tune@127.0.0.1:5432/crypto_tune"
)
# A small synthetic market and short sweeps: the suite's default scale.
FAST = ["debug=fast"]


def run_cli(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run ``python -m crypto_tune ARGS`` in a subprocess and capture its output."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "crypto_tune", *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def best_dir(outputs: Path) -> Path:
    """The one study folder under ``outputs/best`` (each study's best run has its own)."""
    folders = [p for p in (outputs / "best").iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    """A private ``paths.outputs`` for one test."""
    path = tmp_path / "outputs"
    path.mkdir()
    return path


@pytest.fixture
def experiment() -> str:
    """A unique experiment name, so studies in shared storage never collide."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real exchange candles beside the project (tests skip when the folder is absent)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


def _pg_reachable(url: str) -> bool:
    import sqlalchemy

    from crypto_tune.config._resolvers import database_url

    try:
        engine = sqlalchemy.create_engine(database_url(url), connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def _optuna_tables(url: str) -> None:
    """Create Optuna's tables in the test database, in this one process. Workers started
    together on a new database each create them (Optuna's create_all is not safe beside
    another process: one fails with UniqueViolation on pg_type): the tests of several workers
    must not depend on an earlier test having made them."""
    import optuna

    from crypto_tune.config._resolvers import database_url

    optuna.storages.RDBStorage(database_url(url)).engine.dispose()


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the project's test database; sets PostgreSQL up (scripts/pg-setup.sh) if needed."""
    if not _pg_reachable(TEST_PG_URL):
        done = subprocess.run(["bash", str(PG_SETUP)], capture_output=True, text=True)
        if done.returncode != 0 or not _pg_reachable(TEST_PG_URL):
            pytest.fail(f"PostgreSQL setup failed: {done.stderr.strip()[-500:]}")
    _optuna_tables(TEST_PG_URL)
    return TEST_PG_URL
