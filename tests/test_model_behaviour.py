"""Behaviour of the Being-H0.5 model on the tiny preset: learning, KV cache, UAC, MPG, MoF, motion tokens."""

from __future__ import annotations

import pytest
import torch

from h05.config import BeingHConfig
from h05.modeling import uac
from h05.modeling.being_h05 import BeingH05, Observation, TrainingTargets
from h05.modeling.mpg import ManifoldPreservingGate, mpg_gate, sliced_wasserstein
from h05.tokens import PromptBuilder, load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def _batch(cfg, tokenizer, instructions, seed=0):
    g = torch.Generator().manual_seed(seed)
    b = len(instructions)
    prompt = PromptBuilder(tokenizer, cfg.image_tokens_per_camera, cfg.action_chunk_length).build(instructions, 2)
    s = cfg.force_image_size
    return Observation(prompt, torch.randn(b, 2, 3, s, s, generator=g), torch.randn(b, 200, generator=g))


def _targets(b, seed=0, embodiments=None):
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(b, 200, dtype=torch.bool)
    mask[:, :7] = True
    actions = torch.randn(b, 16, 200, generator=g) * mask[:, None]
    return TrainingTargets(actions, mask, embodiments or ["libero"] * b)


def _train(model, obs, targets, steps, lr=3e-3, seed=0, fixed_draws=False):
    # The 151,936-row token embedding and LM head stay frozen (as when fine-tuning actions only): a dense
    # Adam step over them would dominate the CPU time of these tests.
    frozen = ("language_model.model.embed_tokens.", "language_model.lm_head.")
    params = [p for n, p in model.named_parameters() if not n.startswith(frozen)]
    opt = torch.optim.Adam(params, lr=lr)
    g = torch.Generator().manual_seed(seed)
    history = []
    model.train()
    for _ in range(steps):
        if fixed_draws:  # the same flow times and noise every step: a pure one-batch regression
            g = torch.Generator().manual_seed(seed)
        out = model.training_loss(obs, targets, g)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        history.append({k: float(v.detach()) for k, v in out.items()})
    model.eval()
    return history


def test_overfitting_one_batch_makes_the_flow_loss_fall(tokenizer):
    torch.manual_seed(0)
    cfg = BeingHConfig.preset("tiny")
    model = BeingH05(cfg)
    obs, targets = _batch(cfg, tokenizer, ["pick up the bowl", "close the drawer"]), _targets(2)
    hist = _train(model, obs, targets, 15, lr=5e-3, fixed_draws=True)
    first = hist[0]["flow_loss"]
    last = sum(h["flow_loss"] for h in hist[-3:]) / 3
    assert last < 0.5 * first, (first, last)


def test_kv_cache_equals_recompute_and_sampling_is_deterministic(tokenizer):
    torch.manual_seed(1)
    cfg = BeingHConfig.preset("tiny", use_mpg=True)
    model = BeingH05(cfg).eval()
    obs = _batch(cfg, tokenizer, ["stack the blocks", "turn on the stove and wait"])
    noise = torch.randn(2, 16, 200, generator=torch.Generator().manual_seed(5))
    cached = model.sample(obs, noise=noise, use_cache=True)
    full = model.sample(obs, noise=noise, use_cache=False)
    assert cached.shape == (2, 16, 200)
    torch.testing.assert_close(cached, full, rtol=1e-5, atol=1e-5)
    assert torch.equal(model.sample(obs, noise=noise), cached)
    assert not torch.allclose(model.sample(obs, noise=noise * 0.5), cached)
    # a row's chunk does not depend on the other rows (padding of the instruction is masked out)
    one = _batch(cfg, tokenizer, ["stack the blocks"])
    alone = model.sample(Observation(one.prompt, obs.pixel_values[:1], obs.state[:1]), noise=noise[:1])
    torch.testing.assert_close(alone, cached[:1], rtol=1e-4, atol=1e-4)


def test_uac_keeps_the_committed_prefix_exactly_and_trains_on_the_suffix(tokenizer):
    torch.manual_seed(2)
    cfg = BeingHConfig.preset("tiny", use_training_time_rtc=True, h05_uac_max_delay={"libero": 4, "so101": 1})
    model = BeingH05(cfg).eval()
    obs = _batch(cfg, tokenizer, ["a", "b", "c"])
    prefix = torch.randn(3, 16, 200)
    delays = torch.tensor([0, 3, 7])
    out = model.sample(obs, prefix=prefix, delays=delays)
    assert torch.equal(out[1, :3], prefix[1, :3]) and torch.equal(out[2, :7], prefix[2, :7])
    assert not torch.allclose(out[1, 3:], prefix[1, 3:])
    free = model.sample(obs, noise=torch.zeros(3, 16, 200))
    with_prefix = model.sample(obs, noise=torch.zeros(3, 16, 200), prefix=prefix, delays=delays)
    torch.testing.assert_close(with_prefix[0], free[0])      # d = 0 changes nothing
    assert not torch.allclose(with_prefix[1, 3:], free[1, 3:])  # the suffix is conditioned on the prefix
    d = uac.sample_delays(["libero"] * 4000 + ["so101"] * 10, {"libero": 4, "so101": 1}, True,
                          torch.Generator().manual_seed(0))
    lib = d[:4000]
    assert lib.max() == 3 and lib.min() == 0 and (d[4000:] == 0).all()
    counts = torch.bincount(lib, minlength=4).float()
    assert counts[0] > counts[1] > counts[2] > counts[3]      # weights ~ exp(-d)
    out = model.training_loss(obs, _targets(3, embodiments=["libero"] * 3), torch.Generator().manual_seed(0))
    assert torch.isfinite(out["loss"])


