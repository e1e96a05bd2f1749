"""Optuna's gRPC storage proxy in front of the study database, heartbeats included.

Thousands of workers need not each hold connections to PostgreSQL: one proxy does, and the
workers talk gRPC to it (``storage=grpc storage.url=grpc://host:port``)::

    python -m crypto_tune.proxy --storage postgresql://user@db/crypto_tune --port 13000
    crypto-tune -m phase=model storage=grpc storage.url=grpc://proxy-host:13000   # every machine

The proxy serves Optuna's own storage API (:func:`optuna.storages.run_grpc_proxy_server`) plus a
small ``crypto_tune.Workers`` service that the protocol lacks and crash-safe workers need
(:mod:`crypto_tune.reliability`):

* ``Options``: the proxy's grace period and retries (``CRYPTO_TUNE_GRACE``,
  ``CRYPTO_TUNE_RETRIES`` in the proxy's environment: the proxy judges staleness);
* ``Beat``: record the heartbeats of a worker's running trials in the database;
* ``FailStale``: fail (and re-enqueue, with retries) the study's RUNNING trials whose heartbeat
  is older than the grace period, except the caller's own, with the same rule as a worker on
  the database (:func:`crypto_tune.reliability.fail_stale`).

The heartbeats land in the database's heartbeat table, so workers on the proxy and workers on
the database directly share one study and judge each other's trials alike. The worker side is
:class:`ProxyWorkerStorage`; outside a sweep a plain :class:`optuna.storages.GrpcStorageProxy`
reads the studies (:func:`client`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.storages import GrpcStorageProxy, RDBStorage
from optuna.trial import FrozenTrial, TrialState

from crypto_tune.exceptions import ConfigError, StorageError
from crypto_tune.logs import MaskSecretsFilter, mask_secrets
from crypto_tune.reliability import (
    WorkerMixin,
    WorkerOptions,
    fail_stale,
    heartbeat_rdb_kwargs,
    retry_outages,
    stale_message,
    worker_options,
)
from crypto_tune.storage_url import database_url, grpc_address, is_grpc

log = logging.getLogger("crypto_tune")

SERVICE = "crypto_tune.Workers"
DEFAULT_PORT = 13000
_INSTALL_HINT = "the gRPC storage proxy needs grpcio: pip install grpcio"


def _grpc() -> Any:
    """The grpc module, or StorageError saying how to install it."""
    try:
        import grpc  # type: ignore[import-untyped]  # no type information (types-grpcio)
    except ImportError:
        raise StorageError(_INSTALL_HINT) from None
    return grpc


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()


def _decode(data: bytes) -> Any:
    return json.loads(data or b"{}")


# ---------------------------------------------------------------------------------- client
def check_proxy(url: str, *, timeout_s: float = 5) -> None:
    """Raise StorageError unless a gRPC server answers at ``grpc://host:port`` within
    ``timeout_s`` seconds."""
    host, port = grpc_address(url)
    grpc = _grpc()
    channel = grpc.insecure_channel(f"{host}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout_s)
    except grpc.FutureTimeoutError:
        raise StorageError(
            f"storage.url {url} is unreachable: no gRPC storage proxy answered within "
            f"{timeout_s:g} s (start one with `python -m crypto_tune.proxy --storage <database "
            f"url> --port {port}`)"
        ) from None
    finally:
        channel.close()


def client(url: str) -> GrpcStorageProxy:
    """A plain gRPC storage proxy client for ``grpc://host:port``, its server reached once."""
    check_proxy(url)
    host, port = grpc_address(url)
    with warnings.catch_warnings():  # "experimental" since Optuna 4.2
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return GrpcStorageProxy(host=host, port=port)


