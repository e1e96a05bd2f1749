"""The best run's choice (crypto_tune/phases/_best_choice.py): a refused ``best.from`` replay
leaves nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crypto_tune._preflight import preflight
from crypto_tune.exceptions import ConfigError


def test_a_replay_made_on_other_data_is_refused_and_leaves_no_cache(tmp_path: Path) -> None:
    """Checking the file's data prepares this run's (features cached on disk): the refusal
    removes the cache file and folders it wrote, and keeps the outputs folder that was there."""
    replay = tmp_path / "workflow.best.json"
    other = {"model": {"params": {}}, "strategy": {"params": {}}, "fingerprint": {"data": "0" * 16}}
    replay.write_text(json.dumps(other))
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    with pytest.raises(
        ConfigError, match=r"^best.from: .* was made on other inputs .*\(data 0{16}"
    ):
        preflight(["phase=best", "debug=fast", f"best.from={replay}", f"paths.outputs={outputs}"])
    assert list(outputs.iterdir()) == [], [str(p) for p in outputs.rglob("*")]
