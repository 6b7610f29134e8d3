"""On/off switches of the harness's LIBERO fast paths, read from the environment (env workers inherit them)."""

from __future__ import annotations

import os

ON, OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def switch_on(env_var: str, default: bool = True) -> bool:
    """``env_var`` = 1 / 0 (or true/false, yes/no, on/off); unset: ``default``; anything else is an error naming it."""
    raw = os.environ.get(env_var)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ON:
        return True
    if value in OFF:
        return False
    raise ValueError(f"{env_var}={raw!r} is not a switch value: use 1 (on, the default) or 0 (off)")
