"""Flow matching as released: t = 1 is clean, Beta(1.5, 1) time sampling, masked velocity MSE."""

from __future__ import annotations

import torch


def sample_flow_time(batch: int, alpha: float, beta: float, noise_s: float,
                     generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
    """t = (noise_s - s) / noise_s with s ~ Beta(alpha, beta): [batch] in (0, 1]."""
    # Beta via two Gammas so a torch.Generator controls it (torch.distributions takes none).
    g1 = torch._standard_gamma(torch.full((batch,), float(alpha)), generator=generator)
    g2 = torch._standard_gamma(torch.full((batch,), float(beta)), generator=generator)
    s = g1 / (g1 + g2)
    return ((noise_s - s) / noise_s).clamp(0.0, 1.0).to(device)


def noisy_actions(actions: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - t) noise + t action, ``t`` broadcast over [B, k] tokens."""
    t = t[..., None]
    return (1.0 - t) * noise + t * actions


def masked_velocity_loss(pred: torch.Tensor, target: torch.Tensor, slot_mask: torch.Tensor,
                         token_mask: torch.Tensor | None = None) -> torch.Tensor:
    """MSE over mapped slots (and loss-bearing tokens) only, normalised by their count.

    ``pred``/``target`` [B, k, 200]; ``slot_mask`` [B, 200] bool; ``token_mask`` [B, k] bool.
    """
    m = slot_mask[:, None, :].expand_as(pred).float()
    if token_mask is not None:
        m = m * token_mask[..., None].float()
    count = m.sum()
    if count == 0:
        raise ValueError("flow loss has no valid (mapped, loss-bearing) action values in this batch")
    return (((pred.float() - target.float()) ** 2) * m).sum() / count


def euler_times(steps: int) -> list[float]:
    """Start times of the ``steps`` Euler steps from noise (t=0) to clean (t=1)."""
    if steps < 1:
        raise ValueError(f"Euler steps must be >= 1, got {steps}")
    return [i / steps for i in range(steps)]
