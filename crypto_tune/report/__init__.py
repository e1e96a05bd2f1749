"""One self-contained HTML report of a tuning run (plotly, works offline).

Example::

    files = read_best_files(best, best_file)
    html = build_report(title="ETHUSDT 4h", model_study=model_study, strategy_study=strategy_study,
                        best=best, equity=files.equity, benchmark=files.benchmark,
                        trades=files.trades,
                        fold_ic=pd.DataFrame(best["metrics"]["model"]["folds"]))
    write_report(html, outputs / "report.html")

``phase=best`` writes the files the report reads with :func:`benchmark_returns` and
:func:`trade_records` (``crypto_tune/report/_data.py``: the data contract).
"""

from crypto_tune.report._data import (
    BestFiles,
    benchmark_returns,
    buy_and_hold,
    read_best_files,
    trade_records,
)
from crypto_tune.report._equity import equity_curves
from crypto_tune.report._html import build_report, format_value, write_report

__all__ = [
    "BestFiles",
    "benchmark_returns",
    "build_report",
    "buy_and_hold",
    "equity_curves",
    "format_value",
    "read_best_files",
    "trade_records",
    "write_report",
]
