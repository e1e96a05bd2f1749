"""One self-contained HTML report of a tuning run (plotly, works offline).

Example::

    html = build_report(title="ETHUSDT 4h", model_study=model_study, strategy_study=strategy_study,
                        best=json.loads(best_file.read_text()),
                        equity={"in_sample": is_returns, "out_of_sample": oos_returns},
                        fold_ic=pd.DataFrame(best["metrics"]["model"]["folds"]))
    write_report(html, outputs / "report.html")
"""

from crypto_tune.report._figures import equity_curves
from crypto_tune.report._html import build_report, format_value, write_report

__all__ = ["build_report", "equity_curves", "format_value", "write_report"]
