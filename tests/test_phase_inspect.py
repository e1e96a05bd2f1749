"""``phase=inspect``: gaps in the tuning and holdout periods come first, with their folds."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from hypothesis import given
from hypothesis import strategies as st

from crypto_tune.cli import preflight
from crypto_tune.data import synthetic_market
from crypto_tune.dataset import prepare_dataset
from crypto_tune.phases._inspect import _folds_text, run_inspect, spanning_labels

HORIZON = 6
PARTS = ("train", "valid", "test")
BAR = pd.Timedelta("4h")
OUTSIDE = ["2020-08-01", "2020-09-01", "2020-10-01", "2020-11-01", "2020-12-01 08:00"]  # 2 bars
IN_FOLD = "2021-09-15"  # 60 bars missing, inside the tuning period
IN_HOLDOUT = "2022-02-10"  # 5 bars missing
AFTER = "2022-05-20"  # 3 bars missing, after the holdout
SPLIT = [
    "split.tune_start=2021-01-01",
    "split.tune_end=2021-12-31",
    "split.holdout_start=2022-01-01",
    "split.holdout_end=2022-03-31",
    "split.n_folds=3",
    f"label.horizon={HORIZON}",
]


def _gappy_csv(path: Path, seed: int = 3, gaps: bool = True) -> Path:
    """Two years of 4h candles from 2020-07-01 with planted gaps (or none)."""
    candles = synthetic_market(seed=seed, n_bars=6 * 365 * 2, start="2020-07-01").candles
    drop: list[pd.Timestamp] = []
    planted = [(s, 2) for s in OUTSIDE] + [(IN_FOLD, 60), (IN_HOLDOUT, 5), (AFTER, 3)]
    for start, n in planted if gaps else []:
        i = candles.index.get_loc(pd.Timestamp(start, tz="UTC"))
        drop.extend(candles.index[i : i + n])
    candles.drop(index=drop).to_csv(path)
    return path


@pytest.fixture(scope="module")
def gappy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _gappy_csv(tmp_path_factory.mktemp("inspect") / "gappy.csv")


def _overrides(csv: Path, outputs: Path, *extra: str) -> list[str]:
    return [
        "phase=inspect",
        "asset=csv",
        f"asset.path={csv}",
        "asset.symbol=XYZ",
        "asset.timeframe=4h",
        f"paths.outputs={outputs}",
        *SPLIT,
        *extra,
    ]


def _inspect(capsys: pytest.CaptureFixture[str], overrides: list[str]) -> str:
    settings = preflight(overrides)
    assert settings is not None
    run_inspect(settings)
    return capsys.readouterr().out


def _section(out: str, title: str) -> list[str]:
    """The lines of the ``== title`` section (up to the next ``==`` line)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"== {title}"))
    stop = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("==")), None)
    return lines[start:stop]


def _brute_spanning(index: pd.DatetimeIndex, rows: np.ndarray, horizon: int) -> int:
    """Labels of ``rows`` whose close[t + horizon] lies more than ``horizon`` bars later."""
    rows = rows[rows + horizon < len(index)]
    return int(((index[rows + horizon] - index[rows]) > horizon * BAR).sum())


def _parse_where(text: str) -> set[tuple[str, str]]:
    """``"fold 0 test; folds 1-3, 5 train"`` -> {("0","test"), ("1","train"), ...}."""
    out = set()
    for chunk in text.split("; "):
        if chunk.startswith("holdout "):
            out.add(("holdout", chunk.split(" ", 1)[1]))
            continue
        match = re.fullmatch(r"folds? ([\d, -]+) (\S+)", chunk)
        assert match, chunk
        for item in match.group(1).split(", "):
            lo, _, hi = item.partition("-")
            out |= {(str(k), match.group(2)) for k in range(int(lo), int(hi or lo) + 1)}
    return out


