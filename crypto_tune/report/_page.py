"""What every HTML page of the report shares: the style sheet, the scripts that count the
page's rendered figures and script errors, and the atomic write beside the folder's plotly.js.

A page counts its own rendered figures and script errors on load and writes them into
``<div id="report-status" data-expected=N data-rendered=N data-errors=M data-done=1>``, so a
headless browser's ``--dump-dom`` tells whether every figure rendered.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from crypto_tune.exceptions import ConfigError
from crypto_tune.report._plotlyjs import link_plotly

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1200px;padding:1rem 1.5rem;color:#222;background:#fff}
h1{margin:.2rem 0}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
.generated{color:#666;font-size:.9rem}
.verdict{margin:1rem 0;padding:.8rem 1rem;border-radius:6px;font-weight:600;border:2px solid}
.verdict.significant{background:#e6f4ea;border-color:#1e8e3e;color:#0d652d}
.verdict.not-significant{background:#fce8e6;border-color:#d93025;color:#a50e0e}
.verdict.unknown{background:#f1f3f4;border-color:#9aa0a6;color:#3c4043}
.verdict.caution{background:#fef7e0;border-color:#f29900;color:#8a4b00}
.tables{display:flex;flex-wrap:wrap;gap:2rem;align-items:flex-start}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:.3rem .8rem;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{border-bottom:2px solid #ccc}
caption{text-align:left;font-weight:600;padding:.3rem 0}
.override{color:#b06000;font-size:.8rem}
.figure{margin:1rem 0}.caption{color:#555;font-size:.85rem;margin:.2rem 0 0 0}
.note{color:#666;font-style:italic;margin:.6rem 0}
#report-status{color:#888;font-size:.8rem;margin-top:2rem;white-space:pre-wrap}
.scroll{max-height:34rem;overflow:auto;border:1px solid #e3e3e3;border-radius:4px}
table.trades{width:100%;font-size:.85rem}
table.trades thead th{position:sticky;top:0;background:#f7f7f7;cursor:pointer;white-space:nowrap}
table.trades thead th[data-dir=asc]::after{content:" \\25B2"}
table.trades thead th[data-dir=desc]::after{content:" \\25BC"}
table.trades td{padding:.15rem .6rem;white-space:nowrap}
table.trades tbody tr:nth-child(even){background:#fafafa}
td.pos{color:#0d652d}td.neg{color:#a50e0e}h3{margin:1.2rem 0 .2rem 0}
"""

# Installed first in <head>: collects script errors before any other script runs.
ERRORS_JS = """
window.__reportErrors = [];
window.__reportFigures = %d;
window.onerror = function (message, source, line, column) {
  window.__reportErrors.push(String(message) + " (" + source + ":" + line + ":" + column + ")");
};
window.addEventListener("unhandledrejection", function (event) {
  window.__reportErrors.push("unhandled rejection: " + String(event.reason));
});
"""

# Last in <body>: once loaded, waits (at most ~5 s) for every figure, then writes the status.
STATUS_JS = """
(function () {
  function rendered() {
    var n = 0;
    document.querySelectorAll(".figure[data-figure]").forEach(function (div) {
      if (div.querySelector(".js-plotly-plot .main-svg")) { n += 1; }
    });
    return n;
  }
  function report(done) {
    var status = document.getElementById("report-status");
    var n = rendered();
    var errors = window.__reportErrors;
    status.setAttribute("data-rendered", String(n));
    status.setAttribute("data-errors", String(errors.length));
    status.setAttribute("data-done", done ? "1" : "0");
    status.textContent = n + " of " + window.__reportFigures + " figures rendered, " +
      errors.length + " script error(s)" + (errors.length ? ":\\n" + errors.join("\\n") : "");
  }
  var tries = 0;
  function poll() {
    tries += 1;
    if (rendered() >= window.__reportFigures || tries >= 100) { report(true); }
    else { report(false); setTimeout(poll, 50); }
  }
  window.addEventListener("load", poll);
})();
"""


def write_report(html: str, path: Path) -> Path:
    """Write ``html`` to ``path`` atomically (temporary file + ``os.replace``); returns ``path``.

    The page's plotly.js placeholder points at the folder's one copy of the library
    (:func:`crypto_tune.report._plotlyjs.link_plotly`), written beside it the first time."""
    if not isinstance(html, str) or not html:
        raise ConfigError(f"html must be a non-empty string, got {type(html).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    html = link_plotly(html, path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(html)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a report is meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


__all__ = ["CSS", "ERRORS_JS", "STATUS_JS", "write_report"]
