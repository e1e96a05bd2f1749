"""What this process made, so that a run refused by bad input leaves nothing behind.

A refused run (a missing file, a bad value, data too short for the split) removes the folders it
made that are still empty and the files its checks wrote (:func:`undo`), never a folder or file
that was there before or that another process made meanwhile (workers may start together):

- folders are made one level at a time (:func:`make_folders`): a ``mkdir`` that succeeds here
  made a folder of this process; one that finds the folder there leaves it to its maker. They
  are removed deepest first and only while empty (``rmdir``), so a folder another process has
  written into meanwhile stays.
- files are recorded only while a run's checks run (:func:`checking`) and only when new
  (:func:`wrote`, e.g. a feature cache); a file replaced since (another inode or time) stays.

Folders stay recorded for the whole process (a single run refused after its checks removes them
too, while empty); files only until the checks pass: what a run writes after that is its result.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

_FOLDERS: list[Path] = []  # made by this process, in the order made
# New files written while checking: (inode, mtime, how to remove it: None for os.unlink).
_FILES: dict[Path, tuple[int, int, Callable[[Path], None] | None]] = {}
_CHECKING: list[int] = []  # one entry per open checking() block


def make_missing(path: Path) -> list[Path]:
    """Make ``path`` and its missing parents; return those made here, the deepest first.

    A folder another process makes meanwhile is neither an error nor ours; a parent it removes
    meanwhile is looked for again (twice)."""
    for attempt in range(3):
        try:
            return _make_missing_once(path)
        except FileNotFoundError:  # a parent the other process made may be gone again
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _make_missing_once(path: Path) -> list[Path]:
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    made: list[Path] = []
    try:
        for step in reversed(missing):
            try:
                step.mkdir()
            except FileExistsError:
                if not step.is_dir():
                    raise
            else:
                made.insert(0, step)
    except OSError:
        remove_empty(made)
        raise
    return made


def remove_empty(folders: Iterable[Path]) -> None:
    """Remove each folder that is still empty (give them the deepest first)."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def make_folders(folder: Path | str) -> None:
    """``folder`` and its missing parents made (:func:`make_missing`), recorded for :func:`undo`
    (``mkdir -p`` for the folders a run writes to)."""
    path = Path(folder).absolute()
    if not path.is_dir():
        _FOLDERS.extend(reversed(make_missing(path)))


def wrote(path: Path, *, existed: bool, remove: Callable[[Path], None] | None = None) -> None:
    """Record ``path``, just written, for :func:`undo` when it is new and the run's checks are
    running (:func:`checking`). ``remove``: how to remove it then, for a file this process
    keeps writing to (a study database: removed only while no study is in it); it is called
    while ``path`` is still the same file, whatever its time."""
    if _CHECKING and not existed:
        with contextlib.suppress(OSError):
            stat = path.stat()
            _FILES[path.absolute()] = (stat.st_ino, stat.st_mtime_ns, remove)


def undo(since: int = 0) -> None:
    """Remove the files recorded (unless replaced since) and the folders made after the first
    ``since`` ones, the deepest first and only while empty."""
    for path, (inode, mtime, remove) in list(_FILES.items()):
        with contextlib.suppress(OSError):
            stat = path.stat()
            if stat.st_ino == inode and (remove is not None or stat.st_mtime_ns == mtime):
                (remove or os.unlink)(path)
    _FILES.clear()
    folders = _FOLDERS[since:]
    del _FOLDERS[since:]
    remove_empty(sorted(folders, key=lambda p: len(p.parts), reverse=True))


@contextlib.contextmanager
def checking() -> Iterator[None]:
    """A run's checks: the new files written inside are recorded, and if the block raises,
    they and the folders made inside are removed (:func:`undo`) before the error goes on."""
    since = len(_FOLDERS)
    _CHECKING.append(since)
    try:
        yield
    except BaseException:
        _CHECKING.pop()
        undo(since)
        raise
    _CHECKING.pop()
    if not _CHECKING:
        _FILES.clear()  # the checks passed: what they wrote is kept


__all__ = ["checking", "make_folders", "make_missing", "remove_empty", "undo", "wrote"]