def test_in_fold_gap_is_listed_with_its_fold_before_the_others(
    gappy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = _overrides(gappy, tmp_path)
    out = _inspect(capsys, overrides)
    lines = out.splitlines()
    dataset = prepare_dataset(preflight(overrides))  # type: ignore[arg-type]
    index = dataset.candles.index

    # the data summary no longer buries the gaps after out-of-window ones
    assert "8 gap(s), 78 missing bar(s)" in out
    assert "more gap(s)" not in out

    inside = _section(out, "gaps in the tuning and holdout periods")
    assert "2 gap(s), 65 missing bar(s)" in inside[0]
    in_fold = next(line for line in inside if "2021-09-14 20:00" in line)
    assert re.search(r"2021-09-14 20:00\s+2021-09-25 00:00\s+60\s", in_fold)
    # where: every fold part holding both bars around the gap (brute force on the fold arrays)
    after = index.get_loc(pd.Timestamp("2021-09-14 20:00", tz="UTC"))
    expected = {
        (str(f.number), part)
        for f in dataset.folds
        for part in ("train", "valid", "test")
        if {after, after + 1} <= set(getattr(f, f"{part}_idx").tolist())
    }
    assert expected and _parse_where(in_fold.split("60", 1)[1].strip()) == expected
    assert "fold 1 test; fold 2 valid" in in_fold
    holdout = next(line for line in inside if "2022-02-09 20:00" in line)
    assert holdout.rstrip().endswith("holdout test")

    outside = _section(out, "gaps outside the tuning and holdout periods")
    assert "6 gap(s), 13 missing bar(s)" in outside[0]
    assert lines.index(in_fold) < lines.index(outside[0]) < lines.index(outside[-1])
    assert out.index("2021-09-14 20:00") < out.index("2020-07-31 20:00")

    # labels spanning a gap, per fold and part, against a brute force on bar times
    table = _section(out, "gaps per fold")
    assert re.split(r"\s+", table[1].strip()) == [
        "fold",
        "gaps",
        "missing",
        "span_train",
        "span_valid",
        "span_test",
    ]
    cells = [line.split() for line in table[2:]]
    rows = {c[0]: [int(x) for x in c[1:]] for c in cells if len(c) > 1 and c[1].isdigit()}
    named = {str(f.number): f for f in dataset.folds} | {"holdout": dataset.holdout}
    assert set(rows) == set(named)
    for name, fold in named.items():
        spans = [_brute_spanning(index, getattr(fold, f"{p}_idx"), HORIZON) for p in PARTS]
        assert rows[name][2:] == spans, name
    assert rows["1"] == [1, 60, 0, 0, HORIZON]  # the 60-bar gap is in fold 1's test
    assert rows["2"] == [1, 60, 0, HORIZON, 0]  # ... and in fold 2's validation slice
    assert rows["holdout"][:2] == [2, 65] and rows["holdout"][4] == HORIZON
    # aligned: right-aligned number columns end in the same column
    assert len({len(line) for line in table[1 : 2 + len(named)]}) == 1


def test_walk_forward_gap_in_many_folds_is_one_line(
    gappy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ["split=walk_forward", "split.train_months=6", "split.test_months=1"]
    overrides = _overrides(gappy, tmp_path, *extra)
    out = _inspect(capsys, overrides)
    dataset = prepare_dataset(preflight(overrides))  # type: ignore[arg-type]
    index = dataset.candles.index
    after = index.get_loc(pd.Timestamp("2021-09-14 20:00", tz="UTC"))
    line = next(x for x in _section(out, "gaps in the tuning") if "2021-09-14 20:00" in x)
    where = _parse_where(line.split("60", 1)[1].strip())
    expected = {
        (str(f.number), part)
        for f in dataset.folds
        for part in PARTS
        if {after, after + 1} <= set(getattr(f, f"{part}_idx").tolist())
    }
    assert len({k for k, _ in expected}) >= 2 and where == expected


def test_no_gaps_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = _gappy_csv(tmp_path / "clean.csv", gaps=False)
    out = _inspect(capsys, _overrides(clean, tmp_path / "out"))
    assert "== gaps: none" in out and "== folds:" in out and "holdout" in out


def test_basket_prints_every_member_with_its_fold_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _gappy_csv(tmp_path / "AAA.csv", seed=3)
    _gappy_csv(tmp_path / "BBB.csv", seed=5, gaps=False)
    out = _inspect(
        capsys,
        [
            "phase=inspect",
            "asset=basket",
            f"asset.path='{tmp_path}/{{symbol}}.csv'",
            "asset.symbols=[AAA,BBB]",
            f"paths.outputs={tmp_path / 'out'}",
            *SPLIT,
        ],
    )
    assert out.startswith("== basket: 2 member(s): AAA, BBB")
    assert out.count("== folds: split=static") == 2
    assert out.count("  holdout 2021-01-01 00:00") == 2  # a fold table per member
    aaa, bbb = out.split("== data: bbb")
    assert "fold 1 test; fold 2 valid" in aaa and "== gaps: none" in bbb
    assert "warning" not in out


@given(
    st.integers(0, 60),
    st.lists(st.integers(0, 59), max_size=6, unique=True),
    st.integers(1, 8),
)
def test_spanning_labels_match_brute_force(n_bars: int, raw: list[int], horizon: int) -> None:
    positions = np.array(sorted(p for p in raw if p < n_bars - 1), dtype=np.int64)
    got = spanning_labels(n_bars, positions, horizon)
    expected = [
        t + horizon < n_bars and any(t <= p < t + horizon for p in positions) for t in range(n_bars)
    ]
    assert got.tolist() == expected


def test_folds_text() -> None:
    assert _folds_text(["0"]) == "fold 0"
    assert _folds_text(["3", "1", "2", "5"]) == "folds 1-3, 5"
    assert _folds_text(["1", "2"]) == "folds 1, 2"


@pytest.mark.slow
def test_cli_inspect_lists_the_in_fold_gap_first(gappy: Path, tmp_path: Path) -> None:
    done = run_cli(*_overrides(gappy, tmp_path))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "fold 1 test; fold 2 valid" in out
    assert out.index("2021-09-14 20:00") < out.index("== gaps outside") < out.index("2020-07-31")


def test_a_basket_member_that_fails_prints_no_report_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The second member's file is missing: the first member's report is not printed, and its
    feature cache (written while checking it) is removed with the folders the check made."""
    from crypto_tune.exceptions import ConfigError

    _gappy_csv(tmp_path / "AAA.csv", seed=3)
    basket = [
        "phase=inspect",
        "asset=basket",
        f"asset.path='{tmp_path}/{{symbol}}.csv'",
        "asset.symbols=[AAA,BBB]",
        f"paths.outputs={tmp_path / 'out'}",
        *SPLIT,
    ]
    with pytest.raises(ConfigError, match=r"^asset.path: file .*BBB.csv not found"):
        _inspect(capsys, basket)
    assert capsys.readouterr().out == ""
    assert [p.name for p in tmp_path.iterdir()] == ["AAA.csv"]


def test_a_market_without_volume_says_so_and_keeps_the_real_warm_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = _gappy_csv(tmp_path / "clean.csv", gaps=False)
    silent = tmp_path / "silent.csv"
    pd.read_csv(clean).assign(volume=0.0).to_csv(silent, index=False)
    out = _inspect(capsys, _overrides(silent, tmp_path / "out"))
    assert "(every bar: the volume features are missing)" in out
    features = _section(out, "features")[0]
    assert "warm-up 0 bars" not in features
    assert re.search(r"warm-up 1\d\d bars; 16 missing on every bar: vchg, corr_rv_5", features)
