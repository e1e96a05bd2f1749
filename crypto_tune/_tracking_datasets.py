"""The data a run was tuned on, as MLflow datasets: digest = the data fingerprint, name =
``symbol/timeframe``, source = the file (or the synthetic market's recipe)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from crypto_tune._tracking_store import Run
from crypto_tune.config import AssetSettings, Settings

log = logging.getLogger("crypto_tune.tracking")


def dataset_source(asset: AssetSettings) -> Any:
    """Where the candles of a single-series asset come from, as an MLflow dataset source: the
    absolute file path (a ``local`` source), or for the synthetic market the recipe that
    generates it (a ``code`` source: seed, bars, planted IC, start)."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source

    if asset.kind == "synthetic" and asset.synthetic is not None:
        syn = asset.synthetic
        recipe = {"seed": syn.seed, "n_bars": syn.n_bars, "planted_ic": syn.planted_ic}
        return CodeDatasetSource(
            {"generator": "crypto_tune.data.synthetic_market", "start": syn.start, **recipe}
        )
    from crypto_tune.dataset import asset_path

    path = str(Path(asset_path(asset)).expanduser().resolve())
    with warnings.catch_warnings():  # MLflow registers its local source twice: it warns
        warnings.simplefilter("ignore")
        return resolve_dataset_source(path)


_DATASETS: dict[tuple[str, str, str], Any] = {}  # (fingerprint, name, asset) -> dataset


def mlflow_dataset(asset: AssetSettings, candles: Any, fingerprint: str) -> Any:
    """``candles`` as an MLflow dataset: digest = the project's data fingerprint, name =
    ``symbol/timeframe``, source = :func:`dataset_source` (built once per process)."""
    from mlflow.data.pandas_dataset import from_pandas

    name = f"{asset.symbol}/{asset.timeframe}"
    key = (fingerprint, name, str(asset))
    if key not in _DATASETS:
        with warnings.catch_warnings():  # schema hints about integer columns
            warnings.simplefilter("ignore")
            _DATASETS[key] = from_pandas(
                candles, source=dataset_source(asset), name=name, digest=fingerprint
            )
    return _DATASETS[key]


def datasets(settings: Settings) -> list[Any]:
    """The MLflow datasets of ``settings`` (one per member of a basket, per symbol of a
    universe)."""
    from crypto_tune.dataset import file_asset, member_settings, prepare_dataset

    if settings.asset.kind == "universe":
        from crypto_tune.universe._dataset import prepare_universe

        universe = prepare_universe(settings)  # memoised: the trial itself reuses it
        timeframe = settings.asset.timeframe
        return [
            mlflow_dataset(
                file_asset(symbol, timeframe, file),
                universe.candles[symbol],
                universe.fingerprints[symbol],
            )
            for symbol, file in universe.files.items()
        ]
    found = []
    for member in member_settings(settings):
        data = prepare_dataset(member)  # memoised: the trial itself reuses it
        found.append(mlflow_dataset(member.asset, data.candles, data.data_fingerprint))
    return found


def log_datasets(run: Run, settings: Settings) -> None:
    """Log the data of ``settings`` (every member of a basket) as inputs of ``run``.

    Data errors propagate (the trial would meet them next); a tracker that refuses the dataset
    costs a warning, never the trial.
    """
    for dataset in datasets(settings):
        try:
            run.dataset(dataset)
        except Exception as exc:
            log.warning("dataset %s not logged to MLflow: %s", dataset.name, exc)


__all__ = ["dataset_source", "datasets", "log_datasets", "mlflow_dataset"]
