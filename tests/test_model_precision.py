"""bf16 autocast and torch.compile of the Being-H0.5 model (tiny preset, CPU)."""

from __future__ import annotations

import pytest
import torch

from h05.config import BeingHConfig
from h05.modeling.being_h05 import BeingH05, Observation, TrainingTargets
from h05.modeling.compiling import compile_model
from h05.tokens import PromptBuilder, load_tokenizer
from h05.training.trainer import autocast_bf16

# Different lengths: padded rows, masked SDPA; equal lengths: no padding, causal SDPA.
PADDED = ["pick up the bowl", "open the top drawer of the cabinet and put the bowl inside"]
DENSE = ["pick up the bowl", "pick up the cup"]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = BeingHConfig.preset("tiny", use_training_time_rtc=True)
    return BeingH05(cfg).train()


def _inputs(cfg, tokenizer, instructions, seed=0):
    g = torch.Generator().manual_seed(seed)
    b = len(instructions)
    prompt = PromptBuilder(tokenizer, cfg.image_tokens_per_camera, cfg.action_chunk_length).build(instructions, 2)
    s = cfg.force_image_size
    obs = Observation(prompt, torch.randn(b, 2, 3, s, s, generator=g), torch.randn(b, 200, generator=g))
    mask = torch.zeros(b, 200, dtype=torch.bool)
    mask[:, :7] = True
    actions = torch.randn(b, cfg.action_chunk_length, 200, generator=g) * mask[:, None]
    return obs, TrainingTargets(actions, mask, ["libero"] * b)


def _loss_and_grads(model, obs, targets, bf16: bool):
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model.training_loss(obs, targets, torch.Generator().manual_seed(0))["loss"]
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return float(loss.detach()), grads


@pytest.mark.parametrize("instructions", [PADDED, DENSE], ids=["padded", "dense"])
def test_bf16_autocast_trains_close_to_fp32(tiny, tokenizer, instructions):
    obs, targets = _inputs(tiny.config, tokenizer, instructions)
    loss32, g32 = _loss_and_grads(tiny, obs, targets, bf16=False)
    loss16, g16 = _loss_and_grads(tiny, obs, targets, bf16=True)
    assert torch.isfinite(torch.tensor(loss16))
    assert abs(loss16 - loss32) <= 0.02 * abs(loss32), (loss16, loss32)
    assert g16.keys() == g32.keys()
    layer0 = "language_model.model.layers.0."
    for name in ("self_attn.q_proj.weight", "self_attn.q_proj_mot_gen.weight", "mlp.up_proj.weight",
                 "mlp_mot_gen.up_proj.weight", "self_attn.q_norm.weight", "self_attn.k_norm_mot_gen.weight"):
        assert layer0 + name in g16, name
    for name, g in g16.items():
        assert g.dtype == torch.float32 and torch.isfinite(g).all(), name
    flat16 = torch.cat([g.flatten() for g in g16.values()])
    flat32 = torch.cat([g32[n].flatten() for n in g16])
    cos = torch.nn.functional.cosine_similarity(flat16, flat32, dim=0)
    assert cos > 0.99, float(cos)


def test_bf16_autocast_keeps_queries_keys_values_in_bf16_and_samples_like_fp32(tiny, tokenizer):
    obs, _ = _inputs(tiny.config, tokenizer, PADDED)
    tiny.eval()
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            cache, _ = tiny.prefill(tiny.embed_prefix(obs))
            a16 = tiny.sample(obs, generator=torch.Generator().manual_seed(1))
        a32 = tiny.sample(obs, generator=torch.Generator().manual_seed(1))
    finally:
        tiny.train()
    # Both experts' keys/values are packed in the autocast dtype (no float32 promotion of one of them).
    assert {k.dtype for k, v in cache} == {v.dtype for k, v in cache} == {torch.bfloat16}
    assert a16.dtype == torch.float32 and torch.isfinite(a16).all()
    assert (a16 - a32).abs().max() < 0.05 * a32.abs().max(), float((a16 - a32).abs().max())


def test_precision_setting_is_validated():
    assert autocast_bf16("auto", torch.device("cuda", 0))
    assert not autocast_bf16("auto", torch.device("cpu"))
    assert autocast_bf16("bf16", torch.device("cpu"))
    assert not autocast_bf16("fp32", torch.device("cuda", 0))
    with pytest.raises(ValueError, match="'fp16'"):
        autocast_bf16("fp16", torch.device("cpu"))


def test_unknown_compile_scope_is_named(tiny):
    with pytest.raises(ValueError, match="'graph'"):
        compile_model(tiny, "graph")


@pytest.mark.parametrize("setting", ["precision=fp16", "compile=graph"])
def test_h05_train_refuses_bad_precision_or_compile_before_writing_anything(tmp_path, setting):
    from h05.training.command import compose
    from h05.training.trainer import TrainConfigError, train

    out = tmp_path / "run"
    cfg = compose([f"out={out}", "progress=false", "device=cpu", setting])
    with pytest.raises(TrainConfigError, match=repr(setting.split("=")[1])):
        train(cfg)
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("instructions", [PADDED, DENSE], ids=["padded", "dense"])
def test_compiled_layers_train_like_eager_under_bf16_autocast(tokenizer, instructions):
    """Inductor (CPU) on every ViT and MoT layer, forward and backward: same loss and gradients."""
    torch.manual_seed(0)
    model = BeingH05(BeingHConfig.preset("tiny")).train()
    obs, targets = _inputs(model.config, tokenizer, instructions)
    loss_e, g_e = _loss_and_grads(model, obs, targets, bf16=True)
    compiled = compile_model(model, "layers")
    assert len(compiled) == len(model.vit_model.encoder.layer) + len(model.language_model.model.layers)
    loss_c, g_c = _loss_and_grads(model, obs, targets, bf16=True)
    assert abs(loss_c - loss_e) <= 1e-2 * abs(loss_e), (loss_c, loss_e)
    assert g_c.keys() == g_e.keys()
    flat_c = torch.cat([g.flatten() for g in g_c.values()])
    flat_e = torch.cat([g_e[n].flatten() for n in g_c])
    assert torch.nn.functional.cosine_similarity(flat_c, flat_e, dim=0) > 0.99
