"""Inference latency models for asynchronous execution, and latency -> delay steps.

A latency model draws the wall-clock seconds one chunk request takes. The
asynchronous executor turns it into a delay in control steps,
``d = ceil(L / dt)``. Draws come from a generator seeded by the episode seed,
so the same episode always sees the same delays. ``MeasuredLatency`` times
the real ``policy.infer`` call instead (live).

Latency specs are plain data (``{"kind": "lognormal", "median_s": 0.2,
"sigma": 0.25}``) so they can sit in a plan row; ``LATENCY_PROFILES`` holds a
default per embodiment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

# Default per-embodiment inference latency (seconds per chunk request), as data.
# Median 0.215 s is the released model's measured chunk time on one H100 at
# batch 1 (FACTS.md section 3); the spread models serving jitter.
LATENCY_PROFILES: dict[str, dict[str, Any]] = {
    "default": {"kind": "lognormal", "median_s": 0.215, "sigma": 0.25},
}


class LatencyModel(Protocol):
    """Draws one request's latency in seconds."""

    measured: bool

    def sample(self, rng: np.random.Generator) -> float: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class FixedLatency:
    seconds: float
    measured: bool = False

    def sample(self, rng: np.random.Generator) -> float:
        return self.seconds

    def describe(self) -> dict[str, Any]:
        return {"kind": "fixed", "seconds": self.seconds}


@dataclass(frozen=True)
class UniformLatency:
    low_s: float
    high_s: float
    measured: bool = False

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low_s, self.high_s))

    def describe(self) -> dict[str, Any]:
        return {"kind": "uniform", "low_s": self.low_s, "high_s": self.high_s}


@dataclass(frozen=True)
class LognormalLatency:
    median_s: float
    sigma: float
    measured: bool = False

    def sample(self, rng: np.random.Generator) -> float:
        return float(self.median_s * math.exp(self.sigma * rng.standard_normal()))

    def describe(self) -> dict[str, Any]:
        return {"kind": "lognormal", "median_s": self.median_s, "sigma": self.sigma}


@dataclass(frozen=True)
class EmpiricalLatency:
    """Resamples measured latencies (e.g. a serving log) uniformly."""

    samples_s: tuple[float, ...]
    measured: bool = False

    def sample(self, rng: np.random.Generator) -> float:
        return float(self.samples_s[int(rng.integers(len(self.samples_s)))])

    def describe(self) -> dict[str, Any]:
        return {"kind": "empirical", "samples_s": list(self.samples_s)}


@dataclass(frozen=True)
class MeasuredLatency:
    """The real duration of each ``policy.infer`` call, times ``scale``."""

    scale: float = 1.0
    measured: bool = True

    def sample(self, rng: np.random.Generator) -> float:  # pragma: no cover - executors time the call instead
        raise RuntimeError("MeasuredLatency is timed live by the executor, not sampled")

    def describe(self) -> dict[str, Any]:
        return {"kind": "measured", "scale": self.scale}


def _positive(spec: Mapping[str, Any], key: str, allow_zero: bool = False) -> float:
    if key not in spec:
        raise ValueError(f"latency spec {dict(spec)!r} is missing {key!r}")
    value = float(spec[key])
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"latency {key}={spec[key]!r} must be a {'non-negative' if allow_zero else 'positive'} number")
    return value


def make_latency(spec: Mapping[str, Any] | str) -> LatencyModel:
    """Build a latency model from a spec dict, or a profile name from ``LATENCY_PROFILES``."""
    if isinstance(spec, str):
        if spec not in LATENCY_PROFILES:
            raise ValueError(f"unknown latency profile {spec!r}; known: {', '.join(LATENCY_PROFILES)}")
        spec = LATENCY_PROFILES[spec]
    kind = spec.get("kind")
    if kind == "fixed":
        return FixedLatency(_positive(spec, "seconds", allow_zero=True))
    if kind == "uniform":
        low, high = _positive(spec, "low_s", True), _positive(spec, "high_s", True)
        if high < low:
            raise ValueError(f"uniform latency needs low_s <= high_s, got {low} > {high}")
        return UniformLatency(low, high)
    if kind == "lognormal":
        return LognormalLatency(_positive(spec, "median_s"), _positive(spec, "sigma", True))
    if kind == "empirical":
        samples: Sequence[float] = spec.get("samples_s") or ()
        if not samples:
            raise ValueError("empirical latency needs a non-empty samples_s list")
        for s in samples:
            _positive({"samples_s": s}, "samples_s", True)
        return EmpiricalLatency(tuple(float(s) for s in samples))
    if kind == "measured":
        return MeasuredLatency(_positive({"scale": spec.get("scale", 1.0)}, "scale"))
    raise ValueError(f"unknown latency kind {kind!r}; known: fixed, uniform, lognormal, empirical, measured")


def delay_steps(latency_s: float, control_dt: float) -> int:
    """``ceil(L / dt)``, robust to float error (0.3 / 0.1 is 3, not 4)."""
    if control_dt <= 0:
        raise ValueError(f"control period must be positive, got {control_dt}")
    if latency_s < 0 or not math.isfinite(latency_s):
        raise ValueError(f"latency must be a non-negative number of seconds, got {latency_s}")
    return int(math.ceil(latency_s / control_dt - 1e-9))
