"""Disk faults: one line for "cannot write here", and the folders a run will write to checked
before any work.

The study storage's own faults (heartbeats, stale trials, database outages) are the storage
door's: :mod:`crypto_tune.storage`.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

_DISK_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EFBIG: "file too large",
}
_DISK_TEXTS = {os.strerror(code).lower(): text for code, text in _DISK_ERRNOS.items()}


def disk_fault(exc: BaseException) -> str | None:
    """One line for an OSError that means "cannot write here" (full disk, quota, read-only,
    permissions), naming the file when known; None for any other error.

    pyarrow reports a full disk as an OSError without errno ("... No space left on device"),
    so the message is read too."""
    if not isinstance(exc, OSError):
        return None
    reason = _DISK_ERRNOS.get(exc.errno or -1)
    if reason is None:
        lowered = str(exc).lower()
        reason = next((text for key, text in _DISK_TEXTS.items() if key in lowered), None)
    if reason is None:
        return None
    where = f" {exc.filename}" if exc.filename else ""
    return (
        f"cannot write{where}: {reason}; nothing half-written is kept (free space or fix the "
        "permissions of paths.outputs / paths.cache, then run the same command again)"
    )


def unwritable(settings: Any) -> str | None:
    """The first folder the run will write to that is not writable, as one line, or None.

    Checked before any work (preflight) and without writing anything: the nearest existing
    ancestor of each folder must be a writable directory (a read-only mount fails even for
    root)."""
    folders = [("paths.outputs", settings.paths.root), ("paths.cache", settings.paths.cache)]
    urls = (("storage.url", settings.storage.url), ("tracking.uri", settings.tracking.uri))
    for key, url in urls:
        if str(url).startswith("sqlite:///"):
            folders.append((key, str(Path(str(url).removeprefix("sqlite:///")).parent)))
    for key, folder in folders:
        path = Path(folder).absolute()
        while not path.exists() and path != path.parent:
            path = path.parent
        if not path.is_dir():
            return f"{key}: {path} is not a folder"
        if not os.access(path, os.W_OK | os.X_OK):
            try:
                read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
            except OSError:
                read_only = False
            why = "is on a read-only file system" if read_only else "is not writable"
            return f"{key}: {path} {why} (choose another folder with paths.outputs=DIR)"
    return None


__all__ = ["disk_fault", "unwritable"]
