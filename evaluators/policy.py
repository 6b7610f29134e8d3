"""The policy protocol every evaluated model implements.

A policy sees batches of observations (one per live episode) and returns
action chunks ``[B, H, 200]`` in the unified space. ``reset`` is called once
per episode before its first query. ``PolicyInput.prefix`` carries the
committed actions ``[d, 200]`` that will run before the new chunk takes
effect (asynchronous execution; ``None`` in synchronous evaluation): a policy
that supports prefix conditioning (UAC) returns chunks whose first ``d`` rows
equal it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class EpisodeInfo:
    """What a policy may know about an episode before it starts."""

    episode_id: str
    benchmark: str
    task: str
    instruction: str
    embodiment: str
    seed: int
    action_mask: np.ndarray = field(repr=False, compare=False)
    noop_action: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class PolicyInput:
    """One row of a batched query."""

    episode_id: str
    observation: Mapping[str, Any]
    step: int
    prefix: np.ndarray | None = None  # committed actions [d, 200]


@runtime_checkable
class Policy(Protocol):
    """Anything that maps observations to unified action chunks."""

    name: str
    chunk_length: int
    needs_images: bool

    def reset(self, episode: EpisodeInfo) -> None: ...

    def infer(self, batch: Sequence[PolicyInput]) -> np.ndarray:
        """Return float32 ``[len(batch), chunk_length, 200]``."""
        ...

    def describe(self) -> dict[str, Any]:
        """Identity of the policy for the plan (name, checkpoint hash, settings)."""
        ...


class PolicyOutputError(ValueError):
    """A policy returned chunks of the wrong shape, dtype, or with non-finite values."""


def check_chunks(chunks: Any, batch_size: int, chunk_length: int, policy_name: str) -> np.ndarray:
    """Validate a policy's output; errors name the policy and what is wrong."""
    arr = np.asarray(chunks)
    expected = (batch_size, chunk_length, 200)
    if arr.shape != expected:
        raise PolicyOutputError(f"policy {policy_name!r} returned shape {arr.shape}, expected {expected}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise PolicyOutputError(f"policy {policy_name!r} returned dtype {arr.dtype}, expected a float type")
    bad = ~np.isfinite(arr)
    if bad.any():
        b, h, s = np.argwhere(bad)[0]
        raise PolicyOutputError(
            f"policy {policy_name!r} returned non-finite actions ({int(bad.sum())} values; "
            f"first at batch {b}, step {h}, slot {s}: {arr[b, h, s]})"
        )
    return arr.astype(np.float32, copy=False)
