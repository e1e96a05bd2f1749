"""Universe studies against issue 23's targets, on the ten real symbols of ../shared/data.

``bench_universe(work_dir=...)`` measures, in this process:

* Phase 1: one trial on the ten-symbol 1h universe (``asset=universe asset.timeframe=1h``: one
  LightGBM over the pooled panel, its default model ``model=lightgbm_panel``, default folds)
  against ten single-asset trials at theirs (``model=lightgbm``) on the same symbols
  (``asset=binance asset.symbol=S asset.timeframe=1h``), each through
  :func:`crypto_tune.phases.run_phase`, the function a sweep's task calls. As in a sweep, the study
  exists and holds the trial RUNNING (asked with the default parameters) and the settings are
  built and the data loaded before the trial (preflight, once per process); the prediction cache
  is emptied first, so every fold trains. Target: the universe's trial under 2x the ten
  single-asset trials together (wall time; the CPU time of all the process's threads is kept
  beside it: on a machine shared with other jobs it moves less than the wall).
* Phase 2: one trial on the ten-symbol 4h universe tuned 2021-2023 (``strategy=topk``, the model
  from the Phase 1 study, ``phase.model_source=study``, the default): a Phase 1 trial with the
  default parameters fills the study and the prediction cache, then a new context reads the
  cached predictions and ``run_phase`` is timed over parameter sets drawn from the sweep's own
  search space (Optuna's RandomSampler, drawn and turned into settings before timing, as the
  launcher does): the median after a warm-up, against 5 ms. The portfolio kernel alone on the
  same parameter sets is timed beside it.

When a symbol's file is absent the section is skipped with the reason. ``quick``: the three
first symbols, 4h, ``debug=fast`` (one tuning year, 3 folds), few Phase 2 trials.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
# where the config reads the candles (paths.data: CRYPTO_TUNE_DATA_DIR, else ../shared/data)
DATA_DIR = (ROOT / os.environ.get("CRYPTO_TUNE_DATA_DIR", "../shared/data")).resolve()
# conf/asset/universe.yaml's symbols (ten), read from that file: one home for the list
SYMBOLS: tuple[str, ...] = tuple(
    str(s) for s in OmegaConf.load(ROOT / "conf" / "asset" / "universe.yaml").asset.symbols
)
TARGET_PHASE1_RATIO = 2.0  # the universe's trial < 2x the ten single-asset trials
TARGET_PHASE2_MS = 5.0  # a Phase 2 trial on ten 4h symbols over three years
# the same trials at equal work: every fold boosts this many rounds, no early stopping (the
# pooled panel's own cost, apart from the extra rounds its model earns)
EQUAL_ROUNDS = 100
# a study's trials as it draws them: this many parameter sets from the Phase 1 search spaces
# (Optuna's RandomSampler, one seed: corresponding sets for the pooled and single-asset trials)
DRAWN_SETS = 3
Progress = Callable[[str], None]
# the modules registering the memos this bench empties (crypto_tune.memo)
MEMO_MODULES = (
    "crypto_tune.dataset",  # datasets
    "crypto_tune.model._oof",  # predictions
    "crypto_tune.universe._dataset",  # universe_datasets
    "crypto_tune.universe._oof",  # universe_predictions
    "crypto_tune.phases._universe_strategy",  # universe_contexts
    "crypto_tune.model._lightgbm",  # lightgbm_datasets
)


def missing_data(symbols: Sequence[str], timeframes: Sequence[str]) -> str | None:
    """None when every ``binance_<symbol>_<timeframe>.csv`` is in :data:`DATA_DIR`, else why."""
    if not DATA_DIR.is_dir():
        return (
            f"{os.path.relpath(DATA_DIR, ROOT)} is absent (the ten symbols' Binance 1h and 4h "
            "candles)"
        )
    missing = [
        f"binance_{s}_{tf}.csv"
        for tf in timeframes
        for s in symbols
        if not (DATA_DIR / f"binance_{s}_{tf}.csv").is_file()
    ]
    if missing:
        return f"missing in {os.path.relpath(DATA_DIR, ROOT)}: {', '.join(missing)}"
    return None


def clear(*names: str) -> None:
    """:func:`crypto_tune.memo.clear_memos` of ``names``, their modules imported (a memo is
    registered when its module is)."""
    import importlib

    from crypto_tune.memo import clear_memos

    for module in MEMO_MODULES:
        importlib.import_module(module)
    clear_memos(*names)


def _default_space(settings: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(distributions, values): the Phase 1 search space restricted to the parameters whose
    default it holds (``lambda_l1=0`` is outside its log range), and those defaults."""
    from crypto_tune.phases._tuning import search_space

    space = search_space(settings, "model").distributions
    defaults = {k: getattr(settings.model, k.removeprefix("model.")) for k in space}
    kept = {}
    for name, distribution in space.items():
        try:
            inside = distribution._contains(distribution.to_internal_repr(defaults[name]))
        except ValueError:
            inside = False
        if inside:
            kept[name] = distribution
    return kept, {k: defaults[k] for k in kept}


