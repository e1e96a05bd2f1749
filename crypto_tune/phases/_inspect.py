"""``phase=inspect``: the data health summary, the fold table and where the gaps fall.

Gaps are listed by where they hurt: first the gaps inside the tuning and holdout periods, each
with the folds and parts (train, valid, test, purge) it falls in, and a per-fold count of the
labels that look across a gap (the label of bar ``t`` is ``close[t + horizon]``: it spans a gap
when a gap lies between bars ``t`` and ``t + horizon``); then the gaps outside those periods,
counted. ``asset=basket`` prints all of it for every member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crypto_tune.config import Settings
from crypto_tune.data import Gap, time_index
from crypto_tune.dataset import Dataset, member_settings, prepare_dataset
from crypto_tune.features import empty_features, warm_up_bars
from crypto_tune.phases._inputs import check_datasets
from crypto_tune.phases._phase import Phase
from crypto_tune.splits import Fold, end_exclusive_ns, fold_table, start_ns

PARTS: tuple[str, ...] = ("train", "valid", "test")
GAPS_LISTED = 20  # gaps in the tuning/holdout periods listed one per line; the rest are counted
OUTSIDE_LISTED = 3  # gaps outside those periods listed (after the count)
_TIME = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class GapPlace:
    """A gap and where it falls: ``(fold name, part)`` pairs, e.g. ``("1", "train")``.

    ``part`` is ``train``, ``valid``, ``test`` or ``purge`` (a bar of the fold used by no part),
    or two of them joined by ``/`` when the gap lies between two parts (``"purge/test"``).
    ``in_window`` is true when the gap falls in a fold or overlaps the tuning or holdout period.
    """

    gap: Gap
    position: int  # position of gap.after in the bar index (the gap is between it and the next)
    places: tuple[tuple[str, str], ...]
    in_window: bool


@dataclass(frozen=True)
class FoldGaps:
    """Gaps of one fold (both bars around them in the fold, at least one in a part) and the
    number of labels of each part that span a gap."""

    name: str
    n_gaps: int
    missing_bars: int
    spanning: dict[str, int]


def gap_positions(index: pd.DatetimeIndex, gaps: Sequence[Gap]) -> np.ndarray:
    """Position in ``index`` of the last bar before each gap (int64 array)."""
    positions = index.get_indexer(pd.DatetimeIndex([g.after for g in gaps]))
    if (positions < 0).any():
        raise ValueError("a gap's bar is not in the index")
    return positions.astype(np.int64)


def spanning_labels(n_bars: int, positions: np.ndarray, horizon: int) -> np.ndarray:
    """Boolean per bar: its label ``close[t + horizon]`` is defined and looks across a gap.

    A gap after bar ``i`` is spanned by the labels of bars ``i - horizon + 1 .. i``.
    """
    after_gap = np.zeros(n_bars + 1, dtype=np.int64)
    np.add.at(after_gap, positions + 1, 1)
    seen = np.cumsum(after_gap)  # seen[k]: gaps whose position is < k
    t = np.arange(n_bars)
    reach = np.minimum(t + horizon, n_bars)
    return (seen[reach] - seen[t] > 0) & (t + horizon < n_bars)


def _part_of(fold: Fold, position: int) -> str | None:
    """``train``/``valid``/``test`` for a bar of a part, ``purge`` for the fold's other bars."""
    start = int(fold.train_idx[0]) if fold.train_idx.size else int(fold.test_idx[0])
    stop = int(fold.test_idx[-1]) if fold.test_idx.size else start - 1
    if not start <= position <= stop:
        return None
    for part in PARTS:
        arr: np.ndarray = getattr(fold, f"{part}_idx")
        if arr.size and arr[0] <= position <= arr[-1]:
            return part
    return "purge"


def _place(fold: Fold, position: int) -> str | None:
    """Where the gap after bar ``position`` falls in ``fold`` (None: not in the fold)."""
    before, after = _part_of(fold, position), _part_of(fold, position + 1)
    if before is None or after is None or before == after == "purge":
        return None
    return before if before == after else f"{before}/{after}"


def locate_gaps(dataset: Dataset, settings: Settings) -> tuple[GapPlace, ...]:
    """Every gap of ``dataset`` with the tuning folds and holdout parts it falls in."""
    index = time_index(dataset.candles)
    gaps = dataset.report.gaps
    if not gaps:
        return ()
    split = settings.split
    periods = (
        (start_ns("tune_start", split.tune_start), end_exclusive_ns("tune_end", split.tune_end)),
        (
            start_ns("holdout_start", split.holdout_start),
            end_exclusive_ns("holdout_end", split.holdout_end),
        ),
    )
    named = [(str(f.number), f) for f in dataset.folds] + [("holdout", dataset.holdout)]
    out = []
    for gap, position in zip(gaps, gap_positions(index, gaps), strict=True):
        places = tuple(
            (name, where)
            for name, fold in named
            if (where := _place(fold, int(position))) is not None
        )
        after, before = gap.after.as_unit("ns").value, gap.before.as_unit("ns").value
        overlaps = any(after < stop and before > start for start, stop in periods)
        out.append(GapPlace(gap, int(position), places, bool(places) or overlaps))
    return tuple(out)


