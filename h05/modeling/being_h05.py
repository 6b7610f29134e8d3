"""``BeingH05``: vision tower + connector + MoT language model + action heads, training loss and sampling.

Module attributes carry the released top-level names (``vit_model``,
``connector``, ``language_model``, ``proprio_encoder_robot``,
``action_encoder``, ``action_decoder``, ``action_to_vlm_proj``,
``vlm_to_action_proj``, ``mpg``); ``h05.checkpoint`` maps the vision tower's
native transformers names to InternVL's original ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

from envs.unified_space import UNIFIED_DIM
from h05.config import BeingHConfig
from h05.modeling import flow, uac
from h05.modeling.heads import ActionEncoder, StateEncoder, VelocityDecoder
from h05.modeling.mof import FlowRouter, Routing
from h05.modeling.motion import MotionTokenHead, mask_motion_codes
from h05.modeling.mot import KV, AttentionContext, MoTLanguageModel
from h05.modeling.mpg import ManifoldPreservingGate, random_directions
from h05.modeling.vision import build_connector, build_vision_tower, encode_images
from h05.tokens import ACTION, ACTION_EXPERT_KINDS, IMAGE, MOTION, STATE, TEXT, PromptBatch


@dataclass
class Observation:
    """Model-ready inputs of a batch: prompt ids, normalised images [B, C, 3, S, S], state [B, 200]."""

    prompt: PromptBatch
    pixel_values: torch.Tensor
    state: torch.Tensor


@dataclass
class TrainingTargets:
    """Normalised action chunks [B, k, 200], mapped-slot masks [B, 200], embodiments, optional motion codes."""

    actions: torch.Tensor
    action_mask: torch.Tensor
    embodiments: Sequence[str]
    motion_codes: torch.Tensor | None = None


@dataclass
class Prefix:
    """The embedded vision-language-state prefix of a batch."""

    h_und: torch.Tensor          # [B, Nu, llm_hidden]
    h_gen: torch.Tensor          # [B, Ng, expert_hidden] (the state token)
    kinds: torch.Tensor          # [N]
    valid: torch.Tensor          # [B, N]
    routing: Routing | None = None
    gate: torch.Tensor | None = None
    extras: dict = field(default_factory=dict)
    und_idx: torch.Tensor | None = None   # [Nu] positions of understanding-expert tokens
    gen_idx: torch.Tensor | None = None   # [Ng] positions of action-expert tokens
    all_valid: bool | None = None         # no padding (known on the host), None: unknown


def _action_expert(kinds: torch.Tensor) -> torch.Tensor:
    """Bool [N]: the tokens the action expert runs (no host tensor: safe under CUDA graph capture)."""
    gen = torch.zeros_like(kinds, dtype=torch.bool)
    for kind in ACTION_EXPERT_KINDS:
        gen = gen | (kinds == kind)
    return gen


def _to_device(x: torch.Tensor, dev: torch.device) -> torch.Tensor:
    """Host tensor to ``dev``; to a GPU through pinned memory without blocking the host."""
    if dev.type == "cuda":
        return x.pin_memory().to(dev, non_blocking=True)
    return x.to(dev)


def prompt_layout(prompt: PromptBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(und_idx, gen_idx, img_sel) of a prompt's token kinds, computed once per ``PromptBatch``.

    The index tensors need a host sync (``nonzero``); they are kept on the
    prompt object (keyed by its ``kinds`` tensor), so a prompt reused across
    calls, e.g. the static inputs of a CUDA graph, syncs only on first use.
    """
    cached = getattr(prompt, "_h05_layout", None)
    if cached is not None and cached[0] is prompt.kinds:
        return cached[1]
    kinds = prompt.kinds
    gen = _action_expert(kinds)
    und_idx = torch.nonzero(~gen).flatten()
    gen_idx = torch.nonzero(gen).flatten()
    img_sel = torch.nonzero(kinds.index_select(0, und_idx) == IMAGE).flatten()
    if int((kinds == STATE).sum()) != 1:
        raise ValueError("the prompt must hold exactly one state token")
    layout = (und_idx, gen_idx, img_sel)
    prompt._h05_layout = (prompt.kinds, layout)
    return layout


