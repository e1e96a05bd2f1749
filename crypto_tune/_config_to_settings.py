"""A composed config resolved and validated into :class:`Settings` (a plain mapping, what the
fast launcher passes for leaf-only jobs, validated directly)."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from crypto_tune.config import Settings
from crypto_tune.exceptions import ConfigError


def settings_from_config(cfg: DictConfig | dict) -> Settings:
    """Resolve a composed config and validate it into :class:`Settings`.

    A plain mapping (what the fast launcher passes for leaf-only jobs) is validated directly.
    """
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    from crypto_tune.config import settings_from_dict

    if isinstance(cfg, dict):
        return settings_from_dict(cfg)
    try:
        container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as exc:
        key = getattr(exc, "full_key", None) or "a value"
        raise ConfigError(
            f"{key} is required but missing (give it on the command line: {key}=...)"
        ) from None
    except OmegaConfBaseException as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"{getattr(exc, 'full_key', '') or 'config'}: {first}") from None
    if not isinstance(container, dict):
        raise ConfigError(f"config: expected a mapping, got {type(container).__name__}")
    return settings_from_dict({str(k): v for k, v in container.items()})


__all__ = ["settings_from_config"]
