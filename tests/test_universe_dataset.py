"""The universe's door: a {symbol} template or a folder, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from universe_market import universe_candles, write_universe

from crypto_tune.cli import preflight
from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.universe._dataset import prepare_universe, universe_files

COMMON = ["phase=model", "asset=universe", "features.windows=[5,10]", "debug=fast"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_universe(tmp_path / "data", universe_candles(n_symbols=3, n_bars=3000))
    (tmp_path / "data" / "binance_S0USDT_1h.csv").write_text("another timeframe: skipped\n")
    (tmp_path / "data" / "notes.txt").write_text("not candles\n")
    return tmp_path / "data"


def test_a_folder_is_every_candle_file_of_the_timeframe(folder: Path, tmp_path: Path) -> None:
    settings = preflight(
        [
            *COMMON,
            f"asset.path={folder}",
            "asset.symbols=[]",
            "asset.symbol=synthetic3",
            f"paths.outputs={tmp_path / 'out'}",
        ]
    )
    assert settings is not None
    files = universe_files(settings.asset)
    assert list(files) == ["S0USDT", "S1USDT", "S2USDT"]
    assert all(path.endswith("_4h.csv") for path in files.values())
    assert prepare_universe(settings).panel.symbols == ("S0USDT", "S1USDT", "S2USDT")
    named = preflight(
        [
            *COMMON,
            f"asset.path={folder}",
            "asset.symbols=[S2USDT,S0USDT]",
            "universe.min_symbols=2",
            f"paths.outputs={tmp_path}",
        ]
    )
    assert named is not None and list(universe_files(named.asset)) == ["S2USDT", "S0USDT"]


def test_errors_name_the_key(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"asset\.symbol must name the universe"):
        preflight(
            [*COMMON, f"asset.path={folder}", "asset.symbols=[]", f"paths.outputs={tmp_path}"]
        )
    with pytest.raises(ConfigError, match=r"no file for S9USDT"):
        preflight(
            [
                *COMMON,
                f"asset.path={folder}",
                "asset.symbols=[S0USDT,S9USDT]",
                f"paths.outputs={tmp_path}",
            ]
        )
    with pytest.raises(ConfigError, match=r"asset\.path must be a path template"):
        preflight([*COMMON, f"asset.path={tmp_path}/nowhere.csv", f"paths.outputs={tmp_path}"])
    with pytest.raises(ConfigError, match=r"too little for the split"):
        preflight(
            [
                *COMMON,
                f"asset.path={folder}",
                "asset.symbols=[S0USDT,S1USDT]",
                "universe.min_symbols=2",
                "split.tune_start=2019-01-01",
                "split.tune_end=2019-12-31",
                f"paths.outputs={tmp_path}",
            ]
        )


def _universe(tmp_path: Path, **candles: object) -> list[str]:
    template = write_universe(tmp_path / "data", universe_candles(n_symbols=3, **candles))
    return [
        *COMMON,
        f"asset.path='{template}'",
        "asset.symbols=[S0USDT,S1USDT,S2USDT]",
        f"paths.outputs={tmp_path / 'out'}",
    ]


def test_fewer_symbols_than_a_bar_needs_is_refused(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"^universe\.min_symbols: 3 symbols must trade at a "
        r"bar .* the universe has 2 \(S0USDT, S1USDT\)",
    ):
        preflight(
            [
                *COMMON,
                f"asset.path={folder}",
                "asset.symbols=[S0USDT,S1USDT]",
                f"paths.outputs={tmp_path}",
            ]
        )


@pytest.mark.parametrize(
    ("candles", "block"),
    [
        # listed from 2022 on: before, fold 0 trained on no row and LightGBM crashed (exit 139)
        ({"late": {2: 2400}}, "fold 0's train block"),
        # delisted in the tuning period: the last fold's test block and the holdout are empty
        ({"gaps": {2: (1600, 3000)}}, "fold 2's test block"),
    ],
)
def test_a_block_without_panel_rows_is_refused(
    tmp_path: Path, candles: dict[str, object], block: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        preflight(_universe(tmp_path, **candles))
    message = str(refused.value)
    assert message.startswith(f"universe: {block} (")
    assert "has no panel rows: fewer than universe.min_symbols=3 symbols" in message
    assert "(listed then: S0USDT, S1USDT)" in message


def test_an_empty_holdout_is_refused(tmp_path: Path) -> None:
    args = _universe(tmp_path, gaps={2: (2180, 3000)})  # gone from 2021-12-29
    with pytest.raises(ConfigError, match=r"^universe: the holdout \(.*\) has no panel rows"):
        preflight(args)


def test_a_folder_member_with_only_a_finer_file_is_resampled(tmp_path: Path) -> None:
    """Before, a folder's binance_S3USDT_1h.csv was dropped without a word (and naming S3USDT
    was "no file for S3USDT"), where a template resamples it."""
    folder = tmp_path / "data"
    write_universe(folder, universe_candles(n_symbols=3, n_bars=3000))
    hourly = universe_candles(n_symbols=1, n_bars=3000, seed=9)["S0USDT"]
    hours = hourly.resample("1h").ffill().rename_axis("timestamp").reset_index()
    hours.to_csv(folder / "binance_S3USDT_1h.csv", index=False)
    (folder / "binance_S3USDT_15m.csv").write_text("finer still: the 1h file is read\n")
    settings = preflight(
        [
            *COMMON,
            f"asset.path={folder}",
            "asset.symbols=[]",
            "asset.symbol=four",
            f"paths.outputs={tmp_path / 'out'}",
        ]
    )
    assert settings is not None
    files = universe_files(settings.asset)
    assert list(files) == ["S0USDT", "S1USDT", "S2USDT", "S3USDT"]
    assert files["S3USDT"].endswith("binance_S3USDT_1h.csv")
    assert prepare_universe(settings).reports["S3USDT"].resampled_from == "1h"


def _folder_args(folder: Path, tmp_path: Path) -> list[str]:
    return [
        *COMMON,
        f"asset.path={folder}",
        "asset.symbols=[]",
        "asset.symbol=robust",
        f"paths.outputs={tmp_path / 'out'}",
    ]


def test_two_files_of_one_symbol_in_a_folder_are_refused(folder: Path, tmp_path: Path) -> None:
    """Before, BTCUSDT.csv beside binance_BTCUSDT_4h.csv: one of them read without a word."""
    (folder / "S1USDT.csv").write_text((folder / "binance_S1USDT_4h.csv").read_text())
    with pytest.raises(ConfigError) as refused:
        preflight(_folder_args(folder, tmp_path))
    assert str(refused.value) == (
        f"asset.path: {folder} has 2 4h files for S1USDT (S1USDT.csv, binance_S1USDT_4h.csv): "
        "keep one"
    )
    # not a member of this universe: no ambiguity to refuse
    named = preflight(
        [*_folder_args(folder, tmp_path), "asset.symbols=[S0USDT,S2USDT]", "universe.min_symbols=2"]
    )
    assert named is not None and list(universe_files(named.asset)) == ["S0USDT", "S2USDT"]


def test_a_member_copied_under_another_name_is_refused(tmp_path: Path) -> None:
    """Before, two identical members were traded as two markets: long one, short the other."""
    folder = tmp_path / "data"
    candles = universe_candles(n_symbols=3, n_bars=3000)
    write_universe(folder, {**candles, "S9USDT": candles["S1USDT"]})
    with pytest.raises(DataError) as refused:
        preflight(_folder_args(folder, tmp_path))
    assert str(refused.value) == (
        f"{folder / 'binance_S9USDT_4h.csv'}: the same candles as "
        f"{folder / 'binance_S1USDT_4h.csv'} (3,000 rows): S9USDT and S1USDT are one market "
        "under two names; keep one"
    )


def test_a_member_off_the_calendar_names_its_file(tmp_path: Path) -> None:
    """Before: "universe: S2USDT's candles are off the 4h calendar", no file, no candle."""
    folder = tmp_path / "data"
    candles = universe_candles(n_symbols=3, n_bars=3000)
    shifted = candles["S2USDT"].copy()
    shifted.index = shifted.index + pd.Timedelta("30min")
    write_universe(folder, {**candles, "S2USDT": shifted})
    with pytest.raises(DataError) as refused:
        preflight(_folder_args(folder, tmp_path))
    assert str(refused.value) == (
        f"{folder / 'binance_S2USDT_4h.csv'}: candle at 2021-01-01 00:30 is off the universe's "
        "4h calendar (bars every 4h from 2021-01-01 00:00 UTC, the earliest candle of any symbol)"
    )
