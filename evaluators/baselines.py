"""Reference policies with no learned parameters: no-op and random.

Both are blind (they need no images), deterministic given the episode seed,
and emit full chunks so they exercise the same executor path as a model.
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

from evaluators.policy import EpisodeInfo, PolicyInput


class NoOpPolicy:
    """Repeats the env's hold-still action (zero motion, gripper open)."""

    needs_images = False

    def __init__(self, chunk_length: int = 16) -> None:
        self.name = "noop"
        self.chunk_length = int(chunk_length)
        self._noop: dict[str, np.ndarray] = {}

    def reset(self, episode: EpisodeInfo) -> None:
        self._noop[episode.episode_id] = np.asarray(episode.noop_action, dtype=np.float32)

    def infer(self, batch: Sequence[PolicyInput]) -> np.ndarray:
        return np.stack([np.repeat(self._noop[x.episode_id][None], self.chunk_length, 0) for x in batch])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "chunk_length": self.chunk_length}


class RandomPolicy:
    """Uniform actions in [-scale, scale] on the embodiment's action slots; seeded per episode."""

    needs_images = False

    def __init__(self, chunk_length: int = 16, scale: float = 1.0) -> None:
        self.name = "random"
        self.chunk_length = int(chunk_length)
        self.scale = float(scale)
        self._rng: dict[str, np.random.Generator] = {}
        self._mask: dict[str, np.ndarray] = {}

    def reset(self, episode: EpisodeInfo) -> None:
        digest = hashlib.sha256(f"{episode.episode_id}:{episode.seed}".encode()).digest()
        self._rng[episode.episode_id] = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        self._mask[episode.episode_id] = np.asarray(episode.action_mask, dtype=bool)

    def infer(self, batch: Sequence[PolicyInput]) -> np.ndarray:
        out = np.zeros((len(batch), self.chunk_length, 200), dtype=np.float32)
        for i, x in enumerate(batch):
            mask = self._mask[x.episode_id]
            draw = self._rng[x.episode_id].uniform(-self.scale, self.scale, (self.chunk_length, int(mask.sum())))
            out[i][:, mask] = draw
        return out

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "chunk_length": self.chunk_length, "scale": self.scale}
