"""Severity tables for sensory shift (data in ``levels.yaml``) and the per-episode seed."""

from __future__ import annotations

import zlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

MAX_SEVERITY = 5
NO_SHIFT = "none"
SCENE_KINDS = ("camera_pose", "lighting", "distractors")
IMAGE_KINDS = ("color_jitter", "noise", "blur", "occlusion")


class ShiftError(ValueError):
    """An unknown shift kind, a severity out of range, or a shift a benchmark cannot apply."""


@lru_cache(maxsize=1)
def shift_table() -> dict[str, dict[str, list[float]]]:
    table = yaml.safe_load((Path(__file__).with_name("levels.yaml")).read_text())
    for kind, params in table.items():
        if kind not in SCENE_KINDS + IMAGE_KINDS:
            raise ShiftError(f"levels.yaml lists unknown shift kind {kind!r}")
        for name, values in params.items():
            if len(values) != MAX_SEVERITY + 1 or values[0] != 0:
                raise ShiftError(f"levels.yaml: {kind}.{name} needs {MAX_SEVERITY + 1} values starting at 0, got {values}")
    return table


SHIFT_KINDS: tuple[str, ...] = (NO_SHIFT,) + SCENE_KINDS + IMAGE_KINDS


def check_shift(kind: str, severity: Any) -> tuple[str, int]:
    """Validate ``kind`` and ``severity``; errors name the bad value."""
    if kind not in SHIFT_KINDS:
        raise ShiftError(f"unknown shift kind {kind!r}; known: {', '.join(SHIFT_KINDS)}")
    try:
        level = int(severity)
    except (TypeError, ValueError):
        raise ShiftError(f"severity of shift {kind!r} must be an integer 0..{MAX_SEVERITY}, got {severity!r}") from None
    if level != severity or not 0 <= level <= MAX_SEVERITY:
        raise ShiftError(f"severity of shift {kind!r} must be an integer 0..{MAX_SEVERITY}, got {severity!r}")
    if kind == NO_SHIFT and level != 0:
        raise ShiftError(f"shift kind 'none' takes severity 0, got {severity!r}")
    return kind, level


def level_params(kind: str, severity: int) -> dict[str, float]:
    """The parameters of ``kind`` at ``severity``."""
    return {name: float(values[severity]) for name, values in shift_table()[kind].items()}


def shift_rng(seed: int | None, kind: str, severity: int) -> np.random.Generator:
    """The episode's shift generator: a function of its seed, the kind and the severity only."""
    return np.random.default_rng([0 if seed is None else int(seed), zlib.crc32(kind.encode()), severity])


def shift_options(spec: Any) -> dict[str, Any]:
    """Reset options asking a ``SensoryShift``-wrapped env for a plan row's shift (none for clean rows)."""
    kind, severity = check_shift(spec.perturbation, spec.severity)
    return {} if kind == NO_SHIFT else {"shift": {"kind": kind, "severity": severity}}


def check_shift_applied(spec: Any, info: dict[str, Any]) -> None:
    """Refuse to record a shifted episode that ran clean (env built without the wrapper)."""
    if spec.perturbation == NO_SHIFT:
        return
    got = info.get("shift") or {}
    if (got.get("kind"), got.get("severity")) != (spec.perturbation, spec.severity):
        raise ShiftError(
            f"episode asked for shift {spec.perturbation}@{spec.severity} but the env reported {got or 'no shift'}; "
            "wrap it in envs.shift.SensoryShift (env workers: wrappers=[{entry: 'envs.shift:SensoryShift'}])"
        )