def timed_model_trial(settings: Any, *, later: bool = False) -> dict[str, Any]:
    """One Phase 1 trial of ``settings`` as a sweep runs it: the study exists and holds the
    trial RUNNING with the default parameters; the predictions are trained (cache emptied).
    ``later``: a study's later trial, the folds' LightGBM datasets kept from the trial before
    (else emptied: the study's first trial)."""
    from crypto_tune.phases import run_phase
    from crypto_tune.study import open_study

    space, defaults = _default_space(settings)
    study = open_study(settings, "model", create=True)
    study.enqueue_trial(defaults)
    trial = study.ask(fixed_distributions=space)
    clear("predictions", "universe_predictions", *(() if later else ("lightgbm_datasets",)))
    shutil.rmtree(Path(settings.paths.cache) / "predictions", ignore_errors=True)
    started, cpu = time.perf_counter(), time.process_time()
    value = run_phase(settings)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    assert isinstance(value, float)
    study.tell(trial, value)
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "objective": value}


def _rounds(settings: Any) -> list[int]:
    """The best iteration of each fold of the trial just run (its predictions' memo)."""
    if settings.asset.kind == "universe":
        from crypto_tune.universe._dataset import prepare_universe
        from crypto_tune.universe._oof import universe_oof

        data = prepare_universe(settings)
        oof: Any = universe_oof(
            data, settings.model, seed=settings.seed, cache_dir=settings.paths.cache
        )
    else:
        from crypto_tune.dataset import prepare_dataset
        from crypto_tune.model import out_of_fold

        dataset = prepare_dataset(settings)
        oof = out_of_fold(
            dataset, settings.model, seed=settings.seed, cache_dir=settings.paths.cache
        )
    return [int(b) for b in oof.best_iterations]


def _model_line(model: Any) -> str:
    """The parameters that differ between the panel's and a single asset's default model."""
    return f"feature_fraction {model.feature_fraction:g}, learning_rate {model.learning_rate:g}"


def _preflight(overrides: list[str]) -> Any:
    from crypto_tune.cli import preflight

    settings = preflight(overrides)
    if settings is None:
        raise RuntimeError(f"preflight returned no settings for {overrides}")
    return settings


