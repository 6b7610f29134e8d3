"""The observation and action contract shared by every environment.

Observation::

    {"images": {camera: HxWx3 uint8, upright},
     "state": float32[200], "state_mask": bool[200],
     "instruction": str, "embodiment": str, "task": str}

Action: float32[200] in the unified space (or the env's native action when
the env is built with ``action_space="native"``).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import gymnasium as gym
import numpy as np

from envs.unified_space import UNIFIED_DIM

OBSERVATION_KEYS = ("images", "state", "state_mask", "instruction", "embodiment", "task")


class ObservationError(ValueError):
    """An observation breaks the contract."""


class ActionError(ValueError):
    """An action has the wrong size, dtype or non-finite values."""


def check_observation(obs: Mapping[str, Any]) -> None:
    """Raise ``ObservationError`` naming the first key that breaks the contract."""
    missing = [k for k in OBSERVATION_KEYS if k not in obs]
    if missing:
        raise ObservationError(f"observation is missing keys {missing}")
    state, mask = np.asarray(obs["state"]), np.asarray(obs["state_mask"])
    if state.shape != (UNIFIED_DIM,) or state.dtype != np.float32:
        raise ObservationError(f"state must be float32[{UNIFIED_DIM}], got {state.dtype}{list(state.shape)}")
    if mask.shape != (UNIFIED_DIM,) or mask.dtype != np.bool_:
        raise ObservationError(f"state_mask must be bool[{UNIFIED_DIM}], got {mask.dtype}{list(mask.shape)}")
    if not np.all(np.isfinite(state)):
        raise ObservationError(f"state has non-finite values at slots {np.flatnonzero(~np.isfinite(state)).tolist()}")
    for cam, img in obs["images"].items():
        img = np.asarray(img)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ObservationError(f"image {cam!r} must be HxWx3 uint8, got {img.dtype}{list(img.shape)}")


def check_action(action: Any, dim: int = UNIFIED_DIM, what: str = "action") -> np.ndarray:
    """Return ``action`` as float32[dim] or raise ``ActionError`` naming what is wrong."""
    arr = np.asarray(action)
    if arr.shape != (dim,):
        raise ActionError(f"{what} must have shape ({dim},), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ActionError(f"{what} must be real-valued, got dtype {arr.dtype}")
    arr = arr.astype(np.float32)
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise ActionError(
            f"{what} has non-finite values at slots {idx.tolist()[:10]}: {arr[idx][:10].tolist()}"
        )
    return arr


def check_actions(actions: Any, dim: int = UNIFIED_DIM, what: str = "action") -> np.ndarray:
    """``check_action`` for a slice ``[k, dim]`` at once: float32 ``[k, dim]`` or ``ActionError`` naming the row."""
    try:
        arr = np.asarray(actions)
    except ValueError as exc:  # ragged rows
        raise ActionError(f"a slice of {what}s must have shape (k, {dim}): {exc}") from None
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] != dim:
        raise ActionError(f"a slice of {what}s must have shape (k, {dim}) with k >= 1, got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ActionError(f"{what} must be real-valued, got dtype {arr.dtype}")
    arr = arr.astype(np.float32)
    finite = np.isfinite(arr)
    if not finite.all():
        row = int(np.flatnonzero(~finite.all(axis=1))[0])
        check_action(arr[row], dim, f"{what} {row} of the slice")  # raises with the slots and values
    return arr


def observation_space(cameras: Sequence[str], image_size: int) -> gym.spaces.Dict:
    """The gymnasium space of the contract for the given cameras (none when not rendering)."""
    img = gym.spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
    return gym.spaces.Dict(
        {
            "images": gym.spaces.Dict({c: img for c in cameras}),
            "state": gym.spaces.Box(-np.inf, np.inf, (UNIFIED_DIM,), np.float32),
            "state_mask": gym.spaces.MultiBinary(UNIFIED_DIM),
            "instruction": gym.spaces.Text(1000),
            "embodiment": gym.spaces.Text(100),
            "task": gym.spaces.Text(300),
        }
    )


def make_observation(
    images: Mapping[str, np.ndarray], state: np.ndarray, state_mask: np.ndarray, task: Any
) -> dict[str, Any]:
    """The contract's observation dict for ``task`` (a ``TaskInfo``)."""
    return {
        "images": dict(images),
        "state": state,
        "state_mask": state_mask.copy(),
        "instruction": task.instruction,
        "embodiment": task.embodiment,
        "task": task.key,
    }
