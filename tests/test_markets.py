"""asset.market: the per-market defaults, the config keys that override them, the study
fingerprint, funding files, and the gross-to-net bridge of crypto_tune/costs.py."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crypto_tune.cli import preflight
from crypto_tune.costs import BRIDGE_KEYS, period_bridge
from crypto_tune.dataset import prepare_dataset
from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.fingerprint import differences, study_fingerprint
from crypto_tune.markets import MARKETS, market_costs, read_funding
from crypto_tune.report._costs import costs_section


def test_spot_is_long_only_at_1x_with_spot_fees_unless_it_borrows() -> None:
    spot = market_costs("spot")
    assert (spot.fee, spot.allow_short, spot.max_leverage) == (0.001, False, 1.0)
    assert (spot.funding_rate, spot.borrow_rate) == (0.0, 0.0)
    margin = market_costs("spot", borrow_rate=0.1)
    assert margin.allow_short and margin.max_leverage == math.inf and margin.borrow_rate == 0.1
    assert not market_costs("spot", borrow_rate=0.1, allow_short=False).allow_short
    assert market_costs("spot", orders="maker").fee == MARKETS["spot"].maker_fee


def test_perp_shorts_pays_funding_and_keeps_a_maintenance_margin() -> None:
    perp = market_costs("perp")
    assert (perp.fee, perp.allow_short, perp.funding_rate) == (0.0005, True, 0.0001)
    assert perp.maintenance_margin == 0.005 and perp.max_leverage == math.inf
    assert market_costs("perp", orders="maker").fee == 0.0002
    assert market_costs("perp", funding=0.0003, fee=0.0004).funding_rate == 0.0003


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"allow_short": True}, r"^strategy\.allow_short must be false or null on asset\.market"),
        ({"funding": 0.0001}, r"^asset\.funding must be null on asset\.market=spot"),
        ({"market": "perp", "borrow_rate": 0.1}, r"^asset\.borrow_rate must be null on asset"),
        ({"market": "futures"}, r"^asset\.market must be one of spot, perp, got 'futures'"),
        ({"maintenance_margin": 1.0}, r"^asset\.maintenance_margin must be in \[0, 1\)"),
    ],
)
def test_a_combination_the_market_forbids_names_its_key(kwargs, message) -> None:
    market = kwargs.pop("market", "spot")
    with pytest.raises(ConfigError, match=message):
        market_costs(market, **kwargs)


def test_the_config_resolves_the_market_into_the_engines_options(tmp_path: Path) -> None:
    base = ["phase=inspect", "debug=fast", f"paths.outputs={tmp_path}"]
    synthetic = preflight(base)
    assert synthetic is not None and synthetic.asset.market == "perp"
    params = synthetic.strategy.backtest_params()
    assert (params.fee, params.allow_short, params.funding_rate) == (0.0005, True, 0.0)
    spot = preflight([*base, "asset.market=spot", "asset.funding=null"])
    assert spot is not None
    params = spot.strategy.backtest_params()
    assert (params.fee, params.allow_short, params.leverage) == (0.001, False, 1.0)
    assert spot.strategy.leverage_cap == 1.0  # the volatility target's cap on spot
    margin = preflight([*base, "asset.market=spot", "asset.funding=null", "asset.borrow_rate=0.1"])
    assert margin is not None and margin.strategy.backtest_params().allow_short
    with pytest.raises(ConfigError, match=r"^strategy\.allow_short must be false or null"):
        preflight([*base, "asset.market=spot", "asset.funding=null", "strategy.allow_short=true"])
    with pytest.raises(ConfigError, match=r"^asset\.market must be one of spot, perp"):
        preflight([*base, "asset.market=margin"])
    with pytest.raises(ConfigError, match=r"^strategy\.orders must be one of taker, maker"):
        preflight([*base, "strategy.orders=limit"])


def test_the_shipped_binance_candles_are_spot() -> None:
    from crypto_tune.config import config_dir

    for name in ("binance", "csv", "basket"):
        text = (config_dir() / "asset" / f"{name}.yaml").read_text()
        assert "\nmarket: spot\n" in text
    assert "\nmarket: perp\n" in (config_dir() / "asset" / "synthetic.yaml").read_text()


def test_each_cost_setting_changes_the_phase2_fingerprint(tmp_path: Path) -> None:
    base = ["phase=inspect", "debug=fast", f"paths.outputs={tmp_path}"]
    settings = preflight(base)
    assert settings is not None
    datasets = [prepare_dataset(settings)]
    before = study_fingerprint(settings, datasets, phase="strategy", predictions="k")
    rates = tmp_path / "funding.csv"
    rates.write_text("timestamp,funding_rate\n2021-01-01T00:00:00Z,0.0001\n")
    changes = {
        "costs.market": ["asset.market=spot", "asset.funding=null"],
        "costs.fee": ["strategy.fee=0.001"],
        "costs.funding": ["asset.funding=0.0002"],
        "costs.maintenance_margin": ["asset.maintenance_margin=0.01"],
        "costs.allow_short": ["strategy.allow_short=false"],
        "costs.borrow_rate": ["asset.market=spot", "asset.funding=null", "asset.borrow_rate=0.1"],
    }
    for key, overrides in changes.items():
        other = preflight([*base, *overrides])
        assert other is not None
        after = study_fingerprint(other, datasets, phase="strategy", predictions="k")
        assert any(d.startswith(f"{key} ") for d in differences(before, after)), key
    with_file = preflight([*base, f"asset.funding={rates}"])
    assert with_file is not None
    recorded = study_fingerprint(with_file, datasets, phase="strategy", predictions="k")
    assert str(recorded["costs.funding"]).startswith("file:")
    assert study_fingerprint(settings, datasets, phase="model") == study_fingerprint(
        dataclasses.replace(settings, strategy=with_file.strategy), datasets, phase="model"
    )  # Phase 1 scores predictions: costs are not its inputs


def test_funding_files_in_csv_with_epoch_or_iso_times(tmp_path: Path) -> None:
    iso = tmp_path / "iso.csv"
    iso.write_text(
        "fundingTime,fundingRate\n2024-01-01T08:00:00Z,0.0001\n2024-01-01T00:00:00Z,-2e-05\n"
    )
    epoch = tmp_path / "epoch.csv"
    epoch.write_text("timestamp,funding_rate\n1704067200000,-2e-05\n1704096000000,0.0001\n")
    for path in (iso, epoch):
        rates = read_funding(str(path))
        assert rates.index.tolist() == list(
            pd.to_datetime(["2024-01-01 00:00", "2024-01-01 08:00"], utc=True)
        )
        assert rates.tolist() == [-2e-05, 0.0001]
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,funding_rate\n2024-01-01T00:00:00Z,abc\n")
    with pytest.raises(DataError, match=r"bad\.csv: line 2: not a timestamp and a finite"):
        read_funding(str(bad))
    with pytest.raises(ConfigError, match=r"^asset\.funding: cannot read"):
        read_funding(str(tmp_path / "missing.csv"))
    with pytest.raises(ConfigError, match=r"^asset\.funding: no such file: .*missing\.csv"):
        market_costs("perp", funding=str(tmp_path / "missing.csv"))


def test_the_bridge_adds_up_by_hand() -> None:
    # bar 0 pays 0.01 of trading costs on equity 1; bar 1 0.0099 of funding on equity 0.99
    returns = np.array([-0.01, -0.01])
    paid = np.array([[0.01, 0.0, 0.0], [0.0, 0.0099, 0.0]])
    bridge = period_bridge([returns], [paid], fee=0.001, slippage=0.0004)
    assert tuple(bridge) == BRIDGE_KEYS
    assert bridge["gross_return"] == pytest.approx(0.0)
    assert bridge["net_return"] == pytest.approx(0.99 * 0.99 - 1)
    assert bridge["fee_paid"] == pytest.approx(0.01 * 0.001 / 0.0014)
    assert bridge["slippage_paid"] == pytest.approx(0.01 * 0.0004 / 0.0014)
    assert bridge["funding_paid"] == pytest.approx(0.01) and bridge["borrow_paid"] == 0.0
    parts = sum(bridge[k] for k in ("fee_paid", "slippage_paid", "funding_paid", "borrow_paid"))
    assert bridge["compounding"] == pytest.approx(
        bridge["gross_return"] - bridge["net_return"] - parts
    )


def test_the_report_shows_the_bridge() -> None:
    bridge = period_bridge([np.array([0.01])], [None], fee=0.001, slippage=0.0)
    costs = {**market_costs("spot").describe(), "slippage": 0.0, "in_sample": bridge}
    html = costs_section({"costs": costs})
    assert 'id="costs"' in html and "gross return" in html and "market spot" in html
    assert "shorting not allowed" in html and "1.00%" in html
    assert "not available" in costs_section({})


def test_a_funding_file_must_span_the_bars(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(
        "timestamp,funding_rate\n2024-01-01T08:00:00Z,0.0001\n2024-01-01T16:00:00Z,0.0002\n"
    )
    costs = market_costs("perp", funding=str(path))
    bars = pd.date_range("2024-01-01", periods=6, freq="4h", tz="UTC")
    assert costs.funding(bars, 240) == pytest.approx([0, 0.0001, 0, 0.0002, 0, 0])
    later = pd.date_range("2024-01-02", periods=6, freq="4h", tz="UTC")
    with pytest.raises(ConfigError, match=r"^asset\.funding: .*rates\.csv covers 2024-01-01 08:00"):
        costs.funding(later, 240)


def test_a_funding_file_short_of_the_traded_bars_is_refused_at_start(tmp_path: Path) -> None:
    """Before any trial (each would fail on it), in one line naming the file; Phase 1, which
    trades nothing, does not read it."""
    path = tmp_path / "rates.csv"
    path.write_text("timestamp,funding_rate\n2030-01-01T08:00:00Z,0.0001\n")
    base = [
        "debug=fast",
        "asset.market=perp",
        f"asset.funding={path}",
        f"paths.outputs={tmp_path / 'out'}",
    ]
    refused = r"^asset\.funding: .*rates\.csv covers 2030-01-01"
    trading = (
        ["-m", "phase=strategy", "phase.model_source=config"],
        ["phase=best"],
        ["phase=report"],
    )
    for args in trading:
        with pytest.raises(ConfigError, match=refused):
            preflight([*args, *base])
    assert preflight(["-m", "phase=model", *base]) is not None


def test_every_best_run_records_its_costs_in_and_out_of_sample() -> None:
    """``workflow.best.json``'s ``costs`` from the best run's backtests: a long held over the
    08:00 and 16:00 funding timestamps of each fold pays 0.1% of its notional at each."""
    from crypto_tune.backtest import run_backtest
    from crypto_tune.config import StrategySettings
    from crypto_tune.costs import bridge_lines
    from crypto_tune.phases._best_document import _costs
    from crypto_tune.phases._best_runs import MemberRun

    index = pd.date_range("2024-01-01", periods=6, freq="4h", tz="UTC")
    candles = pd.DataFrame({c: 100.0 for c in ("open", "high", "low", "close")}, index=index)
    preds = pd.Series([1.0, 1.0, 1.0, np.nan, np.nan, np.nan], index=index)
    costs = market_costs("perp", funding=0.001, fee=0.0)
    strategy = dataclasses.replace(
        StrategySettings(name="threshold", sizing="fixed", slippage=0.0), market=costs
    )
    funding = costs.funding(index, 240)
    kwargs = strategy.backtest_params().kwargs() | {"threshold": 0.5, "funding_rate": funding}
    folds = [run_backtest(candles, preds, **kwargs) for _ in range(2)]
    holdout = run_backtest(candles, -preds, **kwargs)  # a short receives it
    run = MemberRun(
        symbol="X",
        dataset=None,  # type: ignore[arg-type]
        fold_scores={},
        is_returns=[r.returns for r in folds],
        is_trades=pd.DataFrame(),
        is_positions=np.zeros(12),
        oos=holdout,
        holdout_ic=0.0,
        fitted=None,
        is_costs=[r.costs for r in folds],
    )
    document = _costs(strategy, [run])
    assert document["market"] == "perp" and document["fee"] == 0.0
    assert document["in_sample"]["funding_paid"] == pytest.approx(4 * 0.001, rel=1e-3)
    assert document["in_sample"]["net_return"] == pytest.approx(0.998**2 - 1)
    assert document["out_of_sample"]["funding_paid"] == pytest.approx(-2 * 0.001, rel=1e-3)
    assert document["out_of_sample"]["borrow_paid"] == 0.0
    lines = bridge_lines(document)
    assert len(lines) == 2 and lines[0].startswith("costs (perp, fee 0.00%) in sample: gross")
    assert "funding 0.4%" in lines[0] and lines[1].endswith("= net +0.2%")


def test_phase2_folds_and_basket_sleeves_pay_the_same_costs() -> None:
    """A Phase 2 fold (and a basket's sleeve on the same fold) pays funding at its 8-hour
    timestamps, not spread over the bars; on spot the same short signal never trades."""
    from crypto_tune.config import StrategySettings
    from crypto_tune.evaluation import FoldArrays, backtest_folds, fold_paths

    index = pd.date_range("2024-01-01", periods=6, freq="4h", tz="UTC")
    prices = np.full(6, 100.0)
    preds = np.array([1.0, 1.0, 1.0, np.nan, np.nan, np.nan])
    fold = FoldArrays(prices, prices, prices, prices, preds, times=index, bar_minutes=240.0)
    rule = StrategySettings(name="threshold", threshold=0.5, sizing="fixed", slippage=0.0)
    perp = dataclasses.replace(rule, market=market_costs("perp", funding=0.001, fee=0.0))
    returns, trades = backtest_folds((fold,), perp, bar_hours=4.0)
    assert trades == [1] and np.prod(1 + returns[0]) == pytest.approx(0.998)
    assert np.flatnonzero(returns[0]).tolist() == [1, 3]  # the 08:00 and 16:00 closes
    sleeve, _, n_trades = fold_paths((fold,), perp, bar_hours=4.0)[0]
    np.testing.assert_array_equal(sleeve, returns[0])
    assert n_trades == 1
    spot = dataclasses.replace(rule, market=market_costs("spot"))
    short = FoldArrays(prices, prices, prices, prices, -preds, times=index, bar_minutes=240.0)
    assert backtest_folds((short,), spot, bar_hours=4.0)[1] == [0]


def test_inspect_says_what_the_market_charges() -> None:
    spot = market_costs("spot").summary(0.0002)
    assert spot == (
        "market spot: fee 0.10% + slippage 0.02% per side, long only at most 1x (no "
        "asset.borrow_rate), no funding, liquidation at 10% of the notional"
    )
    perp = market_costs("perp").summary(0.0002)
    assert "funding 0.0100% per 8 h (longs pay)" in perp and "at 0.5% of" in perp