def bench_universe_phase1(
    *, work_dir: Path, symbols: Sequence[str], extra: Sequence[str], progress: Progress
) -> dict[str, Any]:
    """The pooled universe's Phase 1 trial against the symbols' single-asset trials."""
    from crypto_tune.dataset import prepare_dataset
    from crypto_tune.universe._dataset import prepare_universe

    common = ["phase=model", *extra, "tracking.enabled=false"]
    chosen = f"asset.symbols=[{','.join(symbols)}]"
    started = time.perf_counter()
    universe = _preflight(
        [*common, "asset=universe", chosen, f"paths.outputs={work_dir / 'universe'}"]
    )
    data = prepare_universe(universe)
    setup_s = time.perf_counter() - started
    import pandas as pd

    split = universe.split
    when = data.panel.index[data.panel.bar]
    start = when >= pd.Timestamp(split.tune_start, tz="UTC")
    day = pd.Timedelta(days=1)
    tune = start & (when < pd.Timestamp(split.tune_end, tz="UTC") + day)
    through = start & (when < pd.Timestamp(split.holdout_end, tz="UTC") + day)
    fold_rows = [
        {
            "train": int(data.rows(f.train_idx).size),
            "valid": int(data.rows(f.valid_idx).size),
            "test": int(data.rows(f.test_idx).size),
        }
        for f in data.folds
    ]
    progress(
        f"[bench] universe: panel {data.panel.n_rows:,} rows x {data.panel.features.shape[1]} "
        f"features built in {setup_s:.1f}s; Phase 1 trial ..."
    )
    pooled = timed_model_trial(universe)
    pooled["best_iterations"] = _rounds(universe)
    pooled_later = timed_model_trial(universe, later=True)
    progress(
        f"[bench] universe: pooled Phase 1 trial {pooled['seconds']:.1f}s, a later trial "
        f"{pooled_later['seconds']:.1f}s"
    )
    singles: dict[str, dict[str, Any]] = {}
    n_bars: dict[str, int] = {}
    for symbol in symbols:
        settings = _preflight(
            [
                *common,
                "asset=binance",
                f"asset.symbol={symbol}",
                f"paths.outputs={work_dir / 'single'}",
            ]
        )
        n_bars[symbol] = len(prepare_dataset(settings).candles)
        singles[symbol] = timed_model_trial(settings)
        singles[symbol]["best_iterations"] = _rounds(settings)
        later = timed_model_trial(settings, later=True)
        singles[symbol]["later_seconds"] = later["seconds"]
        singles[symbol]["later_cpu_seconds"] = later["cpu_seconds"]
        progress(
            f"[bench] universe: {symbol} Phase 1 trial {singles[symbol]['seconds']:.1f}s, "
            f"a later trial {later['seconds']:.1f}s"
        )
    clear(
        "universe_datasets", "universe_predictions", "datasets", "predictions", "lightgbm_datasets"
    )
    single_s = sum(r["seconds"] for r in singles.values())
    single_cpu_s = sum(r["cpu_seconds"] for r in singles.values())
    later_single_s = sum(r["later_seconds"] for r in singles.values())
    later_single_cpu_s = sum(r["later_cpu_seconds"] for r in singles.values())
    ratio = pooled["seconds"] / single_s
    later_ratio = pooled_later["seconds"] / later_single_s
    return {
        "timeframe": universe.asset.timeframe,
        "symbols": list(symbols),
        "split": split.name,
        "tune": f"{str(split.tune_start)[:4]}-{str(split.tune_end)[:4]}",
        "n_folds": len(data.folds),
        "num_threads": universe.model.num_threads,
        "model": _model_line(universe.model),
        "single_model": _model_line(settings.model),
        "panel_rows": data.panel.n_rows,
        "panel_rows_tune": int(tune.sum()),
        "panel_rows_through_holdout": int(through.sum()),
        "n_features": int(data.panel.features.shape[1]),
        "fold_rows": fold_rows,
        "setup_s": setup_s,
        "universe_s": pooled["seconds"],
        "universe_cpu_s": pooled["cpu_seconds"],
        "universe_objective": pooled["objective"],
        "universe_best_iterations": pooled["best_iterations"],
        "single_s": single_s,
        "single_cpu_s": single_cpu_s,
        "singles": {s: {**r, "bars": n_bars[s]} for s, r in singles.items()},
        "ratio": ratio,
        "cpu_ratio": pooled["cpu_seconds"] / single_cpu_s,
        # a study's later trials: each fold's datasets built by the trial before
        "later_universe_s": pooled_later["seconds"],
        "later_universe_cpu_s": pooled_later["cpu_seconds"],
        "later_single_s": later_single_s,
        "later_single_cpu_s": later_single_cpu_s,
        "later_ratio": later_ratio,
        "later_cpu_ratio": pooled_later["cpu_seconds"] / later_single_cpu_s,
        "target_ratio": TARGET_PHASE1_RATIO,
        "meets_target": ratio < TARGET_PHASE1_RATIO,
        "later_meets_target": later_ratio < TARGET_PHASE1_RATIO,
    }


def drawn_model_parameters(settings: Any, n: int, *, seed: int) -> list[dict[str, Any]]:
    """``n`` parameter sets from ``settings``' Phase 1 search space, drawn by Optuna's
    RandomSampler (a study's first trials, before TPE has anything to go on). The same seed on
    two spaces of the same parameters draws corresponding sets (the same quantile of each
    range): the panel's ``feature_fraction`` is then the single asset's, halved."""
    import optuna

    from crypto_tune.phases._tuning import search_space

    space = search_space(settings, "model").distributions
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [study.ask(fixed_distributions=space).params for _ in range(n)]


