"""The real MLflow server, started on a free localhost port, serves what a sweep logged."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import run_cli

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
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
                    f"{base}/experiments/get-by-name?experiment_name=default.synthetic.4h.all.model"
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
        metrics = {m["key"] for m in runs[0]["data"]["metrics"]}
        assert metrics  # every run carries its metrics
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
