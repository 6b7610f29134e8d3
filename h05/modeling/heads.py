"""State encoder, action encoder with flow-time embedding, and velocity decoder (released names)."""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F


def sinusoidal_time_embedding(timesteps: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding ``[..., dim]`` of (bucketed) flow times ``timesteps`` [...]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=timesteps.device, dtype=torch.float32) / half)
    args = timesteps.float()[..., None] * freqs
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class StateEncoder(nn.Module):
    """200-D unified state -> one action-expert token (Linear, ReLU, Linear)."""

    def __init__(self, state_dim: int, hidden: int) -> None:
        super().__init__()
        self.layer1 = nn.Linear(state_dim, hidden)
        self.layer2 = nn.Linear(hidden, hidden)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return self.layer2(F.relu(self.layer1(state)))


class ActionEncoder(nn.Module):
    """Noisy action + flow time -> token: W3(swish(W2([W1 a ; sinus(bucket(t))])))."""

    def __init__(self, action_dim: int, hidden: int, num_buckets: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.num_buckets = num_buckets
        self.W1 = nn.Linear(action_dim, hidden)
        self.W2 = nn.Linear(2 * hidden, hidden)
        self.W3 = nn.Linear(hidden, hidden)

    def forward(self, actions: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``actions`` [B, k, 200], ``t`` [B, k] in [0, 1] (1 = clean)."""
        buckets = (t * self.num_buckets).long().clamp(0, self.num_buckets)
        tau = sinusoidal_time_embedding(buckets, self.hidden).to(actions.dtype)
        x = torch.cat([self.W1(actions), tau], dim=-1)
        return self.W3(F.silu(self.W2(x)))


class VelocityDecoder(nn.Module):
    """Action-expert hidden state -> 200-D flow velocity (Linear, ReLU, Linear)."""

    def __init__(self, hidden: int, action_dim: int) -> None:
        super().__init__()
        self.layer1 = nn.Linear(hidden, hidden)
        self.layer2 = nn.Linear(hidden, action_dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.layer2(F.relu(self.layer1(h)))