def bench_universe_drawn(
    *, work_dir: Path, symbols: Sequence[str], extra: Sequence[str], n: int, progress: Progress
) -> dict[str, Any]:
    """The pooled trial against the ten single-asset trials at ``n`` parameter sets drawn from
    their search spaces, corresponding draws (each a study's first trial, the pruner off: every
    fold trains)."""
    common = ["phase=model", *extra, "tracking.enabled=false", "phase.pruner=none"]
    pooled_at = [*common, "asset=universe", f"asset.symbols=[{','.join(symbols)}]"]

    def single_at(symbol: str) -> list[str]:
        return [*common, "asset=binance", f"asset.symbol={symbol}"]

    space_dir = f"paths.outputs={work_dir / 'space'}"
    pooled_draws = drawn_model_parameters(_preflight([*pooled_at, space_dir]), n, seed=0)
    single_draws = drawn_model_parameters(
        _preflight([*single_at(symbols[0]), space_dir]), n, seed=0
    )
    rows = []
    for i, (pooled_params, single_params) in enumerate(
        zip(pooled_draws, single_draws, strict=True)
    ):
        out = work_dir / f"set{i}"
        pooled_given = [f"{k}={v}" for k, v in pooled_params.items()]
        pooled = timed_model_trial(
            _preflight([*pooled_at, *pooled_given, f"paths.outputs={out / 'universe'}"])
        )
        single_given = [f"{k}={v}" for k, v in single_params.items()]
        single_s = sum(
            timed_model_trial(
                _preflight([*single_at(s), *single_given, f"paths.outputs={out / 'single'}"])
            )["seconds"]
            for s in symbols
        )
        rows.append(
            {
                "params": pooled_params,
                "single_params": single_params,
                "universe_s": pooled["seconds"],
                "single_s": single_s,
                "ratio": pooled["seconds"] / single_s,
            }
        )
        progress(
            f"[bench] universe: drawn set {i + 1}/{n}: pooled {pooled['seconds']:.1f}s, "
            f"single-asset {single_s:.1f}s"
        )
    clear(
        "universe_datasets", "universe_predictions", "datasets", "predictions", "lightgbm_datasets"
    )
    universe_s = sum(r["universe_s"] for r in rows)
    single_s = sum(r["single_s"] for r in rows)
    return {
        "sets": rows,
        "universe_s": universe_s,
        "single_s": single_s,
        "ratio": universe_s / single_s,
        "meets_target": universe_s / single_s < TARGET_PHASE1_RATIO,
    }


def _draw(settings: Any, n: int, *, seed: int) -> list[Any]:
    """``n`` trial settings drawn from the Phase 2 search space (``universe.*``)."""
    import optuna

    from crypto_tune.phases._tuning import search_space

    space = search_space(settings, "strategy").distributions
    draws = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        params = draws.ask(fixed_distributions=space).params
        fields = {k.removeprefix("universe."): v for k, v in params.items()}
        out.append(
            dataclasses.replace(settings, universe=dataclasses.replace(settings.universe, **fields))
        )
    return out


