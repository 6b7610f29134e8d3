"""``GraphedSampler``: one CUDA graph for a whole ``BeingH05.sample`` call (prefix, prefill, Euler steps).

Eager sampling is launch-bound at batch 1 (thousands of small kernels: the
vision tower, the 28-layer prefill, then 4 action-expert passes). Here the
whole call is captured once for a fixed shape (batch, prompt layout, cameras,
Euler steps) and replayed: inputs are copied into static buffers, the graph
runs, the chunk is copied out. The captured code is ``BeingH05.sample``
itself (KV cache on, action-expert-only Euler steps writing into fixed KV
tail slots), so the graph computes exactly what the eager call computes.

A UAC prefix is always part of the graph: delay 0 rows (the default) leave the
chunk unchanged. Not capturable (data-dependent host syncs): Manifold-
Preserving Gating and Mixture-of-Flow routing; those configs are refused.
"""

from __future__ import annotations

import torch

from envs.unified_space import UNIFIED_DIM
from h05.modeling.being_h05 import BeingH05, Observation, prompt_layout
from h05.tokens import PromptBatch


class GraphUnsupported(RuntimeError):
    """The model or the inputs cannot be replayed from a CUDA graph."""


class GraphedSampler:
    """Replays ``model.sample`` for one input shape from a captured CUDA graph."""

    def __init__(self, model: BeingH05, prompt: PromptBatch, num_cameras: int, steps: int,
                 warmup: int = 2) -> None:
        cfg = model.config
        if cfg.use_mpg or cfg.h05_use_mof:
            raise GraphUnsupported("CUDA graphs need use_mpg=False and h05_use_mof=False "
                                   "(the MPG gate and MoF routing select rows on the host)")
        dev = prompt.input_ids.device
        if dev.type != "cuda":
            raise GraphUnsupported(f"CUDA graphs need a CUDA device, got {dev}")
        self.model, self.steps = model, int(steps)
        b, n = prompt.input_ids.shape
        s, k = cfg.force_image_size, cfg.action_chunk_length
        dtype = model.language_model.model.embed_tokens.weight.dtype
        self.key = (b, n, int(num_cameras), self.steps)
        self.kinds_cpu = prompt.kinds.cpu()
        self.prompt = PromptBatch(prompt.input_ids.clone(), prompt.valid.clone(), prompt.kinds.clone())
        prompt_layout(self.prompt)  # the index tensors, once, before capture
        self.obs = Observation(self.prompt, torch.zeros(b, num_cameras, 3, s, s, device=dev, dtype=dtype),
                               torch.zeros(b, UNIFIED_DIM, device=dev))
        self.noise = torch.randn(b, k, UNIFIED_DIM, device=dev)
        self.prefix = torch.zeros(b, k, UNIFIED_DIM, device=dev)
        self.delays = torch.zeros(b, dtype=torch.long, device=dev)
        side = torch.cuda.Stream(device=dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):  # warm-up: cuBLAS handles, SDPA kernel choice, allocator pools
            for _ in range(max(1, warmup)):
                self._run()
        torch.cuda.current_stream(dev).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = self._run()
        torch.cuda.synchronize(dev)

    @torch.no_grad()
    def _run(self) -> torch.Tensor:
        return self.model.sample(self.obs, noise=self.noise, steps=self.steps, prefix=self.prefix,
                                 delays=self.delays, use_cache=True)

    @staticmethod
    def key_of(prompt: PromptBatch, pixel_values: torch.Tensor, steps: int) -> tuple[int, int, int, int]:
        return (*prompt.input_ids.shape, pixel_values.shape[1], int(steps))

    def matches(self, prompt: PromptBatch, pixel_values: torch.Tensor, steps: int) -> bool:
        return (self.key_of(prompt, pixel_values, steps) == self.key
                and torch.equal(prompt.kinds.cpu(), self.kinds_cpu))

    @torch.no_grad()
    def __call__(self, obs: Observation, noise: torch.Tensor, prefix: torch.Tensor | None = None,
                 delays: torch.Tensor | None = None) -> torch.Tensor:
        """Same contract as ``BeingH05.sample(obs, noise, steps, prefix, delays)``; returns a fresh tensor."""
        if not self.matches(obs.prompt, obs.pixel_values, self.steps):
            raise GraphUnsupported(f"inputs of shape {self.key_of(obs.prompt, obs.pixel_values, self.steps)} "
                                   f"or another token layout; this graph was captured for {self.key}")
        self.prompt.input_ids.copy_(obs.prompt.input_ids, non_blocking=True)
        self.prompt.valid.copy_(obs.prompt.valid, non_blocking=True)
        self.obs.pixel_values.copy_(obs.pixel_values, non_blocking=True)
        self.obs.state.copy_(obs.state, non_blocking=True)
        self.noise.copy_(noise, non_blocking=True)
        if prefix is None:
            self.delays.zero_()
        else:
            if delays is None:
                raise ValueError("a UAC prefix needs per-row delays")
            self.prefix.copy_(prefix, non_blocking=True)
            self.delays.copy_(delays, non_blocking=True)
        self.graph.replay()
        return self.out.clone()
