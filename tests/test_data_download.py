"""phase=download against a local server that answers in Binance's REST format (no internet).

The server (127.0.0.1, a free port) serves ``GET /api/v3/exchangeInfo`` and ``/api/v3/klines``
(spot), ``/fapi/v1/exchangeInfo``, ``/fapi/v1/klines`` and ``/fapi/v1/fundingRate`` (USD-M
perpetual) with Binance's field names, string-typed numbers, ``startTime``/``endTime``/``limit``
semantics and its row limits. The candles are the shipped Binance ETHUSDT 4h file
(../shared/data/binance_ETHUSDT_4h.csv, see its SOURCES.md), first half of 2020, which holds one
real gap (the bar of 2020-02-19T12:00Z is missing). ccxt is pointed at the server by its own
``urls`` option; nothing else is replaced.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest

from crypto_tune.data import load_candles, read_provenance
from crypto_tune.exceptions import ConfigError, DataError
from crypto_tune.exchange import ExchangeClient
from crypto_tune.phases._download import (
    candles_path,
    download_candles,
    download_funding,
    funding_path,
)

ROOT = Path(__file__).resolve().parents[1]
SOURCE = Path("../shared/data/binance_ETHUSDT_4h.csv")  # relative to the project root
START, END = "2020-01-01", "2020-07-01"
NOW = pd.Timestamp("2026-12-06T12:00:00Z")
STEP_MS = 4 * 3_600_000
FUNDING_MS = 8 * 3_600_000
MISSING_FUNDING = pd.Timestamp("2020-03-12T08:00:00Z")  # left out of the fixture: a funding gap


def _text(value: float) -> str:
    return f"{value:.8f}"


def _klines(source: Path) -> list[list]:
    """Binance klines rows (12 fields, numbers as strings) from a shipped candle file."""
    path = ROOT / source
    if not path.is_file():
        pytest.skip(f"{source} is absent (the shipped data beside the project)")
    raw = pd.read_csv(path, dtype=str)
    stamps = pd.to_datetime(raw["timestamp"], utc=True)
    raw = raw[(stamps >= pd.Timestamp(START, tz="UTC")) & (stamps < pd.Timestamp(END, tz="UTC"))]
    rows = []
    for stamp, o, h, low, c, v in raw[
        ["timestamp", "open", "high", "low", "close", "volume"]
    ].values:
        t = int(pd.Timestamp(stamp).value // 1_000_000)
        quote = _text(float(v) * float(c))
        rows.append([t, o, h, low, c, v, t + STEP_MS - 1, quote, 1000, "0", "0", "0"])
    return rows


@pytest.fixture(scope="module")
def klines() -> list[list]:
    return _klines(SOURCE)


@pytest.fixture(scope="module")
def funding(klines: list[list]) -> list[dict]:
    """Funding records every 8 h at Binance's baseline rate, marked at the bar's close."""
    closes = {row[0]: row[4] for row in klines}
    out = []
    for t in range(klines[0][0], klines[-1][0] + 1, FUNDING_MS):
        if t == MISSING_FUNDING.value // 1_000_000 or t not in closes:
            continue
        out.append(
            {
                "symbol": "ETHUSDT",
                "fundingTime": t,
                "fundingRate": "0.00010000",
                "markPrice": closes[t],
            }
        )
    return out


_FILTERS = [
    {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
    {"filterType": "LOT_SIZE", "minQty": "0.0001", "maxQty": "9000", "stepSize": "0.0001"},
]
SPOT_INFO = {
    "timezone": "UTC",
    "serverTime": 0,
    "rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}
    ],
    "exchangeFilters": [],
    "symbols": [
        {
            "symbol": "ETHUSDT",
            "status": "TRADING",
            "baseAsset": "ETH",
            "baseAssetPrecision": 8,
            "quoteAsset": "USDT",
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": True,
            "filters": _FILTERS,
            "permissions": [],
            "permissionSets": [["SPOT", "MARGIN"]],
        }
    ],
}
PERP_INFO = {
    "timezone": "UTC",
    "serverTime": 0,
    "futuresType": "U_MARGINED",
    "rateLimits": SPOT_INFO["rateLimits"],
    "exchangeFilters": [],
    "symbols": [
        {
            "symbol": "ETHUSDT",
            "pair": "ETHUSDT",
            "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000,
            "onboardDate": 1569398400000,
            "status": "TRADING",
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": "ETH",
            "quoteAsset": "USDT",
            "marginAsset": "USDT",
            "pricePrecision": 2,
            "quantityPrecision": 3,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "filters": _FILTERS,
            "orderTypes": ["LIMIT", "MARKET"],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        }
    ],
}


class BinanceServer:
    """The REST endpoints ccxt's binance calls to load markets and page through history."""

    def __init__(self, klines: list[list], funding: list[dict]) -> None:
        self.klines, self.funding = {"ETHUSDT": klines}, funding  # symbol -> rows
        self.requests: list[str] = []
        self.fail_after: int | None = None  # history requests answered before 503s start
        self.throttle = 0  # the next history requests answered 429 (Binance's rate limit)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                status, body = server.answer(self.path)
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                kind = "text/plain" if isinstance(body, str) else "application/json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def history_requests(self) -> int:
        return sum("klines" in r or "fundingRate" in r for r in self.requests)

    def answer(self, path: str) -> tuple[int, object]:
        url = urlparse(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path.endswith("/exchangeInfo"):
            if url.path.startswith("/fapi/"):
                return 200, PERP_INFO
            (eth,) = SPOT_INFO["symbols"]  # type: ignore[misc]
            listed = [{**eth, "symbol": s, "baseAsset": s[:-4]} for s in self.klines]
            return 200, {**SPOT_INFO, "symbols": listed}
        if self.fail_after is not None and self.history_requests() > self.fail_after:
            return 503, "Service Unavailable"
        if self.throttle:
            self.throttle -= 1
            return 429, {"code": -1003, "msg": "Too many requests; current limit is 6000."}
        symbol = query.get("symbol", "")
        if symbol not in self.klines or (symbol != "ETHUSDT" and url.path.startswith("/fapi/")):
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        start = int(query.get("startTime", 0))
        end = int(query.get("endTime", 2**62))
        if url.path.endswith("/klines"):
            cap = 1500 if url.path.startswith("/fapi/") else 1000
            limit = min(int(query.get("limit", 500)), cap)
            rows = [r for r in self.klines[symbol] if start <= r[0] <= end]
            return 200, rows[:limit]
        if url.path == "/fapi/v1/fundingRate":
            limit = min(int(query.get("limit", 100)), 1000)
            rows = [r for r in self.funding if start <= r["fundingTime"] <= end]
            return 200, rows[:limit]
        return 404, {"code": -1, "msg": "not found"}

    def options(self) -> dict:
        """ccxt constructor options that point binance's public REST APIs here."""
        return {
            "urls": {
                "api": {
                    "public": f"{self.url}/api/v3",
                    "fapiPublic": f"{self.url}/fapi/v1",
                }
            }
        }


@pytest.fixture
def server(klines: list[list], funding: list[dict]) -> Iterator[BinanceServer]:
    srv = BinanceServer(klines, funding)
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


def _client(server: BinanceServer, market: str = "spot", **kwargs: object) -> ExchangeClient:
    return ExchangeClient(
        "binance", market=market, options=server.options(), limit=200, retry_wait=0.0, **kwargs
    )  # type: ignore[arg-type]


def _download(server: BinanceServer, folder: Path, **kwargs: object):
    client = _client(server, retries=kwargs.pop("retries", 2))  # type: ignore[arg-type]
    info = client.find("ETHUSDT")
    path = candles_path(folder, "binance", info.id, "4h", "spot")
    return download_candles(
        client,
        info,
        timeframe="4h",
        path=path,
        since=START,
        until=END,
        now=NOW,
        flush_seconds=0.0,
        **kwargs,
    )


def test_download_matches_the_shipped_candles(server: BinanceServer, tmp_path: Path) -> None:
    from crypto_tune.dataset import data_fingerprint

    server.throttle = 2  # rate-limited twice: ccxt's RateLimitExceeded, waited out and retried
    result = _download(server, tmp_path)
    assert server.throttle == 0 and result.path == tmp_path / "binance_ETHUSDT_4h.parquet"
    assert all(r.startswith("/api/v3/") for r in server.requests)  # only the local server
    got, report = load_candles(result.path)
    want, _ = load_candles(ROOT / SOURCE)
    want = want[(want.index >= START) & (want.index < END)]
    pd.testing.assert_frame_equal(got, want)
    assert data_fingerprint(got) == data_fingerprint(want)
    # the real gap: the bar of 2020-02-19T12:00Z is missing and reported, not filled
    assert [(str(g.after), g.missing_bars) for g in result.gaps] == [
        ("2020-02-19 08:00:00+00:00", 1)
    ]
    assert report.gaps == result.gaps and result.rows == len(want) == result.added
    provenance = read_provenance(result.path)
    assert provenance is not None and report.provenance == provenance
    assert (provenance.exchange, provenance.market, provenance.symbol) == (
        "binance",
        "spot",
        "ETHUSDT",
    )
    assert provenance.unified == "ETH/USDT" and provenance.fetched_at == "2026-12-06T12:00:00Z"
    assert "gaps: 1 gap(s), 1 missing" in "\n".join(result.lines())
    assert any("provenance: binance spot ETHUSDT 4h" in line for line in report.lines())


def test_an_interrupted_download_resumes_to_the_identical_file(
    server: BinanceServer, tmp_path: Path
) -> None:
    whole = _download(server, tmp_path / "whole")
    pages = server.history_requests()
    assert pages >= 5  # 1,091 bars at 200 a page

    server.requests.clear()
    server.fail_after = 2  # the third page fails (after its retries)
    part = tmp_path / "part"
    with pytest.raises(DataError, match=r"ETH/USDT 4h candles from .*: ExchangeNotAvailable after"):
        _download(server, part)
    kept, _ = load_candles(part / whole.path.name)
    assert len(kept) == 400  # two complete, checked pages; no temporary file left behind
    assert sorted(p.name for p in part.iterdir()) == [whole.path.name]

    server.requests.clear()
    server.fail_after = None
    resumed = _download(server, part)
    first = parse_qs(urlparse(server.requests[1]).query)
    assert int(first["startTime"][0]) == int(kept.index[-1].value // 1_000_000) + STEP_MS
    assert resumed.added == whole.rows - 400 and resumed.rows == whole.rows
    assert resumed.path.read_bytes() == whole.path.read_bytes()

    server.requests.clear()  # up to date: one request, nothing added, the file untouched
    before = resumed.path.stat().st_mtime_ns
    again = _download(server, part)
    assert again.added == 0 and resumed.path.stat().st_mtime_ns == before
    assert again.path.read_bytes() == whole.path.read_bytes()


def test_the_downloaded_file_replays_to_the_same_fingerprint(
    server: BinanceServer, tmp_path: Path
) -> None:
    from crypto_tune.cli import preflight
    from crypto_tune.dataset import prepare_dataset
    from crypto_tune.fingerprint import DATA_KEYS, data_fingerprint, differences

    result = _download(server, tmp_path)

    def fingerprint() -> dict:
        settings = preflight(
            [
                "phase=inspect",
                "asset=csv",
                "asset.symbol=ETHUSDT",
                f"asset.path={result.path}",
                f"paths.outputs={tmp_path / 'out'}",
                "split.tune_start=2020-01-01",
                "split.tune_end=2020-04-30",
                "split.holdout_start=2020-05-01",
                "split.holdout_end=2020-06-30",
                "split.n_folds=2",
            ]
        )
        assert settings is not None
        return data_fingerprint(settings, [prepare_dataset(settings)])

    first = fingerprint()
    assert first["data.source"] == "binance:spot:ETHUSDT:4h@2026-12-06T12:00:00Z"
    assert "data.source" in DATA_KEYS
    assert differences(first, fingerprint()) == []
    # a file without provenance (a CSV) and an older fingerprint without the key agree
    assert differences({"data": "a"}, {"data": "a", "data.source": None}) == []


def test_a_perpetual_brings_its_funding_rates(
    server: BinanceServer, tmp_path: Path, funding: list[dict]
) -> None:
    client = _client(server, market="perp")
    info = client.find("ETHUSDT")
    assert info.symbol == "ETH/USDT:USDT"
    path = candles_path(tmp_path, "binance", info.id, "4h", "perp")
    candles = download_candles(
        client, info, timeframe="4h", path=path, since=START, until=END, now=NOW
    )
    assert candles.path.name == "binance_ETHUSDT_4h_perp.parquet" and candles.rows == 1091
    rates = download_funding(
        client,
        info,
        path=funding_path(tmp_path, "binance", info.id),
        since=START,
        until=END,
        now=NOW,
        flush_seconds=0.0,
    )
    assert all(r.startswith("/fapi/v1/") for r in server.requests)
    assert rates.rows == len(funding) and rates.provenance.series == "funding"
    assert [(g.after, g.missing_bars) for g in rates.gaps] == [
        (MISSING_FUNDING - pd.Timedelta(hours=8), 1)
    ]
    frame = pd.read_parquet(rates.path)
    assert list(frame.columns) == ["timestamp", "funding_rate"]
    assert np.allclose(frame["funding_rate"], 0.0001)
    again = download_funding(
        client, info, path=rates.path, since=START, until=END, now=NOW
    )  # resumes after the last rate: nothing new
    assert again.added == 0 and again.rows == rates.rows
    try:
        from crypto_tune.markets import read_funding
    except ImportError:  # the costs half of the issue is not in this tree
        return
    series = read_funding(str(rates.path))
    assert len(series) == len(funding) and series.index[0] == pd.Timestamp(START, tz="UTC")


def test_bad_input_is_one_line_and_writes_nothing(server: BinanceServer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"download\.exchange: ccxt knows no exchange 'binanse'"):
        ExchangeClient("binanse", market="spot")
    client = _client(server)
    with pytest.raises(ConfigError, match=r"asset\.timeframe: binance has no 10m candles \(it"):
        client.check_timeframe("10m")
    client.check_timeframe("4h")
    with pytest.raises(ConfigError, match=r"asset.symbol: binance has no spot market 'ETHUSDX'"):
        client.find("ETHUSDX")
    info = client.find("ETH/USDT")
    foreign = tmp_path / "binance_ETHUSDT_4h.parquet"
    pd.DataFrame({"x": [1.0]}).to_parquet(foreign)
    before = foreign.read_bytes()
    with pytest.raises(ConfigError, match="exists and holds other data"):
        download_candles(client, info, timeframe="4h", path=foreign, since=START, until=END)
    assert foreign.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [foreign.name]


@pytest.mark.slow  # five subprocesses
def test_phase_download_on_the_command_line(server: BinanceServer, tmp_path: Path) -> None:
    from conftest import run_cli

    data = tmp_path / "data"
    api = f"{{api:{{public:'{server.url}/api/v3',fapiPublic:'{server.url}/fapi/v1'}}}}"
    args = [
        "phase=download",
        "asset=eth",
        f"paths.data={data}",
        f"paths.outputs={tmp_path / 'out'}",
        f"download.since={START}",
        f"download.until={END}",
        f"+download.ccxt.urls={api}",
    ]
    done = run_cli(*args, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "binance_ETHUSDT_4h.parquet: 1,091 rows (1,091 new)" in done.stdout
    assert "gaps: 1 gap(s), 1 missing (reported, not filled)" in done.stdout
    assert "use it: crypto-tune phase=inspect asset=csv asset.symbol=ETHUSDT" in done.stdout
    assert "ETHUSDT 4h: 1,092 of 1,092 bars (100%)" in done.stderr  # plain lines, no tty
    assert (data / "binance_ETHUSDT_4h.parquet").is_file()

    for bad, needle in [
        (["asset=synthetic"], "phase=download fetches an exchange's candles"),
        (["download.exchange=binanse"], "download.exchange: ccxt knows no exchange"),
        (["download.since=someday"], "download.since must be an ISO date"),
        ([f"download.folder={ROOT / 'README.md' / 'x'}"], "download.folder: cannot write to"),
    ]:
        done = run_cli(*args, *bad, timeout=300)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and needle in lines[0], done.stderr


class _CtrlC(ExchangeClient):
    """A client whose download is interrupted (Ctrl-C) after ``pages`` pages."""

    pages = 3

    def candle_pages(self, *args: Any, **kwargs: Any) -> Iterator[pd.DataFrame]:
        for n, page in enumerate(super().candle_pages(*args, **kwargs)):
            if n == self.pages:
                raise KeyboardInterrupt
            yield page


def test_ctrl_c_keeps_the_complete_pages_and_a_rerun_finishes(
    server: BinanceServer, tmp_path: Path
) -> None:
    whole = _download(server, tmp_path / "whole")
    client = _CtrlC("binance", market="spot", options=server.options(), limit=200)
    info = client.find("ETHUSDT")
    path = candles_path(tmp_path / "part", "binance", info.id, "4h", "spot")
    with pytest.raises(KeyboardInterrupt):  # flush_seconds default: saved on the way out
        download_candles(client, info, timeframe="4h", path=path, since=START, until=END, now=NOW)
    assert len(load_candles(path)[0]) == 600
    resumed = _download(server, tmp_path / "part")
    assert resumed.added == whole.rows - 600
    assert resumed.path.read_bytes() == whole.path.read_bytes()


def test_progress_is_a_tqdm_bar_on_a_terminal_and_lines_otherwise() -> None:
    import io

    from crypto_tune.phases._download import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Terminal()
    bar = Progress("binance ETHUSDT 4h", 100, stream=tty)
    bar.update(40, "2020-01-01T00:00:00Z")
    bar.update(100, "2020-02-01T00:00:00Z")
    bar.close()
    assert "100/100" in tty.getvalue() and "binance ETHUSDT 4h" in tty.getvalue()

    plain = io.StringIO()
    lines = Progress("binance ETHUSDT 4h", 100, stream=plain, every=3600.0)
    lines.update(40, "2020-01-01T00:00:00Z")  # the first update is shown, then one a while
    lines.update(70, "2020-01-15T00:00:00Z")
    lines.close()  # and the last
    assert plain.getvalue().splitlines() == [
        "binance ETHUSDT 4h: 40 of 100 bars (40%), to 2020-01-01T00:00:00Z",
        "binance ETHUSDT 4h: 70 of 100 bars (70%), to 2020-01-15T00:00:00Z",
    ]


def test_a_basket_downloads_every_symbol(
    server: BinanceServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from crypto_tune.cli import preflight
    from crypto_tune.phases._download import run_download

    server.klines["BTCUSDT"] = _klines(Path("../shared/data/binance_BTCUSDT_4h.csv"))
    settings = preflight(
        [
            "phase=download",
            "asset=basket",
            "asset.symbols=[ETHUSDT,BTCUSDT]",
            f"download.folder={tmp_path}",
            f"paths.outputs={tmp_path / 'out'}",
            f"download.since={START}",
            f"download.until={END}",
            f"+download.ccxt.urls.api.public={server.url}/api/v3",
        ]
    )
    assert settings is not None
    run_download(settings)
    out = capsys.readouterr().out
    template = tmp_path / "binance_{symbol}_4h.parquet"
    assert f"use them: crypto-tune phase=inspect asset=basket 'asset.path={template}'" in out
    for symbol in ("ETHUSDT", "BTCUSDT"):
        candles, report = load_candles(str(template).replace("{symbol}", symbol))
        assert len(candles) == 1091 and report.provenance is not None
        assert report.provenance.symbol == symbol
