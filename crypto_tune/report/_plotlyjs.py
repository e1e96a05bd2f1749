"""plotly.js once per folder, not once per page.

A page puts :data:`PLOTLY_JS` in its ``<head>``; :func:`link_plotly` (called by
``write_report`` for every page written) writes ``plotly-<version>.min.js`` into the page's
folder once and points the page at it with a relative ``<script src>``: pages stay light (a few
hundred kB instead of ~4 MB more each), need no network (the library sits beside them; copy the
folder, not one file) and a plotly upgrade writes a new file instead of mixing versions.

A page copied somewhere its folder's library cannot follow (an MLflow artifact, shown by the
MLflow UI from its own URL) is made :func:`portable`: its script tag loads the same version of
plotly.js from the plotly CDN, which a browser showing the MLflow UI can reach.

>>> portable(PLOTLY_JS).startswith('<script src="https://cdn.plot.ly/plotly-')
True
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

# What a page writes where plotly.js belongs (replaced when the page is written).
PLOTLY_JS = '<script type="text/javascript" data-plotlyjs="here"></script>'
_LOCAL = re.compile(r'<script src="plotly-[0-9.]+\.min\.js" data-plotlyjs="local"></script>')


def _version() -> str:
    from plotly.offline import get_plotlyjs_version

    return str(get_plotlyjs_version())


def library_name() -> str:
    """``plotly-<version>.min.js``: the file every page of a folder shares."""
    return f"plotly-{_version()}.min.js"


def _write_library(folder: Path) -> None:
    """Write the library into ``folder`` unless it is there already (atomically: a reader never
    sees half a file, two writers leave one complete copy)."""
    from plotly.offline import get_plotlyjs

    path = folder / library_name()
    if path.is_file() and path.stat().st_size > 0:
        return
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(get_plotlyjs())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def link_plotly(html: str, folder: Path) -> str:
    """``html`` with :data:`PLOTLY_JS` pointing at the folder's shared library (written once);
    a page without the placeholder is returned unchanged."""
    if PLOTLY_JS not in html:
        return html
    _write_library(Path(folder))
    tag = f'<script src="{library_name()}" data-plotlyjs="local"></script>'
    return html.replace(PLOTLY_JS, tag)


def portable(html: str) -> str:
    """``html`` loading plotly.js (the same version) from the plotly CDN instead of its folder's
    file or the placeholder: for a copy of the page that leaves its folder."""
    tag = f'<script src="https://cdn.plot.ly/{library_name()}" charset="utf-8"></script>'
    return _LOCAL.sub(tag, html.replace(PLOTLY_JS, tag))


__all__ = ["PLOTLY_JS", "library_name", "link_plotly", "portable"]
