"""Universe studies: many symbols on one calendar, a cross-sectional model, a ranked portfolio.

The maths (the panel, the portfolio kernel) is pure; :mod:`crypto_tune.universe._dataset` is the
door that reads a universe's candles and folds them on its calendar.
"""

from crypto_tune.universe._kernel import PortfolioParams, PortfolioResult, simulate_portfolio
from crypto_tune.universe._panel import CS_FEATURES, LABELS, Panel, build_panel, cross_sectional

__all__ = [
    "CS_FEATURES",
    "LABELS",
    "Panel",
    "PortfolioParams",
    "PortfolioResult",
    "build_panel",
    "cross_sectional",
    "simulate_portfolio",
]
