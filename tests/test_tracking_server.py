"""The real MLflow server, started on a free localhost port, serves what a sweep logged."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Per request: a server's first answers can take seconds on a loaded machine (the search below
# is not retried).
TIMEOUT_S = 30


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        return json.loads(response.read())


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        return json.loads(response.read())


def test_mlflow_server_lists_the_sweep_runs(outputs: Path) -> None:
    done = run_cli(
        "-m", "phase=model", "debug=fast", "hydra.sweeper.n_trials=2", f"paths.outputs={outputs}"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    port = _free_port()
    mlflow_bin = str(Path(sys.executable).with_name("mlflow"))
    server = subprocess.Popen(
        [
            mlflow_bin,
            "server",
            "--backend-store-uri",
            f"sqlite:///{outputs}/mlflow.db",
            "--default-artifact-root",
            str(outputs / "mlartifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/api/2.0/mlflow"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                experiment = _get(
                    f"{base}/experiments/get-by-name?experiment_name=default.SYNTH.4h.all.static.h1.model"
                )["experiment"]
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"MLflow server did not answer: {server.stderr.read()[-2000:]}")
                time.sleep(1)
        runs = _post(
            f"{base}/runs/search",
            {"experiment_ids": [experiment["experiment_id"]], "max_results": 100},
        )["runs"]
        tags = [{t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in runs]
        trial_runs = [t for t in tags if t.get("kind") != "sweep-summary"]
        assert sorted(t["trial_number"] for t in trial_runs) == ["0", "1"]
        assert sum(t.get("kind") == "sweep-summary" for t in tags) == 1
        # the UI nests the trials under the sweep's parent and shows their dataset
        (parent,) = [
            r["info"]["run_id"]
            for r, t in zip(runs, tags, strict=True)
            if not t.get("mlflow.parentRunId")
        ]
        assert all(t["mlflow.parentRunId"] == parent for t in trial_runs)
        assert all(r["inputs"]["dataset_inputs"] for r in runs)
        metrics = {m["key"] for m in runs[0]["data"]["metrics"]}
        assert metrics  # every run carries its metrics
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.mark.postgres
def test_make_dashboard_serves_a_postgres_study_from_a_plain_url(
    pg_url: str, experiment: str
) -> None:
    """`make dashboard STORAGE=postgresql://...` (plain URL: psycopg 3) lists the study; the
    password is not shown."""
    import optuna

    assert pg_url.startswith("postgresql://")
    name = f"{experiment}.dashboard"
    study = optuna.create_study(study_name=name, storage=pg_url)
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=2)
    port = _free_port()
    make = subprocess.Popen(
        [
            "make",
            "-s",
            "-o",
            ".venv/.installed",  # never reinstall from a test
            "dashboard",
            f"BIN={Path(sys.executable).parent}",
            f"STORAGE={pg_url}",
            f"DASHBOARD_PORT={port}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: stopped as one below
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                names = [
                    s["study_name"]
                    for s in _get(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
                ]
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if make.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"optuna-dashboard did not answer: {make.communicate()[0][-2000:]}")
                time.sleep(1)
        assert name in names
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        try:
            output = make.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            output = make.communicate()[0]
        optuna.delete_study(study_name=name, storage=pg_url)
    credentials = pg_url.split("//", 1)[1].split("@", 1)[0]  # user:password
    assert ":***@" in output and f"{credentials}@" not in output