def test_mpg_gate_lies_in_0_1_is_1_when_features_coincide_and_carries_no_gradient(tokenizer):
    dirs = torch.nn.functional.normalize(torch.randn(8, 32), dim=0)
    x = torch.randn(2, 5, 8)
    assert torch.allclose(mpg_gate(sliced_wasserstein(x, x, dirs), 1.0), torch.ones(2))
    far = mpg_gate(sliced_wasserstein(x, x + 3.0 * torch.randn(2, 5, 8), dirs), 1.0)
    assert ((far > 0) & (far < 1)).all()
    mpg = ManifoldPreservingGate(8, 8, 32, lam=0.1, tau=1.0)
    with torch.no_grad():
        for lin in (mpg.obs_proj, mpg.action_proj):
            lin.weight.copy_(torch.eye(8))
            lin.bias.zero_()
    v = torch.randn(2, 1, 8)
    obs_tokens = v.expand(2, 6, 8).clone().requires_grad_(True)
    anchor = v.expand(2, 16, 8).clone()
    h, g = mpg(obs_tokens, anchor)
    assert torch.allclose(g, torch.ones(2)) and not g.requires_grad
    g2 = mpg.gate(torch.randn(2, 6, 8), anchor)
    assert ((g2 > 0) & (g2 <= 1)).all() and (g2 < 1).all()
    # the full model reports the gate in training and uses it
    cfg = BeingHConfig.preset("tiny", use_mpg=True)
    model = BeingH05(cfg)
    out = model.training_loss(_batch(cfg, tokenizer, ["x", "y"]), _targets(2), torch.Generator().manual_seed(0))
    assert 0 < float(out["mpg_gate"]) <= 1


def test_mof_routes_distinct_embodiments_to_distinct_experts_after_short_training(tokenizer):
    torch.manual_seed(3)
    cfg = BeingHConfig.preset("tiny", h05_use_mof=True, h05_mof_num_experts=2, h05_mof_top_k=1,
                              h05_mof_shared_layers=1, h05_mof_balance_weight=0.5)
    model = BeingH05(cfg)
    names = {k for k in model.state_dict() if "experts" in k}
    assert names and all("layers.1.mlp_mot_gen.experts." in k for k in names)  # layer 0 stays shared
    instr = ["franka: pick up the cube"] * 2 + ["humanoid: wave the right hand"] * 2
    obs = _batch(cfg, tokenizer, instr)
    obs.state[:2] = torch.linspace(-1, 1, 200)
    obs.state[2:] = -torch.linspace(-1, 1, 200)
    targets = _targets(4, embodiments=["franka"] * 2 + ["humanoid"] * 2)
    targets.actions[:2] = targets.actions[0]
    targets.actions[2:] = -targets.actions[0]
    _train(model, obs, targets, 15, lr=3e-3)
    with torch.no_grad():
        chosen = model.embed_prefix(obs).routing.chosen
    assert len(set(chosen[:2].tolist())) == 1 and len(set(chosen[2:].tolist())) == 1
    assert chosen[0] != chosen[2]
    off = BeingHConfig.preset("tiny")
    assert not any("experts" in k or "mof" in k for k in BeingH05(off).state_dict())


def test_masked_motion_tokens_and_flow_answer_are_mutually_invisible(tokenizer):
    torch.manual_seed(4)
    cfg = BeingHConfig.preset("tiny", h05_use_motion_tokens=True, h05_motion_codebook_size=32)
    model = BeingH05(cfg).eval()
    obs = _batch(cfg, tokenizer, ["wave", "grasp"])
    pre = model.embed_prefix(obs)
    answer = torch.randn(2, 16, cfg.expert_config["hidden_size"])
    m1 = model.motion_tokens.embed(torch.randint(0, 33, (2, 16)))
    m2 = model.motion_tokens.embed(torch.randint(0, 33, (2, 16)))
    with torch.no_grad():
        a1, h1 = model._run_full(pre, answer, m1)
        a2, h2 = model._run_full(pre, answer, m2)
        a3, h3 = model._run_full(pre, answer * 2, m1)
        a0, _ = model._run_full(pre, answer)
    torch.testing.assert_close(a1, a2)   # flow answer does not see the motion tokens
    torch.testing.assert_close(a1, a0)   # ... and equals the flow-only pass
    torch.testing.assert_close(h1, h3)   # motion tokens do not see the flow answer
    assert not torch.allclose(h1, h2)
    targets = _targets(2)
    targets.motion_codes = torch.randint(0, 32, (2, 16), generator=torch.Generator().manual_seed(0))
    hist = _train(model, obs, targets, 10, lr=5e-3, fixed_draws=True)
    assert "motion_loss" in hist[0]
    assert hist[-1]["motion_loss"] < hist[0]["motion_loss"], [h["motion_loss"] for h in hist]
