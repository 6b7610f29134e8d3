"""Masked motion-token prediction: its own embedding and head, mutually invisible to the flow answer.

The quantised human-motion chunk (codes in [0, codebook)) follows the flow
answer in the packed sequence, starts at the same RoPE position, sees the
prefix and itself (bidirectionally, as a masked model) but never the flow
tokens, and the flow tokens never see it: block gating
[[1,0,0],[1,1,0],[1,0,1]] over (prefix, flow, masked). A fraction of codes
is replaced by [MASK] (id = codebook) and predicted with cross-entropy.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


def mask_motion_codes(codes: torch.Tensor, ratio: float, mask_id: int,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (input codes with [MASK], bool mask of replaced positions); at least one per row."""
    if not 0 < ratio <= 1:
        raise ValueError(f"motion mask ratio must be in (0, 1], got {ratio}")
    b, m = codes.shape
    scores = torch.rand(b, m, generator=generator).to(codes.device)
    n = max(1, int(round(ratio * m)))
    idx = scores.argsort(dim=1)[:, :n]
    masked = torch.zeros(b, m, dtype=torch.bool, device=codes.device).scatter(1, idx, True)
    return codes.masked_fill(masked, mask_id), masked


class MotionTokenHead(nn.Module):
    """Embedding (codebook + [MASK]) into the action expert and a code-logit head."""

    def __init__(self, codebook: int, hidden: int) -> None:
        super().__init__()
        self.codebook = codebook
        self.embed = nn.Embedding(codebook + 1, hidden)
        self.head = nn.Linear(hidden, codebook)

    def loss(self, hidden: torch.Tensor, codes: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        logits = self.head(hidden).float()
        return F.cross_entropy(logits[masked], codes[masked])
