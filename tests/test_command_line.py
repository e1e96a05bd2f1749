"""crypto_tune._command_line: what a replay (``best.from=FILE``) takes from the file's own
command line before Hydra composes the run."""

from __future__ import annotations

import json
from pathlib import Path

from crypto_tune._command_line import replay_overrides

RECORDED = [
    "phase=best",
    "asset=universe",
    "strategy=topk",
    "universe.top_k=3",
    "seed=7",
    "paths.outputs=/somewhere",
]


def _file(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "workflow.best.json"
    path.write_text(json.dumps({"overrides": RECORDED}))
    return path


def test_the_files_data_study_and_rule_choice_are_replayed(tmp_path: Path) -> None:
    path = _file(tmp_path)
    # the rule's choice (a universe's strategy=topk) too; its values come from the file itself
    assert replay_overrides(["phase=best", f"best.from={path}"]) == [
        "asset=universe",
        "strategy=topk",
        "seed=7",
    ]
    # the command line wins: a group or key it gives is not replayed
    given = ["phase=best", f"best.from={path}", "strategy=zscore", "asset.timeframe=1h"]
    assert replay_overrides(given) == ["seed=7"]
    # a rule's value given is not its choice: the file's choice still applies
    given = ["phase=best", f"best.from={path}", "strategy.entry=2"]
    assert "strategy=topk" in replay_overrides(given)


def test_a_quoted_path_is_read_as_hydra_reads_it(tmp_path: Path) -> None:
    path = _file(tmp_path / "a folder")
    for quoted in (f"best.from='{path}'", f'best.from="{path}"'):
        assert replay_overrides(["phase=best", quoted]) == [
            "asset=universe",
            "strategy=topk",
            "seed=7",
        ]
    assert replay_overrides(["phase=best", f"best.from={tmp_path / 'absent.json'}"]) == []
