"""Universal Async Chunking: per-embodiment delay sampling and committed-prefix handling.

Training: each sample draws a delay d in [0, max_delay(embodiment)) with
weights proportional to exp(-d) (uniform if ``rtc_delay_exp_weight`` is off);
its first d action tokens are the clean committed prefix (t = 1), the rest
share the sample's flow time, and only the suffix carries loss.
Inference: the previous chunk's committed actions overwrite the first d
tokens before and after every Euler step, so they come back exactly.
"""

from __future__ import annotations

from typing import Sequence

import torch


def sample_delays(embodiments: Sequence[str], max_delay: dict[str, int] | int, exp_weight: bool,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """One delay per sample [B] (long); 0 where the embodiment's bound is 0 or 1."""
    out = []
    for emb in embodiments:
        bound = max_delay if isinstance(max_delay, int) else int(max_delay.get(emb, 0))
        if bound <= 1:
            out.append(0)
            continue
        d = torch.arange(bound, dtype=torch.float32)
        w = torch.exp(-d) if exp_weight else torch.ones_like(d)
        out.append(int(torch.multinomial(w / w.sum(), 1, generator=generator)))
    return torch.tensor(out, dtype=torch.long)


def prefix_mask(delays: torch.Tensor, chunk: int) -> torch.Tensor:
    """Bool [B, chunk]: True on each row's first d tokens."""
    return torch.arange(chunk, device=delays.device)[None, :] < delays[:, None]


def overwrite_prefix(x: torch.Tensor, prefix: torch.Tensor | None, mask: torch.Tensor | None) -> torch.Tensor:
    """Replace committed tokens of ``x`` [B, k, D] by ``prefix`` [B, k, D] where ``mask`` [B, k]."""
    if prefix is None or mask is None:
        return x
    return torch.where(mask[..., None], prefix.to(x.dtype), x)
