"""What a refused run made is removed (crypto_tune/_made.py), never what was there before or
what another process made or wrote meanwhile."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crypto_tune import _made
from crypto_tune.exceptions import ConfigError


def test_a_refused_check_removes_its_new_folders_and_files_only(tmp_path: Path) -> None:
    before = tmp_path / "there"
    (before / "cache").mkdir(parents=True)
    kept = before / "cache" / "old.parquet"
    kept.write_text("an earlier run's cache")
    with pytest.raises(ConfigError), _made.checking():
        _made.make_folders(before / "cache" / "features")
        _made.make_folders(tmp_path / "new" / "outputs")
        new = before / "cache" / "features" / "new.parquet"
        new.write_text("this run's cache")
        _made.wrote(new, existed=False)
        kept.write_text("rewritten by this run")
        _made.wrote(kept, existed=True)
        raise ConfigError("bad input")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "there",
        "there/cache",
        "there/cache/old.parquet",
    ]


def test_checks_that_pass_keep_what_they_wrote(tmp_path: Path) -> None:
    with _made.checking():
        _made.make_folders(tmp_path / "out" / "cache")
        (tmp_path / "out" / "cache" / "f.parquet").write_text("x")
        _made.wrote(tmp_path / "out" / "cache" / "f.parquet", existed=False)
    _made.undo(len(_made._FOLDERS))  # a later refusal: the passed checks' files stay
    assert (tmp_path / "out" / "cache" / "f.parquet").is_file()


def test_what_another_process_made_or_wrote_meanwhile_stays(tmp_path: Path) -> None:
    """Workers started together: the other one made ``outputs`` first and writes into the
    folder this one made; it also replaced the cache file this one wrote."""
    theirs = tmp_path / "outputs"
    theirs.mkdir()  # theirs: mkdir here finds it there
    with pytest.raises(ConfigError), _made.checking():
        _made.make_folders(theirs / "cache")
        _made.make_folders(theirs / "runs")
        mine = theirs / "cache" / "f.parquet"
        mine.write_text("mine")
        _made.wrote(mine, existed=False)
        replaced = theirs / "cache" / ".f.tmp"
        replaced.write_text("theirs, renamed over mine")
        os.replace(replaced, mine)
        (theirs / "runs" / "their.log").write_text("theirs")
        raise ConfigError("bad input")
    assert theirs.is_dir() and (theirs / "runs" / "their.log").is_file()
    assert mine.read_text() == "theirs, renamed over mine"


def test_a_folder_made_and_removed_by_the_check_is_not_removed_again(tmp_path: Path) -> None:
    """Once undone, a folder is forgotten: another process may make it again and keep it."""
    with pytest.raises(ConfigError), _made.checking():
        _made.make_folders(tmp_path / "out")
        raise ConfigError("bad input")
    (tmp_path / "out").mkdir()  # another process, now
    _made.undo()
    assert (tmp_path / "out").is_dir()
