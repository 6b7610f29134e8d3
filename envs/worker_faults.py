"""Fault injectors for the fault-injection suite: wrappers that break an env on purpose.

Each wraps a real env (inside an env worker, named in the worker's ``make``
request as ``{"entry": "envs.worker_faults:CrashAfter", "kwargs": {...}}``)
and fires after ``steps`` steps of the episode, only in episodes whose
``init_index`` equals ``init_index`` (``None``: every episode), so a test can
fault one episode of a plan and check that the others survive. With
``once_marker`` (a file path) it fires only in the first episode, across all
worker processes, that creates that file: a fault that a retry does not meet.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import gymnasium as gym
import numpy as np


class _FaultAfter(gym.Wrapper):
    def __init__(self, env: gym.Env, steps: int = 1, init_index: int | None = None, once_marker: str | None = None) -> None:
        super().__init__(env)
        if int(steps) < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        self.after = int(steps)
        self.target = None if init_index is None else int(init_index)
        self.once_marker = once_marker
        self._armed = False
        self._count = 0

    def reset(self, **kwargs: Any):
        index = int((kwargs.get("options") or {}).get("init_index", 0))
        self._armed = self.target is None or index == self.target
        self._count = 0
        return self.env.reset(**kwargs)

    def step(self, action: Any):
        if self._armed and self._count >= self.after and self._claim():
            self.fire()
        self._count += 1
        return self.env.step(action)

    def _claim(self) -> bool:
        """True if the fault may fire: always without a marker, else only for whoever creates the marker file."""
        if self.once_marker is None:
            return True
        try:
            os.close(os.open(self.once_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            self._armed = False
            return False
        return True

    def fire(self) -> None:
        raise NotImplementedError


class CrashAfter(_FaultAfter):
    """SIGKILL the worker process itself (a segfaulting simulator, the OOM killer)."""

    def fire(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


class HangAfter(_FaultAfter):
    """Stop answering: sleep forever inside ``step`` (a deadlocked renderer)."""

    def fire(self) -> None:
        while True:
            time.sleep(3600)


class NanStateAfter(_FaultAfter):
    """Poison the MuJoCo velocities with NaN before the step: the simulator goes unstable."""

    def fire(self) -> None:
        self.env.unwrapped.sim.data.qvel[:] = np.nan
        self._armed = False
