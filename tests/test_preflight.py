"""The folder check of crypto_tune/_preflight.py: made once, safe beside another process."""

from __future__ import annotations

from pathlib import Path

import pytest

from crypto_tune._made import remove_empty
from crypto_tune._preflight import _make_folders
from crypto_tune.exceptions import ConfigError


def test_missing_folders_are_made_and_returned_deepest_first(tmp_path: Path) -> None:
    outputs = tmp_path / "a" / "outputs"
    made = _make_folders(("paths.outputs", str(outputs)), ("paths.cache", str(outputs / "cache")))
    assert made == [outputs / "cache", outputs, tmp_path / "a"]
    assert (outputs / "cache").is_dir()
    remove_empty(made)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_another_process_makes_meanwhile_is_theirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers started together: both see ``outputs`` missing, the other one makes it first.
    Before, the second failed with "cannot create ... (File exists)"."""
    theirs = tmp_path / "outputs"
    real_exists = Path.exists

    def seen_before_they_made_it(path: Path, **kwargs: bool) -> bool:
        if path == theirs and not real_exists(path):
            theirs.mkdir()  # the other process, between our look and our mkdir
            return False
        return real_exists(path, **kwargs)

    monkeypatch.setattr(Path, "exists", seen_before_they_made_it)
    made = _make_folders(("paths.outputs", str(theirs)), ("paths.cache", str(theirs / "cache")))
    assert made == [theirs / "cache"]  # not theirs: a failure here must not remove it
    assert theirs.is_dir()


def test_a_file_in_the_way_is_one_line_and_nothing_is_left(tmp_path: Path) -> None:
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "cache").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"^paths.cache: cannot create .*choose another folder"):
        _make_folders(
            ("paths.outputs", str(tmp_path / "new" / "outputs")),
            ("paths.cache", str(tmp_path / "outputs" / "cache" / "x")),
        )
    assert not (tmp_path / "new").exists()


def test_a_folder_that_cannot_be_made_is_refused_not_retried_forever() -> None:
    with pytest.raises(ConfigError, match=r"^paths.outputs: cannot create /proc/crypto-tune-x"):
        _make_folders(("paths.outputs", "/proc/crypto-tune-x/outputs"))


# A run refused by bad input leaves nothing behind (crypto_tune/_made.py).


def _refused(tmp_path: Path, *args: str) -> str:
    from crypto_tune._preflight import preflight

    with pytest.raises(ConfigError) as refused:
        preflight([*args, "debug=fast"])
    return str(refused.value)


def _short_csv(path: Path, bars: int) -> Path:
    from crypto_tune.data import synthetic_market

    synthetic_market(seed=1, n_bars=bars, start="2024-01-01").candles.to_csv(path)
    return path


@pytest.mark.parametrize("outputs_before", [False, True])
def test_a_missing_data_file_leaves_no_folder_and_keeps_one_there_before(
    tmp_path: Path, outputs_before: bool
) -> None:
    outputs = tmp_path / "new" / "outputs"
    if outputs_before:
        outputs.mkdir(parents=True)
    missing = tmp_path / "none.csv"
    csv = ["asset=csv", f"asset.path={missing}", "asset.symbol=X", f"paths.outputs={outputs}"]
    message = _refused(tmp_path, "phase=best", *csv)
    assert message.startswith(f"asset.path: file {missing} not found")
    assert outputs.is_dir() is outputs_before  # made by the check: gone; there before: kept
    assert [p.name for p in tmp_path.rglob("*")] == (["new", "outputs"] if outputs_before else [])


def test_data_too_short_for_the_split_leaves_nothing(tmp_path: Path) -> None:
    short = _short_csv(tmp_path / "short.csv", 200)
    csv = ["asset=csv", f"asset.path={short}", "asset.symbol=X", "asset.timeframe=4h"]
    message = _refused(tmp_path, "phase=inspect", *csv, f"paths.outputs={tmp_path / 'out'}")
    assert "too little for the split" in message
    assert [p.name for p in tmp_path.iterdir()] == ["short.csv"]


def test_a_refused_sweep_leaves_no_study_database(tmp_path: Path) -> None:
    """Phase 2 without its Phase 1 study: the SQLite file the check opened is removed."""
    outputs = tmp_path / "outputs"
    message = _refused(tmp_path, "-m", "phase=strategy", f"paths.outputs={outputs}")
    assert message.startswith("no model study named")
    assert not outputs.exists(), [str(p) for p in tmp_path.rglob("*")]