class ProxyWorkerStorage(WorkerMixin, GrpcStorageProxy):
    """A sweep worker's storage through the gRPC proxy: :class:`GrpcStorageProxy` plus the
    worker's heartbeats, stale-trial recovery and outage tolerance
    (:class:`crypto_tune.reliability.WorkerStorage` on the database, the same rules).

    The grace period and retries are the proxy's (it judges staleness): this process's
    ``CRYPTO_TUNE_HEARTBEAT`` must stay below the proxy's ``CRYPTO_TUNE_GRACE``."""

    def __init__(self, url: str, options: WorkerOptions) -> None:
        host, port = grpc_address(url)
        grpc = _grpc()
        self._setup_worker(options, url)
        with warnings.catch_warnings():  # "experimental" since Optuna 4.2
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            GrpcStorageProxy.__init__(self, host=host, port=port)
        self._workers = grpc.insecure_channel(f"{host}:{port}")
        self._calls: dict[str, Callable[..., Any]] = {}
        served = self._retrying(lambda: self._call("Options", {}))
        if options.heartbeat >= served["grace"]:
            from crypto_tune.cli import fail

            fail(
                f"CRYPTO_TUNE_HEARTBEAT ({options.heartbeat}) must stay below the grace period of "
                f"the storage proxy at {url} ({served['grace']} s, its CRYPTO_TUNE_GRACE)"
            )
        self.options = dataclasses.replace(
            options, grace=int(served["grace"]), retries=int(served["retries"])
        )

    def _call(self, method: str, message: dict[str, Any]) -> Any:
        """One call of the ``crypto_tune.Workers`` service."""
        if method not in self._calls:
            self._calls[method] = self._workers.unary_unary(
                f"/{SERVICE}/{method}", request_serializer=_encode, response_deserializer=_decode
            )
        return self._calls[method](message, timeout=60)

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        self._first_trial_in(study_id)
        trial_id = int(
            self._retrying(
                lambda: GrpcStorageProxy.create_new_trial(self, study_id, template_trial)
            )
        )
        if template_trial is None or template_trial.state == TrialState.RUNNING:
            self._adopt(trial_id)
        return trial_id

    def _record_heartbeats(self, trial_ids: list[int]) -> None:
        self._call("Beat", {"trial_ids": trial_ids})

    def fail_stale_trials(self, study_id: int) -> list[int]:
        with self._lock:
            own = sorted(self._own)
        reply = self._call("FailStale", {"study_id": study_id, "spare": own})
        numbers = [int(n) for n in reply["numbers"]]
        for number in numbers:
            log.warning(
                stale_message(number, grace=self.options.grace, retries=self.options.retries)
            )
        return numbers


retry_outages(
    ProxyWorkerStorage,
    GrpcStorageProxy,
    (
        "create_new_study",
        "delete_study",
        "set_study_user_attr",
        "set_study_system_attr",
        "get_study_id_from_name",
        "get_study_name_from_id",
        "get_study_directions",
        "get_study_user_attrs",
        "get_study_system_attrs",
        "get_all_studies",
        "set_trial_param",
        "set_trial_intermediate_value",
        "set_trial_user_attr",
        "set_trial_system_attr",
        "get_trial_id_from_study_id_trial_number",
        "get_all_trials",
    ),
)


# ---------------------------------------------------------------------------------- server
def _workers_service(storage: RDBStorage, options: WorkerOptions) -> Any:
    """The ``crypto_tune.Workers`` service on ``storage`` (JSON messages)."""
    grpc = _grpc()

    def options_(message: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"grace": options.grace, "retries": options.retries}

    def beat(message: dict[str, Any], context: Any) -> dict[str, Any]:
        for trial_id in message["trial_ids"]:
            storage.record_heartbeat(int(trial_id))
        return {}

    def fail_stale_(message: dict[str, Any], context: Any) -> dict[str, Any]:
        spare = {int(i) for i in message.get("spare", ())}
        failed = fail_stale(storage, int(message["study_id"]), spare=spare)
        for trial in failed:
            log.warning(stale_message(trial.number, grace=options.grace, retries=options.retries))
        return {"numbers": [trial.number for trial in failed]}

    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            function, request_deserializer=_decode, response_serializer=_encode
        )
        for name, function in (("Options", options_), ("Beat", beat), ("FailStale", fail_stale_))
    }
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


def proxy_storage(url: str, options: WorkerOptions) -> RDBStorage:
    """The proxy's database storage: connections checked before use, the workers' heartbeat
    settings (its grace period and retries judge stale trials)."""
    from crypto_tune.study import check_storage

    url = database_url(url)
    if is_grpc(url):
        raise ConfigError(f"--storage must be a database URL, not another proxy ({url})")
    check_storage(url)
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RDBStorage(url, **heartbeat_rdb_kwargs(url, options))


def serve(
    url: str, *, host: str = "localhost", port: int = DEFAULT_PORT, options: WorkerOptions
) -> Any:
    """Start a gRPC storage proxy for the database ``url`` on ``host:port``; return the server
    (stop it with ``server.stop(grace)``)."""
    from optuna.storages._cached_storage import _CachedStorage
    from optuna.storages._grpc.server import make_server

    _grpc()
    storage = proxy_storage(url, options)
    # The storage API through Optuna's cache (as run_grpc_proxy_server recommends), the
    # heartbeats on the database directly.
    server = make_server(_CachedStorage(storage), host, port)
    server.add_generic_rpc_handlers((_workers_service(storage, options),))
    server.start()
    return server


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m crypto_tune.proxy`` (``crypto-tune-proxy``): serve until SIGINT/SIGTERM."""
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
            raise ConfigError("--storage (or CRYPTO_TUNE_PG_URL) is required")
        options = worker_options()
        server = serve(args.storage, host=args.host, port=args.port, options=options)
    except (ConfigError, StorageError) as exc:
        print(f"crypto-tune-proxy: error: {mask_secrets(str(exc))}", file=sys.stderr)
        sys.exit(2)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log.info(
        "crypto-tune-proxy: serving %s on %s:%d (grace %d s, retries %d)",
        mask_secrets(database_url(args.storage)),
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


__all__ = ["ProxyWorkerStorage", "check_proxy", "client", "main", "proxy_storage", "serve"]
