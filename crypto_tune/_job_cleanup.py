"""What a Hydra job leaves behind, tidied: database passwords masked in a single run's
``.hydra/`` snapshot, the folder of a failed single run removed, and the trial of a failed or
interrupted sweep job marked FAIL."""

from __future__ import annotations

import logging

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from crypto_tune.logs import mask_secrets

log = logging.getLogger("crypto_tune")


def scrub_snapshot() -> None:
    """Mask database passwords in a single run's ``.hydra/`` snapshot (a password given in
    ``storage.url`` on the command line would otherwise be saved in overrides.yaml)."""
    from pathlib import Path

    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    if not hydra_cfg.output_subdir:
        return
    folder = Path(str(hydra_cfg.runtime.output_dir)) / str(hydra_cfg.output_subdir)
    for path in folder.glob("*.yaml"):
        text = path.read_text()
        masked = mask_secrets(text)
        if masked != text:
            path.write_text(masked)


def discard_run_dir() -> None:
    """A single run that fails leaves no run folder behind: remove its folder if it holds only
    what Hydra made for it (the .hydra/ snapshot, the job's log), never the working directory,
    then the folders this process made that are still empty (``runs/<phase>/``, ``runs/``,
    ``paths.outputs``...: :func:`crypto_tune._made.undo`; never one that was there before)."""
    import shutil
    from pathlib import Path

    from crypto_tune._made import undo

    if not HydraConfig.initialized():
        undo()
        return
    hydra_cfg = HydraConfig.get()
    run_dir = Path(str(hydra_cfg.runtime.output_dir))
    made = {str(hydra_cfg.output_subdir or ".hydra"), f"{hydra_cfg.job.name}.log"}
    if (
        run_dir.is_dir()
        and run_dir.resolve() != Path.cwd().resolve()
        and all(p.name in made for p in run_dir.iterdir())
    ):
        logging.shutdown()  # close the job log before removing it
        shutil.rmtree(run_dir, ignore_errors=True)
    undo()


def fail_running_trial(cfg: DictConfig | dict) -> None:
    """Mark this job's trial FAIL, so the study holds no zombie RUNNING trial (after Ctrl-C, or
    when the failure guard stops the sweep inside a trial). Works from the raw job config, since
    the trial's values may be the very thing that failed validation."""
    import optuna

    from crypto_tune.storage import open_storage, study_name
    from crypto_tune.study import running_trial

    try:
        tree = cfg if isinstance(cfg, dict) else OmegaConf.to_container(cfg, resolve=True)
        if not isinstance(tree, dict):
            return
        values = {
            f"{group}.{key}": value
            for group in ("model", "strategy")
            for key, value in (tree.get(group) or {}).items()
        }
        study = optuna.load_study(
            study_name=study_name(tree["study"]["name"], tree["phase"]["name"]),
            storage=open_storage(tree["storage"]["url"]),
        )
        trial = running_trial(study, values)
        if trial is not None:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    except Exception as exc:  # never mask the original error or interrupt
        log.warning("could not mark the trial as failed: %s", mask_secrets(str(exc)))


__all__ = ["discard_run_dir", "fail_running_trial", "scrub_snapshot"]