class BeingH05(nn.Module):
    """The Being-H0.5 network (Mixture-of-Transformers VLA with a flow-matching action expert)."""

    def __init__(self, config: BeingHConfig) -> None:
        super().__init__()
        self.config = config
        llm, exp = config.llm_config, config.expert_config
        self.vit_model = build_vision_tower(config)
        self.connector = build_connector(config)
        routed_from = config.h05_mof_shared_layers if config.h05_use_mof else None
        self.language_model = MoTLanguageModel(llm, routed_from, config.h05_mof_num_experts)
        hg, hu = exp["hidden_size"], llm["hidden_size"]
        self.proprio_encoder_robot = StateEncoder(UNIFIED_DIM, hg)
        self.action_encoder = ActionEncoder(UNIFIED_DIM, hg, config.num_timestep_buckets)
        self.action_decoder = VelocityDecoder(hg, UNIFIED_DIM)
        # Present in the released layout (used there when no action expert is configured).
        self.action_to_vlm_proj = nn.Linear(hg, hu)
        self.vlm_to_action_proj = nn.Linear(hu, hg)
        if config.use_mpg:
            self.mpg = ManifoldPreservingGate(hu, hg, config.mpg_num_projections, config.mpg_lambda,
                                              config.mpg_gate_temperature, config.mpg_use_stop_gradient)
        if config.h05_use_mof:
            self.mof_router = FlowRouter(hg, hu, config.h05_mof_num_experts, config.h05_mof_top_k)
        if config.h05_use_motion_tokens:
            self.motion_tokens = MotionTokenHead(config.h05_motion_codebook_size, hg)

    def reset_buffers(self) -> None:
        """Recompute non-persistent buffers (RoPE frequencies, MPG directions), e.g. after ``to_empty``."""
        rot = self.language_model.model.rotary_emb
        dev = rot.inv_freq.device
        inv_freq, _ = rot.compute_default_rope_parameters(rot.config)
        rot.inv_freq, rot.original_inv_freq = inv_freq.to(dev), inv_freq.clone().to(dev)
        if self.config.use_mpg:
            m = self.mpg
            m.directions = random_directions(*m.directions.shape, m.seed).to(m.directions.device, m.directions.dtype)

    # ----------------------------------------------------------------- prefix
    @property
    def chunk(self) -> int:
        return self.config.action_chunk_length

    def _dtype(self) -> torch.dtype:
        return self.language_model.model.embed_tokens.weight.dtype

    def embed_prefix(self, obs: Observation, anchor_actions: torch.Tensor | None = None,
                     use_mpg_anchor: bool = True) -> Prefix:
        """Embed text/images (understanding expert) and the state token (action expert).

        ``anchor_actions`` [B, k, 200]: clean chunk the MPG gate compares with
        (None: MPG contributes only its prior offset).
        """
        prompt = obs.prompt
        kinds = prompt.kinds
        und_idx, gen_idx, img_sel = prompt_layout(prompt)
        dtype = self._dtype()
        h_und = self.language_model.model.embed_tokens(prompt.input_ids.index_select(1, und_idx))
        if img_sel.numel():
            img = encode_images(self.vit_model, self.connector, obs.pixel_values, self.config.downsample_ratio)
            if img.shape[1] != img_sel.numel():
                raise ValueError(f"prompt has {img_sel.numel()} image tokens but the images give {img.shape[1]} "
                                 f"({obs.pixel_values.shape[1]} cameras)")
            h_und = h_und.index_copy(1, img_sel, img.to(h_und.dtype))
        state_tok = self.proprio_encoder_robot(obs.state.to(dtype))[:, None, :]
        pre = Prefix(h_und, state_tok, kinds, prompt.valid, und_idx=und_idx, gen_idx=gen_idx,
                     all_valid=prompt.all_valid)
        und_valid = prompt.valid.index_select(1, und_idx)
        if self.config.h05_use_mof:
            text = (kinds.index_select(0, und_idx) == TEXT)[None, :] & und_valid
            w = text.to(h_und.dtype)[..., None]
            pooled = (h_und * w).sum(1) / w.sum(1).clamp_min(1)
            pre.routing = self.mof_router(state_tok[:, 0], pooled)
        if self.config.use_mpg:
            if anchor_actions is not None and use_mpg_anchor:
                ones = torch.ones(anchor_actions.shape[:2], device=anchor_actions.device)
                anchor = self.action_encoder(anchor_actions.to(dtype), ones)
                pre.h_und, pre.gate = self.mpg(h_und, anchor, und_valid)
            else:  # no anchor yet: the ungated prior offset only
                pre.h_und = h_und + self.mpg.lam * self.mpg.enhancement_proj.bias.to(dtype)
        return pre

    # --------------------------------------------------------------- running
    @staticmethod
    def _positions(valid: torch.Tensor) -> torch.Tensor:
        return (valid.long().cumsum(dim=1) - 1).clamp_min(0)

    def _context(self, und_idx: torch.Tensor, gen_idx: torch.Tensor, positions: torch.Tensor,
                 mask: torch.Tensor | None, past: list[KV] | None, routing: Routing | None,
                 like: torch.Tensor, **flags) -> AttentionContext:
        cos, sin = self.language_model.model.rotary_emb(like, positions)
        return AttentionContext(und_idx, gen_idx, cos, sin, mask, past, routing, **flags)

    def _run_full(self, pre: Prefix, answer: torch.Tensor, motion: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Prefix + action answer (+ motion answer) in one pass; returns their action-expert states."""
        b, k = answer.shape[:2]
        dev = answer.device
        m = 0 if motion is None else motion.shape[1]
        kinds = torch.cat([pre.kinds, torch.full((k,), ACTION, device=dev),
                           torch.full((m,), MOTION, device=dev)])
        n_pre = pre.kinds.numel()
        valid = torch.cat([pre.valid, torch.ones(b, k + m, dtype=torch.bool, device=dev)], dim=1)
        pos = self._positions(valid)
        if m:  # the masked answer starts where the flow answer starts
            pos[:, n_pre + k:] = pos[:, n_pre:n_pre + m]
        n = kinds.numel()
        gen_idx = torch.cat([pre.gen_idx, torch.arange(n_pre, n, device=dev)])
        dense = pre.all_valid if pre.all_valid is not None else bool(pre.valid.all())
        if m == 0 and dense:  # plain causal, no padding: SDPA's flash kernel
            mask, flags = None, {"causal": True}
        else:
            mask = torch.ones(n, n, dtype=torch.bool, device=dev).tril()
            if m:
                mask[n_pre + k:, n_pre:n_pre + k] = False            # masked answer never sees the flow answer
                mask[n_pre + k:, n_pre + k:] = True                   # and sees all of itself
            mask, flags = mask[None, None] & valid[:, None, None, :], {}
        h_gen = torch.cat([pre.h_gen, answer] + ([motion] if m else []), dim=1)
        ctx = self._context(pre.und_idx, gen_idx, pos, mask, None, pre.routing, h_gen, **flags)
        _, out_gen, _ = self.language_model.model(pre.h_und, h_gen, ctx)
        ng = pre.h_gen.shape[1]
        return out_gen[:, ng:ng + k], (out_gen[:, ng + k:] if m else None)

    def prefill(self, pre: Prefix) -> tuple[list[KV], torch.Tensor]:
        """Run the prefix once; return per-layer keys/values and the number of valid prefix tokens [B]."""
        pos = self._positions(pre.valid)
        n = pre.kinds.numel()
        mask = torch.ones(n, n, dtype=torch.bool, device=pre.valid.device).tril()[None, None]
        mask = mask & pre.valid[:, None, None, :]
        ctx = self._context(pre.und_idx, pre.gen_idx, pos, mask, None, pre.routing, pre.h_gen)
        _, _, cache = self.language_model.model(pre.h_und, pre.h_gen, ctx, use_cache=True)
        return cache, pre.valid.sum(dim=1)

    def _answer_cache(self, cache: list[KV]) -> list[KV]:
        """Prefix keys/values copied into buffers with ``chunk`` free tail slots (written per Euler step)."""
        out = []
        for k, v in cache:
            b, h, p, d = k.shape
            kb, vb = k.new_empty(b, h, p + self.chunk, d), v.new_empty(b, h, p + self.chunk, d)
            kb[:, :, :p] = k
            vb[:, :, :p] = v
            out.append((kb, vb))
        return out

    def _run_cached(self, pre: Prefix, cache: list[KV], n_valid: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
        """Only the action expert over the answer tokens, attending to the cached prefix."""
        b, k = answer.shape[:2]
        dev = answer.device
        arange = torch.arange(k, device=dev)
        pos = n_valid[:, None] + arange[None, :]
        causal = torch.ones(k, k, dtype=torch.bool, device=dev).tril()[None].expand(b, k, k)
        mask = torch.cat([pre.valid[:, None, :].expand(b, k, -1), causal], dim=2)[:, None]
        p = pre.valid.shape[1]
        past_len = p if cache[0][0].shape[2] == p + k else None  # tail buffers from _answer_cache
        ctx = self._context(arange[:0], arange, pos, mask, cache, pre.routing, answer, gen_only=True,
                            past_len=past_len)
        _, out_gen, _ = self.language_model.model(None, answer, ctx)
        return out_gen

    # -------------------------------------------------------------- training
    def training_loss(self, obs: Observation, targets: TrainingTargets,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Flow-matching loss (+ MoF balance, + masked motion CE); returns the parts and ``loss``."""
        cfg = self.config
        actions = targets.actions.to(self._dtype())
        b, k, _ = actions.shape
        if k != self.chunk:
            raise ValueError(f"target chunks have {k} steps; the model's action_chunk_length is {self.chunk}")
        dev = actions.device
        # Host draws first, copied without blocking: the device never waits for them mid-forward.
        t = _to_device(flow.sample_flow_time(b, cfg.noise_beta_alpha, cfg.noise_beta_beta, cfg.noise_s, generator), dev)
        noise = _to_device(torch.randn(actions.shape, generator=generator), dev).to(actions.dtype)
        delays = None
        if cfg.use_training_time_rtc:
            bounds = {e: cfg.max_delay(e) for e in set(targets.embodiments)}
            delays = _to_device(uac.sample_delays(targets.embodiments, bounds, cfg.rtc_delay_exp_weight, generator), dev)
        pre = self.embed_prefix(obs, anchor_actions=actions)
        t_tok = t[:, None].expand(b, k).clone()
        loss_tokens = torch.ones(b, k, dtype=torch.bool, device=dev)
        if delays is not None:
            committed = uac.prefix_mask(delays, k)
            t_tok = torch.where(committed, torch.ones_like(t_tok), t_tok)
            loss_tokens = ~committed
        x_t = flow.noisy_actions(actions, noise, t_tok.to(actions.dtype))
        answer = self.action_encoder(x_t, t_tok)
        motion_in = masked = None
        if cfg.h05_use_motion_tokens and targets.motion_codes is not None:
            motion_in, masked = mask_motion_codes(targets.motion_codes, cfg.h05_motion_mask_ratio,
                                                  cfg.h05_motion_codebook_size, generator)
            motion_emb = self.motion_tokens.embed(motion_in.to(dev))
        else:
            motion_emb = None
        h_act, h_mot = self._run_full(pre, answer, motion_emb)
        velocity = self.action_decoder(h_act)
        out = {"flow_loss": flow.masked_velocity_loss(velocity, actions - noise, targets.action_mask.to(dev),
                                                      loss_tokens)}
        loss = cfg.h05_flow_loss_weight * out["flow_loss"]
        if h_mot is not None:
            out["motion_loss"] = self.motion_tokens.loss(h_mot, targets.motion_codes.to(dev), masked.to(dev))
            loss = loss + cfg.h05_motion_loss_weight * out["motion_loss"]
        if pre.routing is not None:
            out["balance_loss"] = pre.routing.balance_loss
            loss = loss + cfg.h05_mof_balance_weight * pre.routing.balance_loss
        if pre.gate is not None:
            out["mpg_gate"] = pre.gate.mean()
        out["loss"] = loss
        return out

    # -------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample(self, obs: Observation, noise: torch.Tensor | None = None, steps: int | None = None,
               prefix: torch.Tensor | None = None, delays: torch.Tensor | None = None,
               use_cache: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
        """Euler-integrate a chunk [B, k, 200] from noise (t=0) to t=1.

        ``prefix`` [B, k, 200] with ``delays`` [B]: committed actions kept
        exactly in the first d tokens (UAC). With MPG on, a first denoise gives
        the anchor for the gate and the chunk is denoised again
        (``mpg_refinement_iters`` times).
        """
        steps = steps or self.config.num_inference_timesteps
        b = obs.state.shape[0]
        dev, dtype = obs.state.device, self._dtype()
        if noise is None:
            noise = torch.randn(b, self.chunk, UNIFIED_DIM, generator=generator).to(dev)
        if noise.shape != (b, self.chunk, UNIFIED_DIM):
            raise ValueError(f"noise has shape {tuple(noise.shape)}, expected {(b, self.chunk, UNIFIED_DIM)}")
        committed = None
        if prefix is not None:
            if delays is None:
                raise ValueError("a UAC prefix needs per-row delays")
            committed = uac.prefix_mask(delays.to(dev), self.chunk)
            if prefix.shape != noise.shape:
                raise ValueError(f"prefix has shape {tuple(prefix.shape)}, expected {tuple(noise.shape)} "
                                 "(pad rows beyond each delay)")
            prefix = prefix.to(dev)
        anchor = None
        for _ in range(1 + (self.config.mpg_refinement_iters if self.config.use_mpg else 0)):
            pre = self.embed_prefix(obs, anchor_actions=anchor)
            anchor = self._denoise(pre, noise.to(dtype), steps, prefix, committed, use_cache)
        return anchor.float()

    def _denoise(self, pre: Prefix, x: torch.Tensor, steps: int, prefix: torch.Tensor | None,
                 committed: torch.Tensor | None, use_cache: bool) -> torch.Tensor:
        b, k = x.shape[:2]
        cache = None
        if use_cache:
            kv, n_valid = self.prefill(pre)
            cache = (self._answer_cache(kv), n_valid)
        dt = 1.0 / steps
        for t0 in flow.euler_times(steps):
            x = uac.overwrite_prefix(x, prefix, committed)
            t_tok = torch.full((b, k), t0, device=x.device)
            if committed is not None:
                t_tok = torch.where(committed, torch.ones_like(t_tok), t_tok)
            answer = self.action_encoder(x, t_tok)
            h = self._run_cached(pre, cache[0], cache[1], answer) if cache else self._run_full(pre, answer)[0]
            x = x + dt * self.action_decoder(h)
            x = uac.overwrite_prefix(x, prefix, committed)
        return x


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
