"""`make ui`: stopping it (Ctrl-C) stops MLflow's server and every worker it started (issue 22,
item 8: MLflow's worker processes used to outlive it)."""

from __future__ import annotations

import contextlib
import os
import pty
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _descendants(root: int) -> set[int]:
    """Pids of every living process below ``root`` (by parent pid)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _drain(fd: int) -> None:
    """Read the terminal's output until it closes (a full pty buffer would block make)."""
    with contextlib.suppress(OSError):
        while os.read(fd, 65536):
            pass


def _exited(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
        time.sleep(0.5)
    return False


def test_ctrl_c_stops_the_server_and_its_workers(tmp_path: Path) -> None:
    """`make ui` in a terminal, then Ctrl-C typed into it: nothing it started survives."""
    if not (ROOT / ".venv" / "bin" / "mlflow").exists():
        pytest.skip("no .venv here (make install makes it)")
    out = tmp_path / "ui-outputs"
    port = _free_port()
    pid, terminal = pty.fork()  # make in a new session whose terminal is this pty
    if pid == 0:  # the child: become make, with the signals a shell in a terminal gets
        for number in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE):
            signal.signal(number, signal.SIG_DFL)  # not ignored, even if the test runner is
        os.chdir(ROOT)
        # -o: never (re)install the venv from a test (a stamp older than pyproject.toml would)
        command = ["make", "--no-print-directory", "-o", ".venv/.installed", "ui"]
        os.execvp("make", [*command, f"OUT={out}", f"UI_PORT={port}"])
    reader = threading.Thread(target=_drain, args=(terminal,), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert os.waitpid(pid, os.WNOHANG)[0] == 0, "make ui stopped before its server"
            time.sleep(1)
        else:
            pytest.fail("the MLflow UI never answered")
        time.sleep(10)  # the workers start after the server answers
        deadline = time.monotonic() + 120  # a loaded machine starts them later still
        while len(_descendants(pid)) < 4 and time.monotonic() < deadline:
            time.sleep(1)
        started = _descendants(pid)
        assert len(started) >= 4, started  # the shell, the server and its workers
        os.write(terminal, b"\x03")  # Ctrl-C: the terminal signals its foreground group
        assert _exited(pid, 120), "make ui did not stop on Ctrl-C"
        deadline = time.monotonic() + 60
        while _alive(started) and time.monotonic() < deadline:
            time.sleep(1)
        assert not _alive(started), "MLflow processes outlived make ui"
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == 0:
                os.kill(pid, signal.SIGTERM)
                _exited(pid, 60)
        os.close(terminal)
