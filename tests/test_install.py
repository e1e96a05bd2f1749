"""A fresh `pip install` (what a pip user runs) gives optuna >= 4 and a working Optuna sweeper.

This is the dependency trap of hydra-optuna-sweeper 1.3.0 (optuna<3, broken on SQLAlchemy 2):
the project pins the maintainers' 1.4.0 release candidates, and this test proves the result
in a new virtual environment, outside the project directory, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def _run(*cmd: str, cwd: Path, timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory) -> Path:
    """A new venv with the project installed the way the README tells a pip user."""
    home = tmp_path_factory.mktemp("fresh")
    venv = home / "venv"
    done = _run(sys.executable, "-m", "venv", str(venv), cwd=home)
    assert done.returncode == 0, done.stderr
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    done = _run(*pip, "install", "--quiet", str(ROOT), cwd=home)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


def test_pip_check_and_versions(fresh_env: Path) -> None:
    python = str(fresh_env / "bin" / "python")
    done = _run(python, "-m", "pip", "check", cwd=fresh_env)
    assert done.returncode == 0, done.stdout + done.stderr
    code = (
        "import optuna, hydra, sqlalchemy; from importlib.metadata import version; "
        "print(optuna.__version__, hydra.__version__, sqlalchemy.__version__, "
        "version('hydra-optuna-sweeper'))"
    )
    done = _run(python, "-c", code, cwd=fresh_env)
    assert done.returncode == 0, done.stderr
    optuna_v, hydra_v, sqlalchemy_v, sweeper_v = done.stdout.split()
    assert int(optuna_v.split(".")[0]) >= 4
    assert int(sqlalchemy_v.split(".")[0]) >= 2
    assert sweeper_v.startswith("1.4") and hydra_v.startswith("1.4")


@pytest.mark.parametrize("storage", ["sqlite", "postgres"])
def test_installed_sweeper_runs_from_any_directory(
    fresh_env: Path, tmp_path: Path, storage: str, experiment: str, request: pytest.FixtureRequest
) -> None:
    extra = []
    if storage == "postgres":
        pg_url = request.getfixturevalue("pg_url")
        # A new study each run: the name was the temporary folder's last six letters, the same
        # every run, so the test database kept an earlier run's study and this run resumed it.
        extra = ["storage=postgres", f"storage.url={pg_url}", f"experiment_name={experiment}"]
    outputs = tmp_path / "outputs"
    done = _run(
        str(fresh_env / "bin" / "crypto-tune"),
        "-m",
        "phase=model",
        "debug=fast",
        f"paths.outputs={outputs}",
        "hydra.sweeper.n_trials=2",
        "tracking.enabled=false",
        *extra,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Best value" in done.stdout
    assert list(outputs.glob("multiruns/*/*/optimization_results.yaml"))


def test_the_package_list_names_every_conf_folder() -> None:
    """Issue 22, item 8: setuptools warned once per conf/ folder missing from `packages`."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    folders = {p for p in (ROOT / "conf").rglob("*") if p.is_dir() and p.name != "__pycache__"}
    wanted = {"crypto_tune.conf." + ".".join(p.relative_to(ROOT / "conf").parts) for p in folders}
    assert wanted <= listed, sorted(wanted - listed)
    assert isinstance(project["project"]["license"], str)  # an SPDX expression, not a table


def test_the_package_list_names_every_subpackage() -> None:
    """A subpackage missing from `packages` works in the editable install and is absent from
    the wheel: `pip install .` then fails to import it."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    code = ROOT / "crypto_tune"
    wanted = {
        ".".join(("crypto_tune", *p.parent.relative_to(code).parts))
        for p in code.rglob("__init__.py")
    }
    assert wanted <= listed, sorted(wanted - listed)


def test_building_the_wheel_prints_no_setuptools_warning(tmp_path: Path) -> None:
    """`make install` printed ~20 setuptools warnings (license table, packages configuration).
    Built from a copy: an in-tree build would leave build/ in the project."""
    import shutil

    source = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("conf", "crypto_tune"):
        shutil.copytree(ROOT / name, source / name, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    done = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(source),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "BuildBackendWarning" not in output, output[output.find("BuildBackendWarning") - 500 :]


def test_every_dependency_is_in_both_locks() -> None:
    """`make install` installs requirements.lock (uv.lock's export), then the project without
    its dependencies: a dependency missing from the locks is missing from the install. CMA-ES
    (optuna.samplers.CmaEsSampler, make bench's sampler table) needs the cmaes package."""
    import re
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {canonicalize_name(Requirement(d).name) for d in project["dependencies"]}
    assert "cmaes" in wanted
    exported, lock = (ROOT / "requirements.lock").read_text(), (ROOT / "uv.lock").read_text()
    pinned = {canonicalize_name(m) for m in re.findall(r"^([A-Za-z0-9_.-]+)==", exported, re.M)}
    locked = {canonicalize_name(m) for m in re.findall(r'^name = "([^"]+)"', lock, re.M)}
    assert wanted <= pinned, sorted(wanted - pinned)
    assert wanted <= locked, sorted(wanted - locked)


def test_the_cmaes_sampler_runs_in_a_fresh_install(fresh_env: Path) -> None:
    code = (
        "import optuna; optuna.logging.set_verbosity(optuna.logging.WARNING); "
        "study = optuna.create_study(sampler=optuna.samplers.CmaEsSampler(seed=0)); "
        "study.optimize(lambda t: t.suggest_float('x', -1, 1) ** 2 + t.suggest_float('y', -1, 1)"
        " ** 2, n_trials=12); print(len(study.trials))"
    )
    done = _run(str(fresh_env / "bin" / "python"), "-c", code, cwd=fresh_env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "12"
