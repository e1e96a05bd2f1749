"""A sweep's Ctrl-C waits for MLflow's writes (crypto_tune/_sweep_guards.py), on a real store."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import mlflow
import pytest

from crypto_tune import _sweep_guards
from crypto_tune._sweep_guards import DeferredInterrupt, held_interrupts
from crypto_tune._tracking_store import Run


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch):
    """A sweep's guard installed in this process; the handler and hooks restored after."""
    before = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(_sweep_guards, "_INSTALLED", [])
    passed_on: list[sys.UnraisableHookArgs] = []
    monkeypatch.setattr(sys, "unraisablehook", passed_on.append)  # the hook install() wraps
    installed = DeferredInterrupt()
    installed.passed_on = passed_on  # type: ignore[attr-defined]
    installed.install()
    installed.enter_task()
    yield installed
    signal.signal(signal.SIGINT, before)


class _Interrupting:
    """A tag value whose text is read inside the write: Ctrl-C lands there."""

    def __str__(self) -> str:
        signal.raise_signal(signal.SIGINT)
        return "written"


def test_without_a_sweep_nothing_is_held() -> None:
    with held_interrupts():
        pass  # no guard installed: a plain block, nothing raised


def test_ctrl_c_inside_a_write_is_raised_once_the_write_is_done(
    guard: DeferredInterrupt, tmp_path: Path
) -> None:
    """Before, the interrupt was raised inside MLflow's SQLAlchemy session: the store stayed
    locked and the sweep's next writes failed."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    active = mlflow.start_run()
    try:
        with pytest.raises(KeyboardInterrupt):
            Run(mlflow, active).tags({"where": _Interrupting()})
    finally:
        mlflow.end_run()
    assert guard.requested
    tags = mlflow.MlflowClient().get_run(active.info.run_id).data.tags
    assert tags["where"] == "written"  # the write finished before the interrupt was raised


def test_a_second_ctrl_c_is_never_held(guard: DeferredInterrupt) -> None:
    with pytest.raises(KeyboardInterrupt), held_interrupts():
        guard._handle(signal.SIGINT, None)  # held
        guard._handle(signal.SIGINT, None)  # raised at once


def test_between_trials_the_block_does_not_raise(guard: DeferredInterrupt) -> None:
    guard.in_task = False  # the sweeper's bookkeeping: held for the next trial's start
    with held_interrupts():
        guard._handle(signal.SIGINT, None)
    with pytest.raises(KeyboardInterrupt):
        guard.enter_task()


def test_an_interrupt_a_finalizer_swallowed_prints_no_traceback(
    guard: DeferredInterrupt,
) -> None:
    class Finalised:
        def __del__(self) -> None:
            guard._handle(signal.SIGINT, None)

    Finalised()  # Python ignores the KeyboardInterrupt raised in __del__: recorded, not printed
    assert guard.requested
    assert guard.passed_on == []  # type: ignore[attr-defined]

    class Failing:
        def __del__(self) -> None:
            raise ValueError("any other error in a finalizer is still reported")

    Failing()
    (reported,) = guard.passed_on  # type: ignore[attr-defined]
    assert isinstance(reported.exc_value, ValueError)
