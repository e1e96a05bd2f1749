"""Optuna's gRPC storage proxy in front of the study database, heartbeats included.

Thousands of workers need not each hold connections to PostgreSQL: one proxy does
(``python -m crypto_tune.proxy``, :func:`serve`), and the workers talk gRPC to it
(``storage=grpc storage.url=grpc://host:port``). The proxy serves Optuna's own storage API plus
a small ``crypto_tune.Workers`` service that the protocol lacks and crash-safe workers need:

* ``Options``: the proxy's grace period and retries (``CRYPTO_TUNE_GRACE``,
  ``CRYPTO_TUNE_RETRIES`` in the proxy's environment: the proxy judges staleness);
* ``Beat``: record the heartbeats of a worker's running trials in the database;
* ``FailStale``: fail (and re-enqueue, with retries) the study's RUNNING trials whose heartbeat
  is older than the grace period, except the caller's own, with the same rule as a worker on
  the database (:func:`~crypto_tune.storage._workers.fail_stale`).

The heartbeats land in the database's heartbeat table, so workers on the proxy and workers on
the database directly share one study and judge each other's trials alike. The worker side is
:class:`ProxyWorkerStorage`; outside a sweep a plain :class:`optuna.storages.GrpcStorageProxy`
reads the studies (:func:`client`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from collections.abc import Callable
from typing import Any

import optuna
from optuna.storages import GrpcStorageProxy, RDBStorage
from optuna.trial import FrozenTrial, TrialState

from crypto_tune.exceptions import ConfigError, StorageError
from crypto_tune.storage._check import check_database, check_sqlite_folder
from crypto_tune.storage._options import WorkerOptions, heartbeat_rdb_kwargs
from crypto_tune.storage._schema import tables_made_one_at_a_time
from crypto_tune.storage._url import KEY, StorageURL
from crypto_tune.storage._workers import WorkerMixin, fail_stale, retry_outages, stale_message

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
def check_proxy(url: StorageURL | str, *, timeout_s: float = 5) -> None:
    """Raise StorageError unless a gRPC server answers at ``grpc://host:port`` within
    ``timeout_s`` seconds."""
    url = StorageURL.parse(url)
    host, port = url.address
    grpc = _grpc()
    channel = grpc.insecure_channel(f"{host}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout_s)
    except grpc.FutureTimeoutError:
        raise StorageError(
            f"{KEY} {url} is unreachable: no gRPC storage proxy answered within "
            f"{timeout_s:g} s (start one with `python -m crypto_tune.proxy --storage <database "
            f"url> --port {port}`)"
        ) from None
    finally:
        channel.close()


def client(url: StorageURL | str) -> GrpcStorageProxy:
    """A plain gRPC storage proxy client for ``grpc://host:port``, its server reached once."""
    url = StorageURL.parse(url)
    check_proxy(url)
    host, port = url.address
    with warnings.catch_warnings():  # "experimental" since Optuna 4.2
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return GrpcStorageProxy(host=host, port=port)


class ProxyWorkerStorage(WorkerMixin, GrpcStorageProxy):
    """A sweep worker's storage through the gRPC proxy: :class:`GrpcStorageProxy` plus the
    worker's heartbeats, stale-trial recovery and outage tolerance (the same rules as
    :class:`~crypto_tune.storage.WorkerStorage` on the database).

    The grace period and retries are the proxy's (it judges staleness): this process's
    ``CRYPTO_TUNE_HEARTBEAT`` must stay below the proxy's ``CRYPTO_TUNE_GRACE`` (ConfigError)."""

    def __init__(self, url: StorageURL | str, options: WorkerOptions) -> None:
        url = StorageURL.parse(url)
        host, port = url.address
        grpc = _grpc()
        self._setup_worker(options, url)
        with warnings.catch_warnings():  # "experimental" since Optuna 4.2
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            GrpcStorageProxy.__init__(self, host=host, port=port)
        self._workers = grpc.insecure_channel(f"{host}:{port}")
        self._calls: dict[str, Callable[..., Any]] = {}
        served = self._retrying(lambda: self._call("Options", {}))
        if options.heartbeat >= served["grace"]:
            raise ConfigError(
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


retry_outages(ProxyWorkerStorage, GrpcStorageProxy)


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


def proxy_storage(url: StorageURL | str, options: WorkerOptions) -> RDBStorage:
    """The proxy's database storage: the database reached once, connections checked before use,
    the workers' heartbeat settings (its grace period and retries judge stale trials)."""
    url = StorageURL.parse(url)
    if url.is_grpc:
        raise ConfigError(f"--storage must be a database URL, not another proxy ({url})")
    if url.is_sqlite:
        check_sqlite_folder(url)
    else:
        check_database(url)
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        with tables_made_one_at_a_time(url):
            return RDBStorage(url.url, **heartbeat_rdb_kwargs(url, options))


def serve(
    url: StorageURL | str,
    *,
    host: str = "localhost",
    port: int = DEFAULT_PORT,
    options: WorkerOptions,
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


__all__ = [
    "DEFAULT_PORT",
    "ProxyWorkerStorage",
    "check_proxy",
    "client",
    "proxy_storage",
    "serve",
]
