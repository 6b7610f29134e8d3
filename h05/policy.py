"""``H05Policy``: a Being-H0.5 checkpoint behind the evaluator's policy protocol."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from envs.unified_space import UNIFIED_DIM
from evaluators.policy import EpisodeInfo, PolicyInput
from h05.checkpoint import load_checkpoint
from h05.modeling.being_h05 import Observation
from h05.modeling.vision import IMAGE_MEAN, IMAGE_STD
from h05.normalization import DatasetMetadata, MetadataError, SideStats
from h05.shipped import resolve_checkpoint
from h05.tokens import PromptBuilder, load_tokenizer


AUTO_BUCKETS = (1, 2, 4, 8, 16, 32)  # batch_buckets="auto" with CUDA graphs


class PolicyInputError(ValueError):
    """A query the policy cannot answer (unknown episode, camera mismatch, prefix too long)."""


def preprocess_images(images: Sequence[np.ndarray], size: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """HxWx3 uint8 frames -> [C, 3, size, size] float on ``device``, resized (bilinear, antialiased) and normalised.

    The frames travel to ``device`` as uint8 and are converted there, so a GPU policy leaves the host's
    cores to the env workers. Frames of one shape are processed as one batch (per-frame results are the same).
    """
    frames = []
    for img in images:
        arr = np.asarray(img)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise PolicyInputError(f"image must be HxWx3 uint8, got {arr.dtype}{list(arr.shape)}")
        frames.append(torch.from_numpy(np.ascontiguousarray(arr)))
    if len({tuple(f.shape) for f in frames}) > 1:  # mixed sizes: one at a time
        return torch.cat([preprocess_images([f.numpy()], size, device) for f in frames])
    x = torch.stack(frames).to(device).permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(IMAGE_MEAN, device=x.device)[None, :, None, None]
    std = torch.tensor(IMAGE_STD, device=x.device)[None, :, None, None]
    return (x.clamp(0, 1) - mean) / std


def _hash_files(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()[:16]


class H05Policy:
    """Batched Being-H0.5 inference to unified ``[B, H, 200]`` chunks (UAC prefixes honoured)."""

    needs_images = True

    def __init__(self, checkpoint: str, dataset: str | None = None, device: str = "cpu",
                 dtype: str = "bfloat16", num_inference_timesteps: int | None = None,
                 cameras: Sequence[str] | None = None, use_cache: bool = True, seed: int = 0,
                 chunk_length: int | None = None, cuda_graphs: bool = False,
                 host_threads: int | None = None, batch_invariant: int | None = None,
                 prompt_width: int = 64, batch_buckets: Sequence[int] | str | None = "auto") -> None:
        self.name = "h05"
        self.checkpoint = resolve_checkpoint(checkpoint)
        self.model, self.config, metadata = load_checkpoint(self.checkpoint, dtype=dtype, device=device)
        self.device = torch.device(device)
        self.dtype = dtype
        if host_threads is None and self.device.type == "cuda":
            # The model runs on the GPU; the host only gathers inputs. Torch's CPU thread pool would
            # otherwise spin between queries (measured on the GPU node: ~5 cores busy at one query per
            # ~30 ms) and take cores from the env workers. host_threads=N keeps N.
            host_threads = 1
        if host_threads is not None:
            torch.set_num_threads(int(host_threads))
        self.chunk_length = self.config.action_chunk_length
        if chunk_length is not None and int(chunk_length) != self.chunk_length:
            raise ValueError(f"chunk_length={chunk_length} but checkpoint {self.checkpoint} predicts "
                             f"{self.chunk_length}-step chunks")
        self.steps = int(num_inference_timesteps or self.config.num_inference_timesteps)
        self.cameras = list(cameras) if cameras else None
        self.use_cache = use_cache
        self.seed = int(seed)
        # batch_invariant=B: every forward has B rows (padded with copies of the last) and instructions padded
        # to prompt_width tokens, so a row's chunk does not depend on what else is in its batch (GPU and CPU
        # kernels otherwise change with the batch shape): a parallel run then equals a sequential one bit for bit.
        if batch_invariant is not None and int(batch_invariant) < 1:
            raise ValueError(f"batch_invariant must be a batch size >= 1 or null, got {batch_invariant!r}")
        self.batch_invariant = int(batch_invariant) if batch_invariant else None
        self.prompt_width = int(prompt_width)
        # One captured CUDA graph per (batch, prompt width, cameras, steps): see h05.modeling.graphs.
        self.cuda_graphs = bool(cuda_graphs) and self.device.type == "cuda" and use_cache
        self._graphs: dict = {}
        self.batch_buckets = self._buckets(batch_buckets)
        if dataset is None and len(metadata) > 1:
            raise MetadataError(f"checkpoint has statistics of several datasets {sorted(metadata)}; pass dataset=")
        if dataset is not None and dataset not in metadata:
            raise MetadataError(f"checkpoint has no {dataset}_metadata.json; datasets: {sorted(metadata)}")
        self.dataset = dataset or (next(iter(metadata)) if metadata else None)
        self.metadata: DatasetMetadata | None = metadata.get(self.dataset) if self.dataset else None
        tok_dir = self.checkpoint if (self.checkpoint / "tokenizer.json").is_file() else None
        self.prompts = PromptBuilder(load_tokenizer(tok_dir), self.config.image_tokens_per_camera, self.chunk_length)
        self._episodes: dict[str, EpisodeInfo] = {}
        self._hash = _hash_files(list(self.checkpoint.glob("*.safetensors")) + [self.checkpoint / "config.json"])

    def _buckets(self, batch_buckets: Sequence[int] | str | None) -> list[int] | None:
        """Batch sizes forwards are padded up to (``batch_buckets``), with instructions padded to ``prompt_width``.

        ``auto``: 1, 2, 4, ..., 32 with CUDA graphs, else none. Without buckets every new (batch size, longest
        instruction) pair is a new shape, and with CUDA graphs a new capture (~0.8 s for the ``full`` preset):
        measured on the GPU node, captures kept the coordinator busy and 14 env workers ran 1.9x one.
        """
        if isinstance(batch_buckets, str):
            valid = batch_buckets == "auto"
        else:
            valid = batch_buckets is None or (len(batch_buckets) > 0 and all(isinstance(b, int) and b >= 1
                                                                              for b in batch_buckets))
        if not valid:
            raise ValueError(f"batch_buckets must be 'auto', null or a list of batch sizes >= 1, got {batch_buckets!r}")
        if self.batch_invariant is not None or batch_buckets is None:
            return None  # batch_invariant pads every forward to its own fixed shape
        if batch_buckets == "auto":
            return list(AUTO_BUCKETS) if self.cuda_graphs else None
        return sorted(set(batch_buckets))

    def _stats(self, embodiment: str, side: str) -> SideStats:
        return self.metadata.side(embodiment, side) if self.metadata else SideStats()

    def reset(self, episode: EpisodeInfo) -> None:
        if self.metadata is not None:
            self._stats(episode.embodiment, "action")  # fail now, naming the embodiment
        self._episodes[episode.episode_id] = episode

    def _cameras(self, obs: dict) -> list[str]:
        names = self.cameras or list(obs["images"])
        missing = [c for c in names if c not in obs["images"]]
        if missing:
            raise PolicyInputError(f"observation lacks cameras {missing}; has {list(obs['images'])}")
        return names

    @torch.no_grad()
    def infer(self, batch: Sequence[PolicyInput]) -> np.ndarray:
        if not batch:
            return np.zeros((0, self.chunk_length, UNIFIED_DIM), dtype=np.float32)
        groups: dict[int, list[int]] = {}  # one forward per camera count: embodiments differ in cameras
        for i, row in enumerate(batch):
            groups.setdefault(len(self._cameras(row.observation)), []).append(i)
        if len(groups) == 1:
            return self._infer_padded(list(batch))
        out = np.zeros((len(batch), self.chunk_length, UNIFIED_DIM), dtype=np.float32)
        for rows in groups.values():
            out[rows] = self._infer_padded([batch[i] for i in rows])
        return out

    def _infer_padded(self, batch: list[PolicyInput]) -> np.ndarray:
        """Forwards of the fixed shapes ``batch_invariant`` or ``batch_buckets`` ask for (rows padded with the last)."""
        if self.batch_invariant is None and self.batch_buckets is None:
            return self._infer(batch)
        largest = self.batch_invariant or self.batch_buckets[-1]
        out = []
        for start in range(0, len(batch), largest):
            part = batch[start:start + largest]
            rows = self.batch_invariant or next(b for b in self.batch_buckets if b >= len(part))
            out.append(self._infer(part + [part[-1]] * (rows - len(part)))[: len(part)])
        return np.concatenate(out)

    def _infer(self, batch: Sequence[PolicyInput]) -> np.ndarray:
        episodes = []
        for row in batch:
            if row.episode_id not in self._episodes:
                raise PolicyInputError(f"episode {row.episode_id!r} was not reset before infer")
            episodes.append(self._episodes[row.episode_id])
        cams = [self._cameras(row.observation) for row in batch]
        size = self.config.force_image_size
        pixels = preprocess_images([r.observation["images"][c] for r, cs in zip(batch, cams) for c in cs], size,
                                   self.device).view(len(batch), len(cams[0]), 3, size, size)
        states = np.stack([
            self._stats(ep.embodiment, "state").normalize(np.asarray(r.observation["state"], np.float32))
            * np.asarray(r.observation["state_mask"], bool)
            for r, ep in zip(batch, episodes)])
        fixed_width = self.batch_invariant is not None or self.batch_buckets is not None
        prompt = self.prompts.build([ep.instruction for ep in episodes], len(cams[0]),
                                    self.prompt_width if fixed_width else None,
                                    grow=self.batch_invariant is None).to(self.device)
        model_dtype = self.model.language_model.model.embed_tokens.weight.dtype
        obs = Observation(prompt, pixels.to(self.device, model_dtype), torch.from_numpy(states).to(self.device))
        noise = torch.stack([
            torch.randn(self.chunk_length, UNIFIED_DIM,
                        generator=torch.Generator().manual_seed(hash((self.seed, ep.seed, r.step)) & (2**63 - 1)))
            for r, ep in zip(batch, episodes)])
        prefix, delays = self._prefixes(batch, episodes)
        sampled = self._sample(obs, noise.to(self.device), prefix, delays)
        if sampled.is_cuda:  # wait asleep: a spinning sync would take a core from the env workers for the whole forward
            done = torch.cuda.Event(blocking=True)
            done.record()
            done.synchronize()
        chunks = sampled.cpu().numpy()
        out = np.zeros_like(chunks)
        for i, (r, ep) in enumerate(zip(batch, episodes)):
            out[i] = self._stats(ep.embodiment, "action").denormalize(chunks[i]) * np.asarray(ep.action_mask, bool)
            if r.prefix is not None and len(r.prefix):
                out[i, : len(r.prefix)] = np.asarray(r.prefix, np.float32)  # committed actions, verbatim
        return out.astype(np.float32)

    def _sample(self, obs: Observation, noise: torch.Tensor, prefix: torch.Tensor | None,
                delays: torch.Tensor | None) -> torch.Tensor:
        if self.cuda_graphs:
            from h05.modeling.graphs import GraphedSampler

            key = GraphedSampler.key_of(obs.prompt, obs.pixel_values, self.steps)
            sampler = self._graphs.get(key)
            if sampler is None or not sampler.matches(obs.prompt, obs.pixel_values, self.steps):
                sampler = self._graphs[key] = GraphedSampler(self.model, obs.prompt, obs.pixel_values.shape[1],
                                                             self.steps)
            return sampler(obs, noise, prefix, delays)
        return self.model.sample(obs, noise=noise, steps=self.steps, prefix=prefix, delays=delays,
                                 use_cache=self.use_cache)

    def _prefixes(self, batch: Sequence[PolicyInput], episodes: Sequence[EpisodeInfo]
                  ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if all(r.prefix is None or len(r.prefix) == 0 for r in batch):
            return None, None
        prefix = np.zeros((len(batch), self.chunk_length, UNIFIED_DIM), np.float32)
        delays = []
        for i, (r, ep) in enumerate(zip(batch, episodes)):
            p = np.zeros((0, UNIFIED_DIM), np.float32) if r.prefix is None else np.asarray(r.prefix, np.float32)
            if p.ndim != 2 or p.shape[1] != UNIFIED_DIM or len(p) >= self.chunk_length:
                raise PolicyInputError(f"episode {r.episode_id!r}: prefix has shape {p.shape}; expected "
                                       f"[d, {UNIFIED_DIM}] with d < {self.chunk_length}")
            prefix[i, : len(p)] = self._stats(ep.embodiment, "action").normalize(p) if len(p) else p
            delays.append(len(p))
        return torch.from_numpy(prefix).to(self.device), torch.tensor(delays, device=self.device)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "checkpoint": str(self.checkpoint), "weights_sha256": self._hash,
                "dataset": self.dataset, "dtype": self.dtype, "chunk_length": self.chunk_length,
                "num_inference_timesteps": self.steps, "use_cache": self.use_cache, "seed": self.seed,
                **({"batch_invariant": self.batch_invariant} if self.batch_invariant else {}),
                **({"batch_buckets": self.batch_buckets} if self.batch_buckets else {}),
                **({"prompt_width": self.prompt_width} if self.batch_invariant or self.batch_buckets else {})}
