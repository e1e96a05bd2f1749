"""Loader and validation: formats, timestamp encodings, every validation error, gaps, real files."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto_tune.data import (
    CandleReport,
    Gap,
    find_gaps,
    infer_timeframe,
    load_candles,
    validate_candles,
)
from crypto_tune.exceptions import ConfigError, DataError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HEADER = "timestamp,open,high,low,close,volume"
ROWS = [  # four hourly bars, 2021-01-01T00:00Z .. 03:00Z
    ("2021-01-01T00:00:00Z", "100", "110", "95", "105", "10"),
    ("2021-01-01T01:00:00Z", "105", "108", "100", "101", "20"),
    ("2021-01-01T02:00:00Z", "101", "103", "99", "102", "5.5"),
    ("2021-01-01T03:00:00Z", "102", "104", "101", "103", "0"),
]
EPOCH_S = 1_609_459_200  # 2021-01-01T00:00:00Z


def expected_frame() -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.to_datetime([r[0] for r in ROWS], utc=True), name="timestamp")
    values = np.array([[float(x) for x in r[1:]] for r in ROWS])
    return pd.DataFrame(values, index=index, columns=["open", "high", "low", "close", "volume"])


def write(tmp_path: Path, lines: list[str], name: str = "bad.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def csv_lines(rows=ROWS, header: str | None = HEADER) -> list[str]:
    body = [",".join(r) for r in rows]
    return ([header] if header is not None else []) + body


def with_cell(row: int, column: int, text: str) -> list[tuple[str, ...]]:
    """ROWS with cell (0-based data row, column) replaced."""
    rows = [list(r) for r in ROWS]
    rows[row][column] = text
    return [tuple(r) for r in rows]


# ---------------------------------------------------------------- formats and timestamp encodings


def test_iso_csv_loads_to_the_candles_shape(tmp_path):
    candles, report = load_candles(write(tmp_path, csv_lines(), "ok.csv"))
    expected = expected_frame()
    pd.testing.assert_frame_equal(candles, expected, check_index_type=False)
    assert isinstance(candles.index, pd.DatetimeIndex)
    assert str(candles.index.tz) == "UTC"
    assert candles.index.name == "timestamp"
    assert list(candles.columns) == ["open", "high", "low", "close", "volume"]
    assert (candles.dtypes == np.float64).all()
    assert report.timeframe == "1h"
    assert report.n_rows == 4
    assert report.start == pd.Timestamp("2021-01-01T00:00Z")
    assert report.end == pd.Timestamp("2021-01-01T03:00Z")
    assert report.price_min == 95.0 and report.price_max == 110.0
    assert report.gaps == () and report.missing_bars == 0 and report.n_duplicates_dropped == 0


@pytest.mark.parametrize(
    "stamps",
    [
        [str((EPOCH_S + 3600 * i) * 1000) for i in range(4)],  # epoch ms
        [str((EPOCH_S + 3600 * i) * 1_000_000) for i in range(4)],  # epoch us (Binance 2025+)
        [str(EPOCH_S + 3600 * i) for i in range(4)],  # epoch s
        [f"2021-01-01 {i:02d}:00:00" for i in range(4)],  # naive ISO = UTC
        [f"2021-01-01T{i + 1:02d}:00:00+01:00" for i in range(4)],  # offset, converted to UTC
        # a file that switches from ms to us mid-way, as Binance's dumps did in 2025
        [str((EPOCH_S + 3600 * i) * (1000 if i < 2 else 1_000_000)) for i in range(4)],
    ],
    ids=["ms", "us", "s", "naive", "offset", "ms-then-us"],
)
def test_every_timestamp_encoding_gives_the_same_frame(tmp_path, stamps):
    iso, _ = load_candles(write(tmp_path, csv_lines(), "iso.csv"))
    rows = [(s, *r[1:]) for s, r in zip(stamps, ROWS, strict=True)]
    other, _ = load_candles(write(tmp_path, csv_lines(rows), "other.csv"))
    pd.testing.assert_frame_equal(other, iso)


def test_column_names_are_case_insensitive_aliases_accepted_extras_ignored(tmp_path):
    iso, _ = load_candles(write(tmp_path, csv_lines(), "iso.csv"))
    for alias in ("Date", "TIME", "open_time", "Open Time"):
        header = f"Symbol,{alias},Open,HIGH,low,Close,Volume,Trades"
        rows = [("ETHUSDT", *r, "7") for r in ROWS]
        body = [",".join(r) for r in rows]
        candles, _ = load_candles(write(tmp_path, [header, *body], "alias.csv"))
        pd.testing.assert_frame_equal(candles, iso)


def test_raw_binance_klines_with_and_without_header(tmp_path):
    iso, _ = load_candles(write(tmp_path, csv_lines(), "iso.csv"))
    klines = []
    for i, r in enumerate(ROWS):
        open_ms = (EPOCH_S + 3600 * i) * 1000
        klines.append(f"{open_ms},{','.join(r[1:])},{open_ms + 3_599_999},1000.5,42,3.1,310.2,0")
    raw, report = load_candles(write(tmp_path, klines, "ETHUSDT-1h-2021-01.csv"))
    pd.testing.assert_frame_equal(raw, iso)
    assert report.timeframe == "1h"
    header = (
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
        "taker_buy_volume,taker_buy_quote_volume,ignore"
    )
    headed, _ = load_candles(write(tmp_path, [header, *klines], "headed.csv"))
    pd.testing.assert_frame_equal(headed, iso)
    # Binance's 2025 dumps: microsecond open times
    micro = [f"{int(k.split(',')[0]) * 1000},{k.split(',', 1)[1]}" for k in klines]
    pd.testing.assert_frame_equal(load_candles(write(tmp_path, micro, "us.csv"))[0], iso)


def test_bom_blank_lines_and_crlf_are_tolerated(tmp_path):
    iso, _ = load_candles(write(tmp_path, csv_lines(), "iso.csv"))
    path = tmp_path / "messy.csv"
    lines = csv_lines()
    path.write_bytes(("\ufeff" + "\r\n".join([*lines[:3], "", *lines[3:]]) + "\r\n\r\n").encode())
    candles, _ = load_candles(path)
    pd.testing.assert_frame_equal(candles, iso)


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_semicolon_tab_or_bar_separated_csv_loads_the_same(tmp_path, sep):
    iso, _ = load_candles(write(tmp_path, csv_lines(), "iso.csv"))
    lines = [line.replace(",", sep) for line in csv_lines()]
    candles, _ = load_candles(write(tmp_path, lines, "other.csv"))
    pd.testing.assert_frame_equal(candles, iso)
    headerless, _ = load_candles(write(tmp_path, lines[1:], "headerless.csv"))
    assert len(headerless) == len(iso)


def test_parquet_round_trip_index_or_column(tmp_path):
    iso, _ = load_candles(write(tmp_path, csv_lines(), "iso.csv"))
    iso.to_parquet(tmp_path / "candles.parquet")
    back, report = load_candles(tmp_path / "candles.parquet")
    pd.testing.assert_frame_equal(back, iso)
    assert report.n_rows == 4 and report.timeframe == "1h"
    # timestamp as an epoch-ms column, upper-case names, ".pq"
    flat = iso.reset_index()
    flat["timestamp"] = flat["timestamp"].astype("int64") // 1000  # us -> ms
    flat.columns = [c.upper() for c in flat.columns]
    flat.to_parquet(tmp_path / "flat.pq")
    pd.testing.assert_frame_equal(load_candles(tmp_path / "flat.pq")[0], iso)
    # detected by content, not only by extension
    (tmp_path / "candles.parquet").rename(tmp_path / "candles.bin")
    pd.testing.assert_frame_equal(load_candles(tmp_path / "candles.bin")[0], iso)


def test_coarser_timeframe_resamples_finer_or_odd_one_fails(tmp_path):
    hours = [(f"2021-01-01T{i:02d}:00:00Z", "10", str(11 + i), "9", "10", "1") for i in range(8)]
    path = write(tmp_path, csv_lines(hours), "h.csv")
    four, report = load_candles(path, timeframe="4h")
    assert list(four.index) == [
        pd.Timestamp("2021-01-01T00:00Z"),
        pd.Timestamp("2021-01-01T04:00Z"),
    ]
    assert list(four["high"]) == [14.0, 18.0] and list(four["volume"]) == [4.0, 4.0]
    assert report.timeframe == "4h" and report.n_rows == 2
    same, _ = load_candles(path, timeframe="60m")
    assert len(same) == 8
    with pytest.raises(DataError, match=r"h\.csv: the data are 1h bars, cannot give finer 30m"):
        load_candles(path, timeframe="30m")
    with pytest.raises(DataError, match=r"h\.csv: cannot resample 1h bars to 90m"):
        load_candles(path, timeframe="90m")
    with pytest.raises(ConfigError, match=r"timeframe must look like .* got '4 hours'"):
        load_candles(path, timeframe="4 hours")


# ---------------------------------------------------------------- every validation error


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        ([], r"bad\.csv: empty file"),
        ([HEADER], r"bad\.csv: header only, no data rows"),
        (
            csv_lines([(r[0], r[1], r[3], r[4]) for r in ROWS], header="timestamp,open,low,close"),
            r"bad\.csv: missing column\(s\) 'high', 'volume' \(found: 'timestamp', 'open'",
        ),
        (
            csv_lines(header="when,open,high,low,close,volume"),
            r"bad\.csv: missing column 'timestamp' \(or open_time/datetime/date/time\)",
        ),
        (
            csv_lines(with_cell(1, 4, "abc")),
            r"bad\.csv: line 3, column 'close': not a finite number: 'abc'",
        ),
        (csv_lines(with_cell(0, 5, "")), r"bad\.csv: line 2, column 'volume': empty cell"),
        (
            csv_lines(with_cell(2, 1, "NaN")),
            r"bad\.csv: line 4, column 'open': not a finite number: 'NaN'",
        ),
        (
            csv_lines(with_cell(3, 0, "2021-13-01T03:00:00Z")),
            r"bad\.csv: line 5, column 'timestamp': unparsable timestamp '2021-13-01T03:00:00Z'",
        ),
        (csv_lines(with_cell(2, 0, "")), r"bad\.csv: line 4, column 'timestamp': empty cell"),
        (
            csv_lines(
                [
                    (str(EPOCH_S), *ROWS[0][1:]),
                    ("soon", *ROWS[1][1:]),
                    *[(str(EPOCH_S + 3600 * i), *ROWS[i][1:]) for i in (2, 3)],
                ]
            ),
            r"bad\.csv: line 3, column 'timestamp': not an epoch timestamp: 'soon'",
        ),
        (
            csv_lines(with_cell(1, 3, "0")),
            r"bad\.csv: line 3, column 'low': price must be > 0, got 0\.0",
        ),
        (
            csv_lines(with_cell(3, 5, "-2")),
            r"bad\.csv: line 5, column 'volume': volume must be >= 0, got -2\.0",
        ),
        (
            csv_lines(with_cell(0, 2, "104")),
            r"bad\.csv: line 2, column 'high': high 104\.0 < max\(open, close\) 105\.0",
        ),
        (
            csv_lines([ROWS[0], ("2021-01-01T01:00:00Z", "105", "100", "108", "101", "20")]),
            r"bad\.csv: line 3, column 'high': high 100\.0 < low 108\.0 \(high and low swapped\?\)",
        ),
        (
            csv_lines(with_cell(2, 3, "101.5")),
            r"bad\.csv: line 4, column 'low': low 101\.5 > min\(open, close\) 101\.0",
        ),
        (
            csv_lines([ROWS[0], ROWS[2], ROWS[1], ROWS[3]]),
            r"bad\.csv: line 4: timestamps not increasing \(2021-01-01T01:00:00Z after "
            r"2021-01-01T02:00:00Z at line 3\)",
        ),
        (
            csv_lines([ROWS[0], ROWS[1], (ROWS[1][0], *ROWS[2][1:]), ROWS[3]]),
            r"bad\.csv: line 4: duplicate timestamp 2021-01-01T01:00:00Z with different values "
            r"than line 3 \(open 105\.0 vs 101\.0\)",
        ),
        (
            [HEADER, ",".join(ROWS[0]), ",".join(ROWS[1]) + ",7"],
            r"bad\.csv: not a readable CSV file: .*Expected 6 fields in line 3, saw 7",
        ),
        (["1,2,3", "4,5,6"], r"bad\.csv: no recognisable header and only 3 column\(s\)"),
    ],
    ids=[
        "empty",
        "header-only",
        "missing-columns",
        "missing-timestamp",
        "not-a-number",
        "empty-cell",
        "nan",
        "bad-iso",
        "empty-timestamp",
        "bad-epoch",
        "zero-price",
        "negative-volume",
        "high-below-body",
        "high-below-low",
        "low-above-body",
        "not-increasing",
        "conflicting-duplicate",
        "ragged",
        "headerless-narrow",
    ],
)
def test_each_bad_csv_raises_one_line_naming_file_line_and_column(tmp_path, lines, match):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
    with pytest.raises(DataError, match=match) as info:
        load_candles(path)
    assert "\n" not in str(info.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match=r"nowhere\.csv: file not found"):
        load_candles(tmp_path / "nowhere.csv")
    with pytest.raises(DataError, match=r": not a file"):
        load_candles(tmp_path)
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"broken\.parquet: not a readable Parquet file"):
        load_candles(tmp_path / "broken.parquet")


def test_identical_duplicates_are_dropped_and_counted(tmp_path):
    rows = [ROWS[0], ROWS[1], ROWS[1], ROWS[2], ROWS[3], ROWS[3], ROWS[3]]
    candles, report = load_candles(write(tmp_path, csv_lines(rows), "dups.csv"))
    iso, _ = load_candles(write(tmp_path, csv_lines(), "iso.csv"))
    pd.testing.assert_frame_equal(candles, iso)
    assert report.n_duplicates_dropped == 3
    assert any("3 identical row(s) dropped" in line for line in report.lines())


def test_validate_candles_on_frames_names_rows(tmp_path):
    iso, _ = load_candles(write(tmp_path, csv_lines(), "iso.csv"))
    naive = iso.copy()
    naive.index = naive.index.tz_localize(None)  # naive = UTC
    pd.testing.assert_frame_equal(validate_candles(naive)[0], iso)
    tokyo = iso.copy()
    tokyo.index = tokyo.index.tz_convert("Asia/Tokyo")
    pd.testing.assert_frame_equal(validate_candles(tokyo)[0], iso)
    with_column = iso.reset_index().rename(columns={"timestamp": "Date", "close": "CLOSE"})
    with_column["timestamp_str"] = "x"
    pd.testing.assert_frame_equal(validate_candles(with_column)[0], iso)
    doubled = pd.concat([iso, iso.iloc[[1]]]).sort_index(kind="stable")
    out, n_dropped = validate_candles(doubled)
    pd.testing.assert_frame_equal(out, iso)
    assert n_dropped == 1

    bad = iso.copy()
    bad.iloc[2, 3] = -1.0  # close of the 3rd row
    with pytest.raises(
        DataError, match=r"^mine: row 3, column 'close': price must be > 0, got -1\.0$"
    ):
        validate_candles(bad, source="mine")
    bad = iso.copy()
    bad.iloc[1, 4] = np.nan
    with pytest.raises(DataError, match=r"<frame>: row 2, column 'volume': empty cell"):
        validate_candles(bad)
    with pytest.raises(DataError, match=r"<frame>: missing column\(s\) 'volume'"):
        validate_candles(iso.drop(columns="volume"))
    with pytest.raises(DataError, match=r"<frame>: expected a pandas DataFrame, got list"):
        validate_candles([1, 2])


# ---------------------------------------------------------------- gaps and timeframe inference


def test_find_gaps_counts_missing_bars():
    idx = pd.DatetimeIndex(
        [
            "2021-01-01 00:00",
            "2021-01-01 04:00",
            "2021-01-01 16:00",
            "2021-01-01 20:00",
            "2021-01-02 04:00",
            "2021-01-02 10:00",
        ],
        tz="UTC",
    )
    gaps = find_gaps(idx, "4h")
    assert gaps == (
        Gap(
            pd.Timestamp("2021-01-01 04:00", tz="UTC"),
            pd.Timestamp("2021-01-01 16:00", tz="UTC"),
            2,
        ),
        Gap(
            pd.Timestamp("2021-01-01 20:00", tz="UTC"),
            pd.Timestamp("2021-01-02 04:00", tz="UTC"),
            1,
        ),
        # 6h is 1.5 bars: the one bar that would fit in between
        Gap(
            pd.Timestamp("2021-01-02 04:00", tz="UTC"),
            pd.Timestamp("2021-01-02 10:00", tz="UTC"),
            1,
        ),
    )
    assert find_gaps(idx, "1d") == ()
    assert find_gaps(idx[:2], "4h") == ()
    with pytest.raises(ConfigError, match="timeframe must look like"):
        find_gaps(idx, "fortnight")


def test_report_lists_gaps_and_summarises(tmp_path):
    stamps = pd.date_range("2021-01-01", periods=40, freq="1h", tz="UTC")
    keep = np.ones(40, dtype=bool)
    for start, n in ((3, 2), (10, 1), (15, 1), (20, 3), (26, 1), (30, 1), (35, 4)):
        keep[start : start + n] = False  # 7 gaps, 13 missing bars
    rows = [(t.strftime("%Y-%m-%dT%H:%M:%SZ"), "10", "12", "9", "11", "3") for t in stamps[keep]]
    candles, report = load_candles(write(tmp_path, csv_lines(rows), "holes.csv"))
    assert isinstance(report, CandleReport)
    assert len(candles) == 27 and report.n_rows == 27
    assert len(report.gaps) == 7 and report.missing_bars == 13
    assert report.gaps[0] == Gap(stamps[2], stamps[5], 2)
    lines = report.lines()
    assert lines[0].endswith("holes.csv") and "1h" in lines[1] and "27" in lines[2]
    assert "2021-01-01T00:00:00Z -> 2021-01-02T15:00:00Z" in lines[3]
    assert "7 gap(s), 13 missing bar(s)" in lines[5]
    assert lines[6].strip() == "2021-01-01T02:00:00Z -> 2021-01-01T05:00:00Z: 2 missing"
    assert "... and 2 more gap(s)" in lines[11]
    assert lines[-2].startswith("prices:") and "low 9" in lines[-2] and "high 12" in lines[-2]
    # each bar's high 12 and low 9 against the previous close 11: -18.2% the largest, bar 1
    assert lines[-1] == (
        "largest move: -18.2% in one bar (its high or low against the previous close) at "
        "2021-01-01T01:00:00Z"
    )


@pytest.mark.parametrize(
    ("freq", "expected"),
    [("15min", "15m"), ("1h", "1h"), ("4h", "4h"), ("1D", "1d"), ("7D", "1w"), ("90min", "90m")],
)
def test_infer_timeframe_takes_the_modal_spacing(freq, expected):
    idx = pd.date_range("2021-01-04", periods=50, freq=freq, tz="UTC")
    assert infer_timeframe(idx) == expected
    assert infer_timeframe(idx.delete([3, 4, 5, 20, 30])) == expected  # gaps do not change it


def test_infer_timeframe_errors():
    one = pd.DatetimeIndex(["2021-01-01"], tz="UTC")
    with pytest.raises(DataError, match=r"cannot infer the timeframe from 1 distinct bar time"):
        infer_timeframe(one)
    odd = pd.DatetimeIndex(["2021-01-01 00:00:00", "2021-01-01 00:00:30"], tz="UTC")
    with pytest.raises(DataError, match=r"spacing 0 days 00:00:30 is not a whole number"):
        infer_timeframe(odd)


def test_bars_closer_than_the_timeframe_are_rejected(tmp_path):
    hours = [(f"2021-01-01T{i:02d}:00:00Z", "10", "11", "9", "10", "1") for i in range(8)]
    rows = [*hours[:2], ("2021-01-01T01:30:00Z", *hours[1][1:]), *hours[2:]]
    with pytest.raises(
        DataError, match=r"mixed\.csv: bars 2021-01-01T01:00:00Z and 2021-01-01T01:30:00Z"
    ):
        load_candles(write(tmp_path, csv_lines(rows), "mixed.csv"))


def test_bar_close_times_are_refused_naming_the_file(tmp_path):
    """Binance's close time (open + 1h - 1 ms) as the stamp: before, every bar was labelled by
    its close, the milliseconds dropped, and a resample to 1d cut shifted days."""
    rows = [(r[0].replace(":00:00Z", ":59:59.999Z"), *r[1:]) for r in ROWS]
    path = write(tmp_path, csv_lines(rows), "close.csv")
    with pytest.raises(DataError) as refused:
        load_candles(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: timestamps must be bar open times on whole minutes, ")
    assert "(4 such bar(s)); bar close times? give the open times" in message


def test_numbers_read_in_the_wrong_unit_say_what_they_were_read_as(tmp_path):
    """A spreadsheet's serial dates (44197.0 = 2021-01-01) are read as epoch seconds in 1970:
    before, the error named neither the file nor the 1970 dates."""
    rows = [(str(44197 + h / 24), *r[1:]) for h, r in enumerate(ROWS)]
    with pytest.raises(
        DataError,
        match=r"^.*serial\.csv: timestamps must be bar open times on whole minutes, .*"
        r"the timestamps read as 1970-01-01T12:16:37Z\.\.1970-01-01T12:16:37Z: epoch numbers "
        r"in another unit, or a spreadsheet's serial dates\?$",
    ):
        load_candles(write(tmp_path, csv_lines(rows), "serial.csv"))


# ---------------------------------------------------------------- property: CSV round trip


@settings(max_examples=40, deadline=None)
@given(
    n_bars=st.integers(2, 60),
    seed=st.integers(0, 2**32 - 1),
    encoding=st.sampled_from(["iso", "naive", "ms", "us", "s"]),
    hours=st.sampled_from([1, 4, 24]),
)
def test_written_candles_load_back_exactly(tmp_path_factory, n_bars, seed, encoding, hours):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n_bars)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.exponential(0.01, n_bars))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.02, n_bars))
    volume = rng.exponential(50, n_bars) * (rng.random(n_bars) > 0.1)
    stamps = pd.date_range("2020-03-01", periods=n_bars, freq=f"{hours}h", tz="UTC")
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        index=pd.DatetimeIndex(stamps, name="timestamp"),
    )
    text = {
        "iso": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "naive": stamps.strftime("%Y-%m-%d %H:%M:%S"),
        "ms": [str(t.value // 10**6) for t in stamps],
        "us": [str(t.value // 10**3) for t in stamps],
        "s": [str(t.value // 10**9) for t in stamps],
    }[encoding]
    out = frame.reset_index(drop=True)
    out.insert(0, "timestamp", list(text))
    path = tmp_path_factory.mktemp("rt") / "c.csv"
    out.to_csv(path, index=False)
    candles, report = load_candles(path)
    pd.testing.assert_frame_equal(candles, frame, check_index_type=False, check_freq=False)
    assert report.timeframe == infer_timeframe(stamps) and report.gaps == ()


# ---------------------------------------------------------------- the real data


def real(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path


def test_real_eth_4h_file_matches_sources_md():
    candles, report = load_candles(real("binance_ETHUSDT_4h.csv"))
    assert report.n_rows == len(candles) == 18_370
    assert len(report.gaps) == 8 and report.missing_bars == 16
    assert report.timeframe == "4h" and report.n_duplicates_dropped == 0
    assert report.start == pd.Timestamp("2017-08-17T04:00Z")
    assert report.end == pd.Timestamp("2026-01-06T08:00Z")
    # SOURCES.md: the only 2020 gap is one missing bar at 2020-02-19T12:00Z; 2021-2024 complete
    in_2020 = [g for g in report.gaps if g.after.year == 2020]
    assert in_2020 == [Gap(pd.Timestamp("2020-02-19T08:00Z"), pd.Timestamp("2020-02-19T16:00Z"), 1)]
    assert len(candles.loc["2021-01-01":"2024-12-31"]) == 8_766
    # 4h bar open == the 1h bar open at the same time (SOURCES.md reference prices are 1h closes)
    assert candles.loc["2021-01-01T00:00Z", "open"] == 736.42


def test_real_eth_1h_file_loads_fast_with_its_gaps():
    path = real("binance_ETHUSDT_1h.csv")
    began = time.process_time()  # CPU time: a loaded machine does not slow it down
    candles, report = load_candles(path)
    elapsed = time.process_time() - began
    assert report.n_rows == 72_583 and report.timeframe == "1h"
    assert len(report.gaps) == 28 and report.missing_bars == 128
    window = [g for g in report.gaps if 2021 <= g.after.year <= 2024]
    assert sum(g.missing_bars for g in window) == 14
    assert elapsed < 1.0, f"loading 72k rows took {elapsed:.2f}s"
    assert candles.loc["2021-01-01T00:00Z", "close"] == 734.07  # SOURCES.md reference prices
    assert candles.loc["2024-01-01T00:00Z", "close"] == 2_295.51


def test_the_report_names_the_largest_one_bar_move(tmp_path):
    """A 50x wick of bad data was accepted with no word but a high price."""
    report = load_candles(write(tmp_path, csv_lines(with_cell(2, 2, "5050")), "spike.csv"))[1]
    assert report.largest_move == pytest.approx(5050 / 101 - 1)
    assert report.largest_move_at == pd.Timestamp("2021-01-01T02:00Z")
    assert (
        "largest move: +4,900.0% in one bar (its high or low against the previous close) at "
        "2021-01-01T02:00:00Z" in report.lines()
    )
    calm = load_candles(write(tmp_path, csv_lines(), "calm.csv"))[1]
    assert calm.largest_move == pytest.approx(100 / 105 - 1)  # bar 1 low against bar 0 close
