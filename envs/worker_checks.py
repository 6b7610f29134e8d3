"""Checks applied to every env the evaluator drives, in a worker or in process.

``CheckedEnv`` validates each observation against the contract
(``envs.observation.check_observation``) and watches MuJoCo's instability
warnings: when MuJoCo meets NaN/Inf/huge values in positions, velocities or
accelerations it prints a warning and silently resets the simulation, which
would otherwise let an episode go on from a reset state. Either case raises
``SimulationUnstable`` (an env error, never a policy failure).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from envs.observation import ObservationError, check_observation

# MuJoCo warning indices (mujoco.mjtWarning) that mean the simulation blew up.
UNSTABLE_WARNINGS = {"mjWARN_BADQPOS": 3, "mjWARN_BADQVEL": 4, "mjWARN_BADQACC": 5}


class SimulationUnstable(ObservationError):
    """The simulator produced non-finite state or reset itself after an instability."""


def _mujoco_data(env: gym.Env) -> Any | None:
    sim = getattr(env.unwrapped, "sim", None)
    if sim is None:
        return None
    data = getattr(sim, "data", None)
    return getattr(data, "_data", data)  # robosuite wraps mujoco.MjData


def _warning_counts(data: Any) -> dict[str, int]:
    if data is None or not hasattr(data, "warning"):
        return {}
    return {name: int(data.warning[i].number) for name, i in UNSTABLE_WARNINGS.items()}


class CheckedEnv(gym.Wrapper):
    """Raise ``SimulationUnstable`` / ``ObservationError`` instead of passing bad state on."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._warnings: dict[str, int] = {}
        self._steps = 0

    def _check(self, obs: dict[str, Any], when: str) -> None:
        counts = _warning_counts(_mujoco_data(self.env))
        grew = [name for name, n in counts.items() if n > self._warnings.get(name, 0)]
        self._warnings = counts
        if grew:
            raise SimulationUnstable(
                f"simulation unstable {when}: MuJoCo reported {', '.join(grew)} (NaN/Inf/huge values) "
                "and reset its state"
            )
        state = np.asarray(obs.get("state"))
        if state.dtype.kind == "f" and not np.all(np.isfinite(state)):
            bad = np.flatnonzero(~np.isfinite(state)).tolist()[:10]
            raise SimulationUnstable(f"simulation unstable {when}: non-finite state at slots {bad}")
        check_observation(obs)

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._steps = 0
        self._warnings = {}
        self._check(obs, "after reset")
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        self._check(obs, f"at step {self._steps}")
        return obs, reward, terminated, truncated, info

    def check_success(self) -> bool:
        return bool(self.env.unwrapped.check_success())

    def noop_action(self) -> np.ndarray:
        return self.env.unwrapped.noop_action()