def fold_gaps(dataset: Dataset, settings: Settings, located: Sequence[GapPlace]) -> list[FoldGaps]:
    """Per fold (then the holdout): its gaps and the labels of each part that span a gap."""
    n_bars = len(dataset.candles)
    positions = np.array([g.position for g in located], dtype=np.int64)
    spans = spanning_labels(n_bars, positions, settings.label.horizon)
    named = [(str(f.number), f) for f in dataset.folds] + [("holdout", dataset.holdout)]
    rows = []
    for name, fold in named:
        mine = [g for g in located if any(n == name for n, _ in g.places)]
        rows.append(
            FoldGaps(
                name=name,
                n_gaps=len(mine),
                missing_bars=sum(g.gap.missing_bars for g in mine),
                spanning={p: int(spans[getattr(fold, f"{p}_idx")].sum()) for p in PARTS},
            )
        )
    return rows


# ------------------------------------------------------------------------------------ printing


def format_table(
    header: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  "
) -> list[str]:
    """Aligned text columns: the first left-aligned, numbers right-aligned, text left-aligned."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [
        i > 0 and all(isinstance(row[i], int | np.integer) for row in rows)
        for i in range(len(header))
    ]
    lines = []
    for row in cells:
        text = "  ".join(
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(row, widths, numeric, strict=True)
        )
        lines.append(indent + text.rstrip())
    return lines


def _folds_text(numbers: list[str]) -> str:
    """``["1","2","3","5"]`` -> ``"folds 1-3, 5"``; ``["0"]`` -> ``"fold 0"``."""
    ints = sorted(int(n) for n in numbers)
    runs: list[list[int]] = []
    for n in ints:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    text = ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs)
    return ("folds " if len(ints) > 1 else "fold ") + text


def where_text(place: GapPlace) -> str:
    """``"fold 0 test; folds 1-4 train; holdout test"``.

    The holdout is named where it is tested; its train/valid (the final refit on the whole tuning
    period) only when no tuning fold holds the gap, since every tuning gap is in the refit too.
    """
    by_part: dict[str, list[str]] = {}
    tested, refit = [], []
    for name, part in place.places:
        if name != "holdout":
            by_part.setdefault(part, []).append(name)
        elif "test" in part:
            tested.append(f"holdout {part}")
        else:
            refit.append(f"final refit {part}")
    ordered = sorted(by_part.items(), key=lambda item: min(int(n) for n in item[1]))
    texts = [f"{_folds_text(names)} {part}" for part, names in ordered] + tested
    texts = texts or refit
    return "; ".join(texts) if texts else "edge of the tuning/holdout period (no fold bar)"


def _gap_row(place: GapPlace) -> list[object]:
    gap = place.gap
    return [gap.after.strftime(_TIME), gap.before.strftime(_TIME), gap.missing_bars]


def gap_lines(dataset: Dataset, settings: Settings) -> list[str]:
    """The gap sections of ``phase=inspect`` (after the fold table)."""
    horizon = settings.label.horizon
    located = locate_gaps(dataset, settings)
    if not located:
        return ["== gaps: none (every bar of the grid is present)"]
    inside = [g for g in located if g.in_window]
    outside = [g for g in located if not g.in_window]
    missing = sum(g.gap.missing_bars for g in inside)
    out = [
        f"== gaps in the tuning and holdout periods: {len(inside):,} gap(s), "
        f"{missing:,} missing bar(s) (not filled)"
    ]
    rows = [[*_gap_row(g), where_text(g)] for g in inside[:GAPS_LISTED]]
    if rows:
        out += format_table(["last bar", "next bar", "missing", "where"], rows)
    if len(inside) > GAPS_LISTED:
        out.append(f"  ... and {len(inside) - GAPS_LISTED:,} more gap(s) in these periods")
    per_fold = fold_gaps(dataset, settings, located)
    if any(f.n_gaps or any(f.spanning.values()) for f in per_fold):
        out.append(
            f"== gaps per fold, and labels spanning a gap (label horizon {horizon} bar(s): "
            f"close[t+{horizon}] lies beyond a gap)"
        )
        table = [
            [f.name, f.n_gaps, f.missing_bars, *(f.spanning[p] for p in PARTS)] for f in per_fold
        ]
        header = ["fold", "gaps", "missing", "span_train", "span_valid", "span_test"]
        out += format_table(header, table)
        out.append("  holdout: train/valid are the final refit on the whole tuning period")
    else:
        out.append("== gaps per fold: none in any fold; no label spans a gap")
    missing_out = sum(g.gap.missing_bars for g in outside)
    out.append(
        f"== gaps outside the tuning and holdout periods: {len(outside):,} gap(s), "
        f"{missing_out:,} missing bar(s)"
        + (
            f" ({len(outside) - OUTSIDE_LISTED:,} not listed)"
            if len(outside) > OUTSIDE_LISTED
            else ""
        )
    )
    if outside:
        out += format_table(
            ["last bar", "next bar", "missing"], [_gap_row(g) for g in outside[:OUTSIDE_LISTED]]
        )
    return out


def fold_lines(dataset: Dataset, settings: Settings) -> list[str]:
    """The fold table (tuning folds, then the holdout) as aligned text."""
    split = settings.split
    out = [
        f"== folds: split={split.name}, tune {split.tune_start}..{split.tune_end}, "
        f"holdout {split.holdout_start}..{split.holdout_end}, purge {split.purge} bar(s)"
    ]
    table = fold_table([*dataset.folds, dataset.holdout], time_index(dataset.candles)).reset_index(
        drop=True
    )
    for column in table.columns:
        if str(table[column].dtype).startswith("datetime"):
            table[column] = table[column].dt.strftime(_TIME)
    names = [str(i) for i in range(len(dataset.folds))] + ["holdout"]
    table.insert(0, "fold", names)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        out += ["  " + line for line in table.to_string(index=False).splitlines()]
    out.append(
        f"  train / valid / test are separated by {split.purge} purge bar(s); valid is the "
        "early-stopping slice at the end of each train window (UTC bar open times)"
    )
    if len(dataset.holdout.test_idx) == 0:
        out.append("  warning: no bars in the holdout period")
    return out


def _data_lines(dataset: Dataset) -> list[str]:
    """The candle report without its gap list (gaps are listed by fold further down)."""
    lines = [line for line in dataset.report.lines(max_gaps=0) if not line.startswith(" ")]
    return [
        f"  {line}"
        + ("; listed by fold below" if line.startswith("gaps:") and dataset.report.gaps else "")
        for line in lines
    ]


def inspect_lines(settings: Settings) -> list[str]:
    """Everything ``phase=inspect`` prints for one single-series asset."""
    dataset = prepare_dataset(settings)
    asset = settings.asset
    out = [f"== data: {asset.name} ({asset.symbol}, {asset.timeframe})", *_data_lines(dataset)]
    out.append(f"== costs: {settings.strategy.costs.summary(settings.strategy.slippage)}")
    label = dataset.label
    out.append(
        f"== label: forward return over {settings.label.horizon} bar(s): "
        f"mean {label.mean():.5f}, std {label.std():.5f}, "
        f"{int(label.isna().sum())} undefined at the end"
    )
    counts = dataset.regime.value_counts()
    shares = ", ".join(f"{name} {int(n)}" for name, n in counts.items())
    out.append(
        f"== regimes (window {settings.regime.window}, "
        f"lookback {settings.regime.lookback}): {shares}"
    )
    empty = empty_features(dataset.features)
    out.append(
        f"== features: {dataset.features.shape[1]} columns, warm-up "
        f"{warm_up_bars(dataset.features)} bars"
        + (f"; {len(empty)} missing on every bar: {', '.join(empty[:4])}" if empty else "")
        + (", ..." if len(empty) > 4 else "")
    )
    out += fold_lines(dataset, settings)
    out += gap_lines(dataset, settings)
    return out


def run_inspect(settings: Settings) -> None:
    """Print rows, date range, duplicates, prices, label and regime stats, the folds, and the
    gaps by fold; for a basket, all of it for every member."""
    members = member_settings(settings)
    reports = [inspect_lines(m) for m in members]  # every member read before any is printed
    if settings.asset.kind == "basket":
        symbols = ", ".join(settings.asset.symbols)
        print(f"== basket: {len(members)} member(s): {symbols}; folds are cut per member")
    for number, lines in enumerate(reports):
        if number:
            print()
        for line in lines:
            print(line)
    counts = {m.asset.symbol: len(prepare_dataset(m).folds) for m in members}
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"{symbol} {n}" for symbol, n in counts.items())
        print(
            f"warning: the members give different fold counts ({shown}); the basket's sweeps "
            "need data over the whole tuning period for every member"
        )


def preflight_inspect(settings: Settings, *, multirun: bool) -> None:
    """Every member's data read and split before Hydra starts: a basket whose second file is
    missing fails in one line, with no report of the first printed."""
    check_datasets(settings, storage=False)


PHASE = Phase(run=run_inspect, preflight=preflight_inspect)
