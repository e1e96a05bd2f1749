"""``phase=inspect``: the data health summary and the fold table, before any sweep."""

from __future__ import annotations

import pandas as pd

from crypto_tune.config import Settings
from crypto_tune.dataset import asset_path, prepare_dataset
from crypto_tune.splits import fold_table


def _print_basket(settings: Settings) -> None:
    from crypto_tune.data import load_candles

    for symbol in settings.asset.symbols:
        path = asset_path(settings.asset, symbol)
        _, report = load_candles(path, timeframe=settings.asset.timeframe)
        print(f"== {symbol}")
        for line in report.lines():
            print(f"  {line}")


def run_inspect(settings: Settings) -> None:
    """Print rows, date range, gaps, duplicates, prices, label and regime stats, and the folds."""
    if settings.asset.kind == "basket":
        _print_basket(settings)
        return
    dataset = prepare_dataset(settings)
    print(f"== data: {settings.asset.name} ({settings.asset.symbol}, {settings.asset.timeframe})")
    for line in dataset.report.lines():
        print(f"  {line}")
    label = dataset.label
    print(
        f"== label: forward return over {settings.label.horizon} bar(s): "
        f"mean {label.mean():.5f}, std {label.std():.5f}, "
        f"{int(label.isna().sum())} undefined at the end"
    )
    counts = dataset.regime.value_counts()
    shares = ", ".join(f"{name} {int(n)}" for name, n in counts.items())
    print(
        f"== regimes (window {settings.regime.window}, "
        f"lookback {settings.regime.lookback}): {shares}"
    )
    print(
        f"== features: {dataset.features.shape[1]} columns, warm-up "
        f"{int(dataset.features.isna().any(axis=1).to_numpy().argmin())} bars"
    )
    split = settings.split
    print(
        f"== folds: split={split.name}, tune {split.tune_start}..{split.tune_end}, "
        f"holdout {split.holdout_start}..{split.holdout_end}, purge {split.purge} bar(s)"
    )
    table = fold_table([*dataset.folds, dataset.holdout], dataset.candles.index).reset_index(
        drop=True
    )
    for column in table.columns:
        if str(table[column].dtype).startswith("datetime"):
            table[column] = table[column].dt.strftime("%Y-%m-%d %H:%M")
    names = [str(i) for i in range(len(dataset.folds))] + ["holdout"]
    table.insert(0, "fold", names)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.to_string(index=False))
    print(
        f"  train / valid / test are separated by {split.purge} purge bar(s); valid is the "
        "early-stopping slice at the end of each train window (UTC bar open times)"
    )
    holdout_bars = dataset.holdout.test_idx
    if len(holdout_bars) == 0:
        print("  warning: no bars in the holdout period")
