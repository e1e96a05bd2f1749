"""How a position is sized (``strategy.sizing``): ``fixed`` holds ``leverage``; ``vol_target``
holds ``target_vol`` over the realised volatility known at the entry's open, capped by what the
settings and the market allow (:func:`crypto_tune.backtest.vol_target_leverage`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from crypto_tune.exceptions import ConfigError


class SizingSettings(Protocol):
    """The strategy settings a sizing reads (:class:`crypto_tune.config.StrategySettings`)."""

    @property
    def target_vol(self) -> float: ...
    @property
    def leverage_cap(self) -> float: ...


@dataclass(frozen=True)
class Sizing:
    """A sizing: whether it needs the realised volatility, and the leverage it gives."""

    name: str
    needs_volatility: bool

    def leverage(
        self, settings: SizingSettings, fixed: float, volatility: np.ndarray | None
    ) -> float | np.ndarray:
        """The leverage of a trade entered at each bar (one number when fixed)."""
        if not self.needs_volatility:
            return fixed
        if volatility is None:
            raise ConfigError(f"strategy.sizing={self.name} needs the realised volatility")
        from crypto_tune.backtest import vol_target_leverage  # numba: only when a backtest runs

        return vol_target_leverage(
            volatility, target_vol=settings.target_vol, max_leverage=settings.leverage_cap
        )


SIZINGS: dict[str, Sizing] = {
    s.name: s for s in (Sizing("fixed", needs_volatility=False), Sizing("vol_target", True))
}

__all__ = ["SIZINGS", "Sizing", "SizingSettings"]
