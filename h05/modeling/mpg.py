"""Manifold-Preserving Gating (MPG) on the observation tokens.

H' = H + lambda * (g * W E_obs(H) + b), where W, b are ``enhancement_proj``
(b is the ungated prior offset), g = exp(-D / tau) with D the sliced
Wasserstein distance between LayerNorm(E_obs(H)) over the observation tokens
and LayerNorm(E_act(mean-pooled clean action embedding)) (a point mass), and
g carries no gradient. Applied to the understanding-expert input embeddings
(text + image tokens) before the MoT stack. The anchor is the ground-truth
chunk in training and the previous prediction at inference.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, directions: torch.Tensor,
                       x_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample sliced W2^2 between point sets ``x`` [B, N, F] and ``y`` [B, M, F].

    Projections on ``directions`` [F, P] (unit columns) are sorted and compared
    at N matched quantiles; ``x_mask`` [B, N] drops padded points of ``x``.
    """
    directions = directions.float()
    px = (x.float() @ directions)  # [B, N, P]
    py = (y.float() @ directions)  # [B, M, P]
    out = []
    for b in range(x.shape[0]):
        xb = px[b] if x_mask is None else px[b][x_mask[b]]
        xs, _ = xb.sort(dim=0)
        ys, _ = py[b].sort(dim=0)
        q = torch.linspace(0, 1, xs.shape[0], device=x.device)
        pos = q * (ys.shape[0] - 1)
        lo = pos.floor().long()
        hi = pos.ceil().long()
        frac = (pos - lo.float())[:, None]
        yq = ys[lo] * (1 - frac) + ys[hi] * frac
        out.append(((xs - yq) ** 2).mean())
    return torch.stack(out)


def random_directions(dim: int, count: int, seed: int) -> torch.Tensor:
    """``count`` fixed unit directions [dim, count] (seeded: the same in every process)."""
    dirs = torch.randn(dim, count, generator=torch.Generator().manual_seed(seed))
    return dirs / dirs.norm(dim=0, keepdim=True)


def mpg_gate(distance: torch.Tensor, temperature: float) -> torch.Tensor:
    """g = exp(-D / tau) in (0, 1]; 1 exactly when D = 0."""
    return torch.exp(-distance.clamp_min(0) / temperature)


class ManifoldPreservingGate(nn.Module):
    """``mpg.{obs,action,enhancement}_proj`` of the released layout."""

    def __init__(self, obs_dim: int, action_dim: int, num_projections: int, lam: float, tau: float,
                 stop_gradient: bool = True, seed: int = 0) -> None:
        super().__init__()
        self.obs_proj = nn.Linear(obs_dim, obs_dim)
        self.action_proj = nn.Linear(action_dim, obs_dim)
        self.enhancement_proj = nn.Linear(obs_dim, obs_dim)
        self.lam, self.tau, self.stop_gradient = lam, tau, stop_gradient
        self.seed = seed
        self.register_buffer("directions", random_directions(obs_dim, num_projections, seed), persistent=False)

    def gate(self, obs_tokens: torch.Tensor, action_embedding: torch.Tensor,
             obs_mask: torch.Tensor | None = None) -> torch.Tensor:
        """g [B] from observation tokens [B, N, obs] and anchor action embeddings [B, k, act]."""
        e_obs = F.layer_norm(self.obs_proj(obs_tokens).float(), (obs_tokens.shape[-1],))
        pooled = action_embedding.mean(dim=1, keepdim=True)
        e_act = F.layer_norm(self.action_proj(pooled).float(), (obs_tokens.shape[-1],))
        d = sliced_wasserstein(e_obs, e_act, self.directions.to(e_obs.device), obs_mask)
        g = mpg_gate(d, self.tau)
        return g.detach() if self.stop_gradient else g

    def forward(self, obs_tokens: torch.Tensor, action_embedding: torch.Tensor,
                obs_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (H', g)."""
        g = self.gate(obs_tokens, action_embedding, obs_mask)
        w = F.linear(self.obs_proj(obs_tokens), self.enhancement_proj.weight)
        h = obs_tokens + self.lam * (g.to(obs_tokens.dtype)[:, None, None] * w + self.enhancement_proj.bias)
        return h, g
