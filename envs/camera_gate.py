"""Render robosuite camera observables only when asked (LIBERO, RoboCasa).

robosuite samples each camera observable on a timer inside ``step`` (at a
particular physics substep of the control step). Turning the observable off
would stop that timer and move the substep at which the next image is taken;
``CameraGate`` instead swaps the observable's sensor for one that renders only
while the gate is open and otherwise returns a 1x1 placeholder. The timers run
as before, so a frame rendered through an open gate is the frame per-step
rendering would have produced (rendering reads the sim state only).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

_PLACEHOLDER = np.zeros((1, 1, 3), np.uint8)


class CameraGate:
    """An open/closed switch shared by the gated camera sensors of one robosuite env."""

    def __init__(self) -> None:
        self.open = True
        self.rendered = 0  # frames rendered through the gate (for tests and benchmarks)
        self.skipped = 0

    def install(self, robosuite_env: Any, observable_names: Iterable[str]) -> None:
        """Gate the named observables' sensors (observables are rebuilt at each hard reset: call after it)."""
        observables = robosuite_env._observables
        for name in observable_names:
            observable = observables.get(name)
            if observable is None:
                raise KeyError(f"robosuite env has no observable {name!r}; known: {sorted(observables)}")
            if getattr(observable._sensor, "__camera_gate__", None) is self:
                continue
            observable._sensor = self._gated(observable._sensor)

    def _gated(self, sensor: Callable[[dict], Any]) -> Callable[[dict], Any]:
        def gated(obs_cache: dict) -> Any:
            if self.open:
                self.rendered += 1
                return sensor(obs_cache)
            self.skipped += 1
            return _PLACEHOLDER

        gated.__modality__ = sensor.__modality__  # type: ignore[attr-defined]
        gated.__camera_gate__ = self  # type: ignore[attr-defined]
        return gated
