"""Mixture-of-Transformers language model on transformers' Qwen3 pieces (released key names).

Each decoder layer holds two parameter sets: the understanding expert
(Qwen3-1.7B-shaped at full size) for text and image tokens, and the action
expert (``*_mot_gen``, Qwen3-0.6B-shaped, q/k/v projected to the LLM's head
layout) for state, action and motion tokens. Both sets project their tokens
to queries/keys/values of the same head layout; ONE attention runs over the
whole packed sequence; each expert then applies its own output projection,
norms and MLP to its own tokens.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F
from transformers import Qwen3Config
from transformers.models.qwen3.modeling_qwen3 import (
    Qwen3MLP,
    Qwen3RMSNorm,
    Qwen3RotaryEmbedding,
    apply_rotary_pos_emb,
)

from h05.modeling.mof import RoutedExpertMLP, Routing

KV = tuple[torch.Tensor, torch.Tensor]


@dataclass
class AttentionContext:
    """Where the current tokens sit and what they may attend to.

    ``und_idx``/``gen_idx``: positions (in the current token block) of the
    understanding/action-expert tokens; ``cos``/``sin``: RoPE of the current
    tokens [B, N, D]; ``mask``: bool [B, 1, N, P + N] over cached (P) and
    current keys, or None with ``causal`` (plain causal attention, no padding:
    lets SDPA pick its flash kernel); ``past``: per-layer cached keys/values
    or None. ``gen_only``: every current token is an action-expert token, in
    order (``gen_idx`` = arange(N)): no packing. ``pack_order`` [N]: where each
    sequence position sits in the concatenation (understanding tokens, then
    action-expert tokens); derived from the index tensors. ``keep_kv``: layers
    return their keys/values (set by ``MoTModel(use_cache=True)``); off in
    training, so no layer outputs a strided view of its internals. ``past_len``: when set, the
    cached keys/values are buffers of ``past_len + N`` slots whose first
    ``past_len`` hold the prefix; the current keys/values are written into
    the tail in place instead of concatenated (fixed addresses, no
    allocation per step: what a CUDA graph needs).
    """

    und_idx: torch.Tensor
    gen_idx: torch.Tensor
    cos: torch.Tensor
    sin: torch.Tensor
    mask: torch.Tensor | None
    past: list[KV] | None = None
    routing: Routing | None = None
    causal: bool = False
    gen_only: bool = False
    past_len: int | None = None
    pack_order: torch.Tensor | None = None
    keep_kv: bool = False

    def __post_init__(self) -> None:
        if self.pack_order is None and not self.gen_only:
            self.pack_order = torch.argsort(torch.cat([self.und_idx, self.gen_idx]))


def qwen3_config(d: dict) -> Qwen3Config:
    """Qwen3Config from a released ``llm_config``/``expert_config`` dict."""
    keys = ("vocab_size", "max_position_embeddings", "hidden_size", "intermediate_size", "num_hidden_layers",
            "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act", "rms_norm_eps",
            "attention_bias", "attention_dropout", "initializer_range")
    return Qwen3Config(**{k: d[k] for k in keys if k in d}, rope_theta=d.get("rope_theta", 1e6))


class FusedRMSNorm(Qwen3RMSNorm):
    """Qwen3's RMSNorm (same ``weight``, same eps) through one fused ``F.rms_norm`` kernel.

    Where input and weight differ in dtype (bf16 activations with float32 weights under autocast)
    it normalises in float32 and returns the input's dtype, so both experts' queries/keys/values
    stay in the autocast dtype (transformers' own RMSNorm would promote them to float32).
    In bf16 it rounds once (after the weight) instead of twice."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        shape = (hidden_states.shape[-1],)
        if hidden_states.dtype != self.weight.dtype:
            out = F.rms_norm(hidden_states.float(), shape, self.weight.float(), self.variance_epsilon)
            return out.to(hidden_states.dtype)
        return F.rms_norm(hidden_states, shape, self.weight, self.variance_epsilon)


class MoTAttention(nn.Module):
    def __init__(self, und: Qwen3Config, gen: Qwen3Config) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = und.num_attention_heads, und.num_key_value_heads, und.head_dim
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        self.q_proj = nn.Linear(und.hidden_size, q, bias=False)
        self.k_proj = nn.Linear(und.hidden_size, kv, bias=False)
        self.v_proj = nn.Linear(und.hidden_size, kv, bias=False)
        self.o_proj = nn.Linear(q, und.hidden_size, bias=False)
        self.q_norm = FusedRMSNorm(self.head_dim, eps=und.rms_norm_eps)
        self.k_norm = FusedRMSNorm(self.head_dim, eps=und.rms_norm_eps)
        self.q_proj_mot_gen = nn.Linear(gen.hidden_size, q, bias=False)
        self.k_proj_mot_gen = nn.Linear(gen.hidden_size, kv, bias=False)
        self.v_proj_mot_gen = nn.Linear(gen.hidden_size, kv, bias=False)
        self.o_proj_mot_gen = nn.Linear(q, gen.hidden_size, bias=False)
        self.q_norm_mot_gen = FusedRMSNorm(self.head_dim, eps=gen.rms_norm_eps)
        self.k_norm_mot_gen = FusedRMSNorm(self.head_dim, eps=gen.rms_norm_eps)

    def _qkv(self, x: torch.Tensor, gen: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        sfx = "_mot_gen" if gen else ""
        b, n, _ = x.shape
        q = getattr(self, "q_norm" + sfx)(getattr(self, "q_proj" + sfx)(x).view(b, n, self.heads, self.head_dim))
        k = getattr(self, "k_norm" + sfx)(getattr(self, "k_proj" + sfx)(x).view(b, n, self.kv_heads, self.head_dim))
        v = getattr(self, "v_proj" + sfx)(x).view(b, n, self.kv_heads, self.head_dim)
        return q, k, v

    def forward(self, x_und: torch.Tensor | None, x_gen: torch.Tensor, ctx: AttentionContext,
                past: KV | None, und_out: bool = True) -> tuple[torch.Tensor | None, torch.Tensor, KV | None]:
        """``und_out=False``: the understanding tokens only give keys/values (no output projection)."""
        b = x_gen.shape[0]
        n = ctx.cos.shape[1]
        if ctx.gen_only:  # action-expert tokens only (Euler steps over the cached prefix): no packing
            q, k, v = (t.transpose(1, 2) for t in self._qkv(x_gen, gen=True))
            parts = None
        else:
            has_und = x_und is not None and x_und.shape[1] > 0
            parts = ([self._qkv(x_und, gen=False)] if has_und else []) + [self._qkv(x_gen, gen=True)]
            order = ctx.pack_order if has_und else torch.argsort(ctx.gen_idx)
            # Packed sequence = experts' tokens concatenated (und, gen), then put in sequence order by one
            # gather: no zero-filled buffer, no scatter (torch.cat promotes if the dtypes ever differ).
            q, k, v = (torch.cat([p[j] for p in parts], dim=1).index_select(1, order).transpose(1, 2)
                       for j in range(3))  # [B, H, N, D]
        q, k = apply_rotary_pos_emb(q, k, ctx.cos, ctx.sin)
        if past is not None and ctx.past_len is not None:
            past[0][:, :, ctx.past_len:] = k
            past[1][:, :, ctx.past_len:] = v
            k, v = past
        elif past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        if ctx.mask is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=ctx.causal, enable_gqa=True)
        else:
            # SDPA's memory-efficient kernel takes a mask but not grouped kv heads (it would fall back to
            # the many-kernel math path): share each kv head across its query heads explicitly.
            rep = self.heads // self.kv_heads
            ke, ve = ((t[:, :, None].expand(-1, -1, rep, -1, -1).flatten(1, 2) if rep > 1 else t) for t in (k, v))
            out = F.scaled_dot_product_attention(q, ke, ve, attn_mask=ctx.mask)
        out = out.transpose(1, 2).reshape(b, n, self.heads * self.head_dim)
        kv = (k, v) if ctx.keep_kv else None
        if ctx.gen_only:
            return None, self.o_proj_mot_gen(out), kv
        o_gen = self.o_proj_mot_gen(out.index_select(1, ctx.gen_idx))
        o_und = self.o_proj(out.index_select(1, ctx.und_idx)) if has_und and und_out else None
        return o_und, o_gen, kv


class MoTDecoderLayer(nn.Module):
    """One MoT layer: per-expert norms/projections/MLP around one joint attention."""

    def __init__(self, und: Qwen3Config, gen: Qwen3Config, routed_experts: int = 0) -> None:
        super().__init__()
        self.self_attn = MoTAttention(und, gen)
        self.mlp = Qwen3MLP(und)
        self.mlp_mot_gen = RoutedExpertMLP(gen, routed_experts) if routed_experts else Qwen3MLP(gen)
        self.input_layernorm = FusedRMSNorm(und.hidden_size, eps=und.rms_norm_eps)
        self.post_attention_layernorm = FusedRMSNorm(und.hidden_size, eps=und.rms_norm_eps)
        self.input_layernorm_mot_gen = FusedRMSNorm(gen.hidden_size, eps=gen.rms_norm_eps)
        self.post_attention_layernorm_mot_gen = FusedRMSNorm(gen.hidden_size, eps=gen.rms_norm_eps)
        self.routed = bool(routed_experts)

    def forward(self, h_und: torch.Tensor | None, h_gen: torch.Tensor, ctx: AttentionContext,
                past: KV | None, und_out: bool = True) -> tuple[torch.Tensor | None, torch.Tensor, KV | None]:
        """``und_out=False`` (the last layer when nothing reads the understanding tokens' states): their
        attention output, MLP and new states are skipped; returns None in their place."""
        x_und = self.input_layernorm(h_und) if h_und is not None and h_und.shape[1] else None
        a_und, a_gen, kv = self.self_attn(x_und, self.input_layernorm_mot_gen(h_gen), ctx, past, und_out)
        h_gen = h_gen + a_gen
        x = self.post_attention_layernorm_mot_gen(h_gen)
        h_gen = h_gen + (self.mlp_mot_gen(x, ctx.routing) if self.routed else self.mlp_mot_gen(x))
        if a_und is None:
            return None, h_gen, kv
        h_und = h_und + a_und
        h_und = h_und + self.mlp(self.post_attention_layernorm(h_und))
        return h_und, h_gen, kv


class MoTModel(nn.Module):
    """Embeddings, MoT layers and both experts' final norms (``language_model.model.*``)."""

    def __init__(self, und: Qwen3Config, gen: Qwen3Config, routed_from: int | None, num_experts: int) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(und.vocab_size, und.hidden_size)
        self.layers = nn.ModuleList(
            MoTDecoderLayer(und, gen, num_experts if routed_from is not None and i >= routed_from else 0)
            for i in range(und.num_hidden_layers)
        )
        self.norm = FusedRMSNorm(und.hidden_size, eps=und.rms_norm_eps)
        self.norm_mot_gen = FusedRMSNorm(gen.hidden_size, eps=gen.rms_norm_eps)
        self.rotary_emb = Qwen3RotaryEmbedding(und)

    def forward(self, h_und: torch.Tensor | None, h_gen: torch.Tensor, ctx: AttentionContext,
                use_cache: bool = False, und_out: bool = False
                ) -> tuple[torch.Tensor | None, torch.Tensor, list[KV] | None]:
        """Final states of (understanding tokens if ``und_out`` else None, action-expert tokens), and
        per-layer keys/values if ``use_cache``. Without ``und_out`` the last layer skips the
        understanding tokens' output projection and MLP (their result would be discarded)."""
        cache: list[KV] | None = [] if use_cache else None
        if ctx.keep_kv != use_cache:
            ctx = dataclasses.replace(ctx, keep_kv=use_cache)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            h_und, h_gen, kv = layer(h_und, h_gen, ctx, ctx.past[i] if ctx.past is not None else None,
                                     und_out or i < last)
            if cache is not None:
                cache.append(kv)
        h_und = self.norm(h_und) if und_out and h_und is not None and h_und.shape[1] else None
        return h_und, self.norm_mot_gen(h_gen), cache


class MoTLanguageModel(nn.Module):
    """``language_model``: the MoT stack plus the untied LM head of the understanding expert."""

    def __init__(self, llm_config: dict, routed_from: int | None = None, num_experts: int = 0) -> None:
        super().__init__()
        self.und_config = qwen3_config(llm_config)
        self.gen_config = qwen3_config(llm_config["expert_config"])
        self.model = MoTModel(self.und_config, self.gen_config, routed_from, num_experts)
        self.lm_head = nn.Linear(self.und_config.hidden_size, self.und_config.vocab_size, bias=False)
