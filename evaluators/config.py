"""Hydra configs composed from ``evaluators/conf`` plus command-line overrides.

Configs are in struct mode: an override of a key that does not exist is an
error naming the key and the closest known ones.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Sequence

from omegaconf import DictConfig, OmegaConf


class ConfigError(ValueError):
    """A bad override or config value."""


def _known_keys(cfg: DictConfig, prefix: str = "") -> list[str]:
    keys = []
    for k, v in cfg.items():
        path = f"{prefix}{k}"
        keys.append(path)
        if isinstance(v, DictConfig):
            keys.extend(_known_keys(v, f"{path}."))
    return keys


def compose(config_name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """Compose ``config_name`` with ``overrides``; typos become ``ConfigError``."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="evaluators.conf", version_base="1.3"):
        try:
            cfg = hydra_compose(config_name=config_name, overrides=list(overrides))
        except (HydraException, OmegaConfBaseException) as exc:
            msg = str(exc).splitlines()[0]
            m = re.search(r"Key '([^']+)' is not in struct|Could not override '([^']+)'", str(exc))
            hint = ""
            if m:
                bad = m.group(1) or m.group(2)
                base = hydra_compose(config_name=config_name)
                close = difflib.get_close_matches(bad, _known_keys(base), n=3, cutoff=0.5)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                msg = f"unknown config key {bad!r}{hint}"
            m = re.search(r"Could not find '([^']+)'", str(exc))
            if m:
                msg = f"unknown config option {m.group(1)!r}: {msg}"
            raise ConfigError(msg) from None
    OmegaConf.set_struct(cfg, True)
    return cfg


def to_container(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
