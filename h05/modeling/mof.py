"""Mixture-of-Flow: routed action-expert MLPs in the upper layers, a sample-level gate, balance loss.

Choices (the paper publishes none of them):
- the lower ``h05_mof_shared_layers`` action-expert layers keep one dense MLP
  ("foundation experts"); every upper layer holds ``h05_mof_num_experts``
  parallel Qwen3 MLPs; attention projections stay shared (the joint
  attention is the MoT's, not the router's);
- one gate per model: Linear([state token ; mean instruction embedding]) ->
  expert logits, computed once per sample, used by every routed layer, so a
  sample follows one path of specialised experts;
- top-K with softmax renormalised over the chosen K; unchosen experts get no
  gradient (they are not run for that sample);
- Switch-Transformer balance loss  E * sum_e f_e * p_e  (f_e: fraction of
  samples sent to e, p_e: mean gate probability).
With ``h05_use_mof`` off the model is the released dense model, key for key.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F
from transformers import Qwen3Config
from transformers.models.qwen3.modeling_qwen3 import Qwen3MLP


@dataclass
class Routing:
    """Per-sample routing: ``weights`` [B, E] (zeros off the top-K), ``probs`` [B, E], ``balance_loss``."""

    weights: torch.Tensor
    probs: torch.Tensor
    balance_loss: torch.Tensor

    @property
    def chosen(self) -> torch.Tensor:
        """Index of each sample's highest-weight expert [B]."""
        return self.weights.argmax(dim=-1)


class FlowRouter(nn.Module):
    """Gate on state token + pooled instruction embedding -> top-K routing."""

    def __init__(self, state_dim: int, text_dim: int, num_experts: int, top_k: int) -> None:
        super().__init__()
        self.top_k = top_k
        self.num_experts = num_experts
        self.gate = nn.Linear(state_dim + text_dim, num_experts)

    def forward(self, state_token: torch.Tensor, instruction_embedding: torch.Tensor) -> Routing:
        logits = self.gate(torch.cat([state_token, instruction_embedding], dim=-1).float())
        probs = logits.softmax(dim=-1)
        top_p, top_i = probs.topk(self.top_k, dim=-1)
        weights = torch.zeros_like(probs).scatter(-1, top_i, top_p / top_p.sum(-1, keepdim=True))
        frac = F.one_hot(top_i[:, 0], self.num_experts).float().mean(0)
        balance = self.num_experts * (frac * probs.mean(0)).sum()
        return Routing(weights, probs, balance)


class RoutedExpertMLP(nn.Module):
    """``num_experts`` parallel Qwen3 MLPs; each sample runs only its chosen ones."""

    def __init__(self, config: Qwen3Config, num_experts: int) -> None:
        super().__init__()
        self.experts = nn.ModuleList(Qwen3MLP(config) for _ in range(num_experts))

    def forward(self, x: torch.Tensor, routing: Routing | None) -> torch.Tensor:
        if routing is None:
            raise ValueError("a Mixture-of-Flow layer needs routing weights (call the model's router first)")
        out = torch.zeros_like(x)
        weights = routing.weights.to(x.dtype)
        for e, expert in enumerate(self.experts):
            rows = torch.nonzero(weights[:, e] > 0).flatten()
            if rows.numel() == 0:
                continue
            y = expert(x.index_select(0, rows)) * weights[rows, e, None, None]
            out = out.index_add(0, rows, y)
        return out
