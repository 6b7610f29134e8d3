"""Per-embodiment statistics of ``<dataset>_metadata.json`` and (de)normalisation with them.

File layout (this project's; the released files are not readable here)::

    {"dataset": "libero",
     "embodiments": {"libero_franka": {
         "state":  {"mode": "none", "stats": {...}},
         "action": {"mode": "q99", "binary_slots": [18],
                    "stats": {"q01": [200], "q99": [200], "mean": [200], "std": [200],
                              "min": [200], "max": [200]}}}}}

Modes (released): ``none``, ``q99`` and ``min_max`` (to [-1, 1], clipped),
``mean_std``; ``binary_slots`` are thresholded at 0.5 when de-normalising
(RoboCasa gripper and control mode).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from envs.unified_space import UNIFIED_DIM

MODES = ("none", "q99", "min_max", "mean_std")
METADATA_SUFFIX = "_metadata.json"


class MetadataError(ValueError):
    """A metadata file or entry is malformed or names an unknown embodiment."""


@dataclass
class SideStats:
    """Normalisation of one side (state or action) of one embodiment."""

    mode: str = "none"
    stats: dict[str, np.ndarray] = field(default_factory=dict)
    binary_slots: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise MetadataError(f"normalisation mode {self.mode!r} unknown; known: {', '.join(MODES)}")
        need = {"q99": ("q01", "q99"), "min_max": ("min", "max"), "mean_std": ("mean", "std")}.get(self.mode, ())
        for key in need:
            if key not in self.stats:
                raise MetadataError(f"mode {self.mode!r} needs stats {key!r}; have {sorted(self.stats)}")
        self.stats = {k: np.asarray(v, dtype=np.float32) for k, v in self.stats.items()}
        for k, v in self.stats.items():
            if v.shape != (UNIFIED_DIM,):
                raise MetadataError(f"stats {k!r} has shape {v.shape}, expected ({UNIFIED_DIM},)")

    def _range(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = {"q99": ("q01", "q99"), "min_max": ("min", "max")}[self.mode]
        return self.stats[lo], self.stats[hi]

    def normalize(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.mode == "none":
            return x
        if self.mode == "mean_std":
            return (x - self.stats["mean"]) / np.maximum(self.stats["std"], 1e-6)
        lo, hi = self._range()
        return np.clip(2 * (x - lo) / np.maximum(hi - lo, 1e-6) - 1, -1, 1)

    def denormalize(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.mode == "mean_std":
            x = x * np.maximum(self.stats["std"], 1e-6) + self.stats["mean"]
        elif self.mode != "none":
            lo, hi = self._range()
            x = (np.clip(x, -1, 1) + 1) / 2 * (hi - lo) + lo
        if self.binary_slots:
            x = x.copy()
            idx = list(self.binary_slots)
            x[..., idx] = (x[..., idx] > 0.5).astype(np.float32)
        return x

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "binary_slots": list(self.binary_slots),
                "stats": {k: v.tolist() for k, v in self.stats.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SideStats":
        return cls(d.get("mode", "none"), dict(d.get("stats", {})), tuple(d.get("binary_slots", ())))


@dataclass
class DatasetMetadata:
    """Statistics of one dataset: embodiment -> {"state": SideStats, "action": SideStats}."""

    embodiments: dict[str, dict[str, SideStats]]

    def side(self, embodiment: str, side: str) -> SideStats:
        if embodiment not in self.embodiments:
            raise MetadataError(f"no statistics for embodiment {embodiment!r}; have {sorted(self.embodiments)}")
        return self.embodiments[embodiment].get(side, SideStats())

    def save(self, folder: Path, dataset: str) -> Path:
        path = Path(folder) / f"{dataset}{METADATA_SUFFIX}"
        body = {"dataset": dataset, "embodiments": {
            e: {s: st.to_dict() for s, st in sides.items()} for e, sides in self.embodiments.items()}}
        path.write_text(json.dumps(body) + "\n")
        return path

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DatasetMetadata":
        if "embodiments" not in d:
            raise MetadataError(f"metadata has no 'embodiments' key (keys: {sorted(d)})")
        return cls({e: {s: SideStats.from_dict(v) for s, v in sides.items()} for e, sides in d["embodiments"].items()})


def load_metadata(folder: str | Path) -> dict[str, DatasetMetadata]:
    """All ``<dataset>_metadata.json`` files of a checkpoint folder, by dataset name."""
    out = {}
    for path in sorted(Path(folder).glob(f"*{METADATA_SUFFIX}")):
        try:
            out[path.name[: -len(METADATA_SUFFIX)]] = DatasetMetadata.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, MetadataError) as exc:
            raise MetadataError(f"{path}: {exc}") from None
    return out
