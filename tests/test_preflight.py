"""The folder check of crypto_tune/_preflight.py: made once, safe beside another process."""

from __future__ import annotations

from pathlib import Path

import pytest

from crypto_tune._preflight import _make_folders, _remove
from crypto_tune.exceptions import ConfigError


def test_missing_folders_are_made_and_returned_deepest_first(tmp_path: Path) -> None:
    outputs = tmp_path / "a" / "outputs"
    made = _make_folders(("paths.outputs", str(outputs)), ("paths.cache", str(outputs / "cache")))
    assert made == [outputs / "cache", outputs, tmp_path / "a"]
    assert (outputs / "cache").is_dir()
    _remove(made)
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
