"""Run a slice of committed actions in one call: the one implementation for in-process envs and env workers.

``run_actions(env, actions)`` steps ``env`` with each action in order and stops
right after the first step that terminates or truncates, exactly where a
per-step loop would. Only the observation it returns is rendered: the steps
before the slice's last one run with images off (``set_step_images``), since
nobody looks at them (the sync protocol queries the policy once per slice).
When a step ends the episode early its observation carries no images either
(the episode is over; the record keeps only the state digest).

An env worker runs this same function on its env stack (``envs.worker`` op
``run_actions``); ``RemoteEnv.run_actions`` is the client side, so
``step_actions`` dispatches to whichever the env offers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import gymnasium as gym
import numpy as np


@dataclass
class SliceOutcome:
    """What running a slice produced: per-step rewards, the last step's flags/info and observation."""

    obs: dict[str, Any]
    rewards: list[float]
    terminated: bool
    truncated: bool
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def executed(self) -> int:
        return len(self.rewards)


def set_step_images(env: gym.Env, on: bool) -> bool:
    """Ask the base env to render (``on``) or skip images in the next steps' observations.

    Returns whether the env has the switch (blind envs and envs without it ignore the request).
    """
    switch = getattr(env.unwrapped, "set_step_images", None)
    if switch is None:
        return False
    switch(bool(on))
    return True


def run_actions(env: gym.Env, actions: Sequence[Any] | np.ndarray) -> SliceOutcome:
    """Step ``env`` with ``actions`` in order; stop after a terminating or truncating step.

    Intermediate steps render no images; the observation after the last action
    of the slice is rendered as a per-step loop would render it. The env's image
    switch is back on when this returns (also after an exception).
    """
    n = len(actions)
    if n < 1:
        raise ValueError("run_actions needs at least one action, got an empty slice")
    rewards: list[float] = []
    obs: dict[str, Any] = {}
    terminated = truncated = False
    info: dict[str, Any] = {}
    try:
        for i in range(n):
            set_step_images(env, i == n - 1)
            obs, reward, terminated, truncated, info = env.step(actions[i])
            rewards.append(float(reward))
            if terminated or truncated:
                break
    finally:
        set_step_images(env, True)
    return SliceOutcome(obs=obs, rewards=rewards, terminated=bool(terminated), truncated=bool(truncated), info=dict(info))


def step_actions(env: gym.Env, actions: Sequence[Any] | np.ndarray) -> SliceOutcome:
    """``run_actions`` on ``env``: in one worker request where the env lives in an env worker."""
    remote = getattr(env, "run_actions", None)
    if callable(remote):
        return remote(actions)
    return run_actions(env, actions)