def bench_universe_phase2(
    *,
    work_dir: Path,
    symbols: Sequence[str],
    extra: Sequence[str],
    n_trials: int,
    warmup: int,
    progress: Progress,
) -> dict[str, Any]:
    """Phase 2 trials on the cached predictions of the Phase 1 study's best (only) trial."""
    from crypto_tune.phases import _universe_strategy as us
    from crypto_tune.phases import run_phase
    from crypto_tune.study import open_study

    common = [
        "asset=universe",
        f"asset.symbols=[{','.join(symbols)}]",
        *extra,
        f"paths.outputs={work_dir}",
        "tracking.enabled=false",
    ]
    model = _preflight(["phase=model", *common])
    phase1 = timed_model_trial(model)  # the study's one trial, its predictions cached on disk
    progress(f"[bench] universe: 4h Phase 1 trial {phase1['seconds']:.1f}s (fills the cache)")
    clear("universe_predictions", "universe_contexts")  # a new sweep process reads them
    settings = _preflight(["phase=strategy", "strategy=topk", *common])
    open_study(settings, "strategy", create=True)  # the sweeper creates it before the trials
    context = us.universe_context(settings)
    if not context.oof.from_cache:
        raise RuntimeError("the Phase 2 context trained its predictions instead of reading them")
    trials = _draw(settings, warmup + n_trials, seed=0)
    for trial_settings in trials[:warmup]:
        run_phase(trial_settings)
    times = []
    for trial_settings in trials[warmup:]:
        started = time.perf_counter()
        run_phase(trial_settings)
        times.append(time.perf_counter() - started)
    kernel = []
    for trial_settings in trials[warmup:]:
        params = us.portfolio_params(trial_settings)
        vols = context.segment_vol(params.vol_window)
        started = time.perf_counter()
        for segment, vol in zip(context.segments, vols, strict=True):
            us.simulate_segment(segment, vol, params)
        kernel.append(time.perf_counter() - started)
    clear("universe_datasets", "universe_predictions", "universe_contexts")
    ms = sorted(1000.0 * t for t in times)
    median = statistics.median(ms)
    kernel_median = statistics.median(1000.0 * t for t in kernel)
    progress(f"[bench] universe: Phase 2 trial median {median:.2f} ms over {n_trials} trials")
    split = settings.split
    return {
        "timeframe": settings.asset.timeframe,
        "symbols": list(symbols),
        "tune": f"{str(split.tune_start)[:4]}-{str(split.tune_end)[:4]}",
        "n_folds": len(context.segments),
        "n_test_bars": int(sum(s.bars.size for s in context.segments)),
        "model_source": context.model_source,
        "phase1_trial_s": phase1["seconds"],
        "warmup_trials": warmup,
        "n_trials": n_trials,
        "ms_median": median,
        "ms_mean": statistics.fmean(ms),
        "ms_p10": ms[len(ms) // 10],
        "ms_p90": ms[(9 * len(ms)) // 10],
        "kernel_ms_median": kernel_median,
        "outside_kernel_ms_median": median - kernel_median,
        "target_ms": TARGET_PHASE2_MS,
        "meets_target": median < TARGET_PHASE2_MS,
    }


def bench_universe(
    *, work_dir: Path, quick: bool = False, progress: Progress = print
) -> dict[str, Any]:
    """Both measures, or ``{"skipped": reason}`` without the candles."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    symbols = SYMBOLS[:3] if quick else SYMBOLS
    timeframes = ("4h",) if quick else ("1h", "4h")
    problem = missing_data(symbols, timeframes)
    if problem is not None:
        progress(f"[bench] universe: skipped: {problem}")
        return {"skipped": problem}
    # a fresh folder: the studies, fingerprints and prediction caches of this run only
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    p1_extra = ["debug=fast"] if quick else ["asset.timeframe=1h"]
    p2_extra = ["debug=fast"] if quick else []
    phase1 = bench_universe_phase1(
        work_dir=work_dir / "phase1", symbols=symbols, extra=p1_extra, progress=progress
    )
    rounds = 20 if quick else EQUAL_ROUNDS
    progress(f"[bench] universe: the same trials at {rounds} rounds a fold, no early stopping")
    equal = bench_universe_phase1(
        work_dir=work_dir / "phase1_equal",
        symbols=symbols,
        extra=[*p1_extra, f"model.num_boost_round={rounds}", "model.early_stopping_rounds=0"],
        progress=progress,
    )
    phase1["equal_rounds"] = {
        "rounds": rounds,
        **{
            k: equal[k]
            for k in ("universe_s", "single_s", "ratio", "later_universe_s", "later_single_s")
        },
        "later_ratio": equal["later_ratio"],
    }
    n_drawn = 1 if quick else DRAWN_SETS
    progress(f"[bench] universe: the trials at {n_drawn} parameter sets drawn from the space")
    phase1["drawn"] = bench_universe_drawn(
        work_dir=work_dir / "phase1_drawn",
        symbols=symbols,
        extra=p1_extra,
        n=n_drawn,
        progress=progress,
    )
    phase2 = bench_universe_phase2(
        work_dir=work_dir / "phase2",
        symbols=symbols,
        extra=p2_extra,
        n_trials=30 if quick else 1000,
        warmup=5 if quick else 50,
        progress=progress,
    )
    return {"phase1": phase1, "phase2": phase2, "quick": quick}


__all__ = [
    "SYMBOLS",
    "TARGET_PHASE1_RATIO",
    "TARGET_PHASE2_MS",
    "bench_universe",
    "drawn_model_parameters",
    "missing_data",
    "timed_model_trial",
]
