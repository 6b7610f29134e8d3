"""Normalisation statistics per embodiment, and deterministic weighted batches over several datasets.

A batch is drawn from ONE dataset (so every row has the same cameras),
picked with probability proportional to its weight; rows are uniform within
it. Batch ``s`` of rank ``r`` depends only on ``(seed, s, r)``: a resumed run
sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from h05.data.lerobot import DatasetError, LeRobotDataset
from h05.modeling.vision import IMAGE_MEAN, IMAGE_STD
from h05.normalization import MODES, DatasetMetadata, SideStats

NORM_MODES = MODES + ("binary",)


def merge_stats(parts: Sequence[tuple[dict[str, np.ndarray], int]]) -> dict[str, np.ndarray]:
    """Pool statistics of several datasets of one embodiment (min/max/q01/q99 as bounds, mean/std pooled)."""
    if len(parts) == 1:
        return dict(parts[0][0])
    n = np.array([c for _, c in parts], np.float64)
    w = n / n.sum()
    mean = sum(wi * s["mean"].astype(np.float64) for (s, _), wi in zip(parts, w))
    var = sum(wi * (s["std"].astype(np.float64) ** 2 + (s["mean"] - mean) ** 2) for (s, _), wi in zip(parts, w))
    return {"min": np.min([s["min"] for s, _ in parts], 0), "max": np.max([s["max"] for s, _ in parts], 0),
            "q01": np.min([s["q01"] for s, _ in parts], 0), "q99": np.max([s["q99"] for s, _ in parts], 0),
            "mean": mean.astype(np.float32), "std": np.sqrt(var).astype(np.float32)}


def side_stats(mode: str, stats: dict[str, np.ndarray], binary_slots: Sequence[int]) -> SideStats:
    """``binary`` = no scaling, listed slots thresholded at 0.5 on the way out (RoboCasa gripper/control mode)."""
    if mode not in NORM_MODES:
        raise DatasetError(f"normalisation mode {mode!r} unknown; known: {', '.join(NORM_MODES)}")
    return SideStats("none" if mode == "binary" else mode, {k: stats[k] for k in ("min", "max", "mean", "std", "q01", "q99")},
                     tuple(int(s) for s in binary_slots))


def build_metadata(datasets: Sequence[LeRobotDataset], state_mode: str, action_mode: str,
                   binary_slots: Sequence[int] = ()) -> DatasetMetadata:
    """Per-embodiment ``DatasetMetadata`` from the datasets' meta/stats.json (pooled across datasets)."""
    by_emb: dict[str, list[LeRobotDataset]] = {}
    for ds in datasets:
        by_emb.setdefault(ds.embodiment, []).append(ds)
    out = {}
    for emb, group in by_emb.items():
        sides = {}
        for side, mode in (("state", state_mode), ("action", action_mode)):
            stats = merge_stats([(d.stats[side], len(d)) for d in group])
            binary = binary_slots if side == "action" else ()
            mask = group[0].action_mask if side == "action" else group[0].state_mask
            sides[side] = side_stats(mode, stats, [s for s in binary if mask[s]])
        out[emb] = sides
    return DatasetMetadata(out)


@dataclass
class Batch:
    dataset: int
    rows: np.ndarray                 # [B] row indices into the dataset
    instructions: list[str]
    pixels: torch.Tensor             # [B, C, 3, S, S] normalised float
    state: torch.Tensor              # [B, 200] normalised, unmapped slots 0
    actions: torch.Tensor            # [B, k, 200] normalised, unmapped slots 0
    action_mask: torch.Tensor        # [B, 200] bool
    embodiments: list[str]


