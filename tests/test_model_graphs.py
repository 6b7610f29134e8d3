"""The fast sampling path: fixed KV tail buffers, cached prompt layout, CUDA-graph replay (GPU only)."""

from __future__ import annotations

import os

import pytest
import torch

from h05.config import BeingHConfig
from h05.modeling.being_h05 import BeingH05, Observation, prompt_layout
from h05.tokens import PromptBuilder, load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(os.environ.get("H05_TOKENIZER_DIR"))  # a copied tokenizer folder on GPU machines


def _obs(cfg, tokenizer, instructions, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    prompt = PromptBuilder(tokenizer, cfg.image_tokens_per_camera, cfg.action_chunk_length).build(instructions, 2)
    s, b = cfg.force_image_size, len(instructions)
    return Observation(prompt.to(device), torch.randn(b, 2, 3, s, s, generator=g).to(device),
                       torch.randn(b, 200, generator=g).to(device))


def test_cached_steps_with_tail_buffers_equal_concatenated_cache_and_layout_is_computed_once(tokenizer):
    torch.manual_seed(3)
    cfg = BeingHConfig.preset("tiny")
    model = BeingH05(cfg).eval()
    obs = _obs(cfg, tokenizer, ["open the drawer", "put the cup on the plate please"])
    layout = prompt_layout(obs.prompt)
    assert prompt_layout(obs.prompt) is layout
    with torch.no_grad():
        pre = model.embed_prefix(obs)
        kv, n_valid = model.prefill(pre)
        answer = torch.randn(2, cfg.action_chunk_length, cfg.expert_config["hidden_size"])
        concat = model._run_cached(pre, kv, n_valid, answer)
        tail = model._run_cached(pre, model._answer_cache(kv), n_valid, answer)
    torch.testing.assert_close(tail, concat, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_graphed_sampler_replays_the_eager_sample(tokenizer):
    from h05.modeling.graphs import GraphedSampler

    torch.manual_seed(4)
    cfg = BeingHConfig.preset("tiny")
    model = BeingH05(cfg).cuda().eval()
    obs = _obs(cfg, tokenizer, ["a", "b b b"], device="cuda")
    g = GraphedSampler(model, obs.prompt, 2, 4)
    for seed in (1, 2):
        noise = torch.randn(2, 16, 200, generator=torch.Generator().manual_seed(seed)).cuda()
        other = _obs(cfg, tokenizer, ["a", "b b b"], device="cuda", seed=seed)
        eager = model.sample(other, noise=noise, steps=4)
        torch.testing.assert_close(g(other, noise), eager, rtol=1e-4, atol=1e-4)
