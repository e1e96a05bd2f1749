"""``python -m crypto_tune.proxy`` (``crypto-tune-proxy``): serve the study database to sweep
workers over gRPC, heartbeats included (the proxy itself: :mod:`crypto_tune.storage`)::

    python -m crypto_tune.proxy --storage postgresql://user@db/crypto_tune --port 13000
    crypto-tune -m phase=model storage=grpc storage.url=grpc://proxy-host:13000   # every machine

Like ``crypto-tune``, this command alone turns the project's errors into one line and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from crypto_tune.exceptions import CryptoTuneError
from crypto_tune.logs import MaskSecretsFilter, mask_secrets
from crypto_tune.storage import DEFAULT_PORT, StorageURL, serve, worker_options

log = logging.getLogger("crypto_tune")


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="crypto-tune-proxy",
        description="Serve the study database to crypto-tune workers over gRPC "
        "(workers: storage=grpc storage.url=grpc://HOST:PORT).",
    )
    parser.add_argument(
        "--storage",
        default=os.environ.get("CRYPTO_TUNE_PG_URL"),
        help="database URL (default: $CRYPTO_TUNE_PG_URL); put the password in PGPASSWORD",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (0.0.0.0)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT})")
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.addFilter(MaskSecretsFilter())
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        if not args.storage:
            raise CryptoTuneError("--storage (or CRYPTO_TUNE_PG_URL) is required")
        url = StorageURL.parse(args.storage)
        options = worker_options()
        server = serve(url, host=args.host, port=args.port, options=options)
    except CryptoTuneError as exc:
        print(f"crypto-tune-proxy: error: {mask_secrets(str(exc))}", file=sys.stderr)
        sys.exit(2)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log.info(
        "crypto-tune-proxy: serving %s on %s:%d (grace %d s, retries %d)",
        url,
        args.host,
        args.port,
        options.grace,
        options.retries,
    )
    stop.wait()
    server.stop(grace=5).wait()
    log.info("crypto-tune-proxy: stopped")


if __name__ == "__main__":
    main()


__all__ = ["main"]