class MixtureSampler:
    """Deterministic weighted batches; images live on ``device`` as uint8 for fast assembly."""

    def __init__(self, datasets: Sequence[LeRobotDataset], weights: Sequence[float], metadata: DatasetMetadata,
                 chunk: int, batch_size: int, seed: int, device: torch.device, augment: dict | None = None,
                 rank: int = 0) -> None:
        if len(datasets) != len(weights) or not datasets:
            raise DatasetError("need one weight per dataset and at least one dataset")
        w = np.asarray(weights, np.float64)
        if np.any(w < 0) or w.sum() <= 0:
            raise DatasetError(f"dataset weights must be >= 0 with a positive sum, got {list(weights)}")
        self.datasets, self.p = list(datasets), w / w.sum()
        self.chunk, self.batch_size, self.seed, self.rank = chunk, batch_size, seed, rank
        self.device = device
        self.augment = dict(augment or {})
        self.meta = metadata
        self._images = []
        self._norm = []
        for ds in self.datasets:
            if ds.images is None:
                raise DatasetError(f"{ds.root}: images not loaded")
            self._images.append(torch.stack([torch.from_numpy(ds.images[c]) for c in ds.cameras], 1).to(device))
            st, ac = metadata.side(ds.embodiment, "state"), metadata.side(ds.embodiment, "action")
            state = st.normalize(ds.state) * ds.state_mask
            action = ac.normalize(ds.action) * ds.action_mask
            self._norm.append((torch.from_numpy(state.astype(np.float32)).to(device),
                               torch.from_numpy(action.astype(np.float32)).to(device),
                               torch.from_numpy(ds.episode_end).to(device)))
        self.mean = torch.tensor(IMAGE_MEAN, device=device)[None, None, :, None, None]
        self.std = torch.tensor(IMAGE_STD, device=device)[None, None, :, None, None]

    def rng(self, step: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, step, self.rank])

    def batch(self, step: int) -> Batch:
        rng = self.rng(step)
        d = int(rng.choice(len(self.datasets), p=self.p))
        ds = self.datasets[d]
        rows = rng.integers(0, len(ds), self.batch_size)
        state, action, ends = self._norm[d]
        r = torch.from_numpy(rows).to(self.device)
        idx = torch.minimum(r[:, None] + torch.arange(self.chunk, device=self.device)[None], ends[r][:, None] - 1)
        pix = self._images[d][r].permute(0, 1, 4, 2, 3).float() / 255.0  # [B, C, 3, S, S]
        if self.augment.get("enabled", False):
            pix = augment_images(pix, rng, self.augment)
        pix = (pix.clamp(0, 1) - self.mean) / self.std
        mask = torch.from_numpy(ds.action_mask).to(self.device)[None].expand(len(rows), -1)
        return Batch(d, rows, [ds.tasks[i] for i in ds.task_index[rows]], pix, state[r], action[idx], mask,
                     [ds.embodiment] * len(rows))


def augment_images(pix: torch.Tensor, rng: np.random.Generator, cfg: dict) -> torch.Tensor:
    """Random shift-crop (pad ``shift`` px, crop back) and brightness/contrast jitter, per image, seeded by ``rng``."""
    b, c, ch, s, _ = pix.shape
    x = pix.reshape(b * c, ch, s, s)
    shift = int(cfg.get("shift", 0))
    if shift > 0:
        x = F.pad(x, (shift,) * 4, mode="replicate")
        off = rng.integers(0, 2 * shift + 1, size=(b * c, 2))
        base = torch.arange(s, device=x.device)
        oy = torch.from_numpy(off[:, 0]).to(x.device)[:, None] + base[None]
        ox = torch.from_numpy(off[:, 1]).to(x.device)[:, None] + base[None]
        x = x[torch.arange(b * c, device=x.device)[:, None, None, None], torch.arange(ch, device=x.device)[None, :, None, None],
              oy[:, None, :, None], ox[:, None, None, :]]
    bright, contrast = float(cfg.get("brightness", 0.0)), float(cfg.get("contrast", 0.0))
    if bright > 0 or contrast > 0:
        db = torch.from_numpy(rng.uniform(-bright, bright, (b * c, 1, 1, 1)).astype(np.float32)).to(x.device)
        dc = torch.from_numpy(rng.uniform(1 - contrast, 1 + contrast, (b * c, 1, 1, 1)).astype(np.float32)).to(x.device)
        m = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - m) * dc + m + db
    return x.reshape(b, c, ch, s, s)
