"""``H05Policy`` through the evaluator's policy registry, on a tiny checkpoint in the released layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs.unified_space import UNIFIED_DIM
from evaluators.policies import make_policy
from evaluators.policy import EpisodeInfo, Policy, PolicyInput, check_chunks
from h05.checkpoint import save_checkpoint
from h05.config import BeingHConfig
from h05.modeling.being_h05 import BeingH05
from h05.normalization import DatasetMetadata, MetadataError, SideStats
from h05.policy import PolicyInputError
from h05.tokens import load_tokenizer

MASK = np.zeros(UNIFIED_DIM, bool)
MASK[[0, 1, 2, 3, 4, 5, 18]] = True


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("ckpt")
    stats = {"mean": np.full(UNIFIED_DIM, 5.0), "std": np.full(UNIFIED_DIM, 2.0)}
    meta = DatasetMetadata({"libero_franka": {"state": SideStats("mean_std", stats),
                                              "action": SideStats("mean_std", stats, binary_slots=(18,))}})
    save_checkpoint(BeingH05(BeingHConfig.preset("tiny")), folder, tokenizer=load_tokenizer(),
                    metadata={"libero": meta})
    return folder


def _episode(i, embodiment="libero_franka"):
    return EpisodeInfo(f"ep{i}", "libero", "t", "put the bowl on the plate", embodiment, 41 + i, MASK, np.zeros(200))


def _row(i, step=0, prefix=None, seed=0):
    rng = np.random.default_rng(seed + i)
    obs = {"images": {"agentview": rng.integers(0, 255, (128, 128, 3), dtype=np.uint8),
                      "wrist": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)},
           "state": rng.normal(size=200).astype(np.float32), "state_mask": MASK.copy(),
           "instruction": "put the bowl on the plate", "embodiment": "libero_franka", "task": "t"}
    return PolicyInput(f"ep{i}", obs, step, prefix)


def test_h05_policy_infers_batched_denormalised_deterministic_chunks(checkpoint):
    policy = make_policy({"name": "h05", "checkpoint": str(checkpoint), "dtype": "float32"})
    assert isinstance(policy, Policy) and policy.needs_images and policy.chunk_length == 16
    for i in range(3):
        policy.reset(_episode(i))
    out = check_chunks(policy.infer([_row(0), _row(1), _row(2)]), 3, 16, "h05")
    assert (out[:, :, ~MASK] == 0).all()                         # unmapped slots stay zero
    assert set(np.unique(out[:, :, 18])) <= {0.0, 1.0}           # binary gripper slot
    assert abs(out[:, :, :6].mean() - 5.0) < 2.0                 # de-normalised around the stats' mean
    again = policy.infer([_row(2), _row(0)])
    np.testing.assert_allclose(again[1], out[0], atol=1e-4)       # independent of batch composition
    assert not np.allclose(policy.infer([_row(0, step=8)])[0], out[0])
    d = policy.describe()
    assert d["name"] == "h05" and len(d["weights_sha256"]) == 16 and d["dataset"] == "libero"


def test_h05_policy_returns_the_uac_prefix_unchanged(checkpoint):
    policy = make_policy({"name": "h05", "checkpoint": str(checkpoint), "dtype": "float32"})
    policy.reset(_episode(0))
    policy.reset(_episode(1))
    prefix = (np.random.default_rng(0).normal(size=(5, 200)) * MASK).astype(np.float32)
    out = policy.infer([_row(0, prefix=prefix), _row(1)])
    assert np.array_equal(out[0, :5], prefix)
    with pytest.raises(PolicyInputError, match="prefix has shape"):
        policy.infer([_row(0, prefix=np.zeros((16, 200), np.float32))])


def test_h05_policy_rejects_unknown_episodes_embodiments_and_datasets(checkpoint):
    policy = make_policy({"name": "h05", "checkpoint": str(checkpoint), "dtype": "float32"})
    with pytest.raises(PolicyInputError, match="'ep0' was not reset"):
        policy.infer([_row(0)])
    with pytest.raises(MetadataError, match="'gr1_humanoid'"):
        policy.reset(_episode(0, embodiment="gr1_humanoid"))
    with pytest.raises(MetadataError, match="no robocasa_metadata.json"):
        make_policy({"name": "h05", "checkpoint": str(checkpoint), "dataset": "robocasa"})
    with pytest.raises(ValueError, match="chunk_length=8"):
        make_policy({"name": "h05", "checkpoint": str(checkpoint), "chunk_length": 8})


def test_image_preprocessing_is_the_same_per_frame_batched_and_for_mixed_sizes():
    from h05.policy import preprocess_images

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(3)]
    batched = preprocess_images(frames, 112)
    alone = torch.cat([preprocess_images([f], 112) for f in frames])
    assert batched.shape == (3, 3, 112, 112) and torch.equal(batched, alone)
    mixed = preprocess_images([frames[0], rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)], 112)
    assert mixed.shape == (2, 3, 112, 112) and torch.equal(mixed[0], batched[0])


def test_batch_invariant_rows_do_not_depend_on_their_batch_bit_for_bit(checkpoint):
    def episode(i, instruction):
        return EpisodeInfo(f"ep{i}", "libero", "t", instruction, "libero_franka", 41 + i, MASK, np.zeros(200))

    policy = make_policy({"name": "h05", "checkpoint": str(checkpoint), "dtype": "float32", "batch_invariant": 3,
                          "prompt_width": 40})
    policy.reset(episode(0, "put the bowl on the plate"))
    policy.reset(episode(1, "open the top drawer of the cabinet and put the black bowl inside it"))
    policy.reset(episode(2, "stack"))
    alone = policy.infer([_row(0)])
    mixed = policy.infer([_row(1), _row(2), _row(0), _row(1)])  # 4 rows: two forwards of 3
    assert mixed.shape == (4, 16, UNIFIED_DIM)
    assert np.array_equal(mixed[2], alone[0]) and np.array_equal(mixed[3], mixed[0])
    assert policy.describe()["batch_invariant"] == 3
    policy.reset(episode(3, " ".join(["word"] * 60)))
    with pytest.raises(ValueError, match=r"more than the fixed prompt width 40"):
        policy.infer([_row(3)])
    with pytest.raises(ValueError, match=r"batch_invariant must be a batch size >= 1"):
        make_policy({"name": "h05", "checkpoint": str(checkpoint), "batch_invariant": -2})


def test_batch_buckets_pad_forwards_to_a_few_shapes(checkpoint, monkeypatch):
    """With buckets (the default with CUDA graphs) forwards come in a few shapes, not one per batch met."""
    def episode(i, instruction):
        return EpisodeInfo(f"ep{i}", "libero", "t", instruction, "libero_franka", 41 + i, MASK, np.zeros(200))

    policy = make_policy({"name": "h05", "checkpoint": str(checkpoint), "dtype": "float32",
                          "batch_buckets": [1, 2, 4], "prompt_width": 40})
    assert policy.batch_buckets == [1, 2, 4] and policy.describe()["batch_buckets"] == [1, 2, 4]
    for i, text in enumerate(["stack", "put the bowl on the plate", " ".join(["word"] * 30)]):
        policy.reset(episode(i, text))
    shapes = []
    real_sample = policy._sample
    monkeypatch.setattr(policy, "_sample", lambda obs, *a: shapes.append(tuple(obs.prompt.input_ids.shape))
                        or real_sample(obs, *a))
    out = policy.infer([_row(0), _row(1), _row(0)])  # 3 rows -> one forward of 4
    assert out.shape == (3, 16, UNIFIED_DIM) and np.isfinite(out).all()
    policy.infer([_row(1)])
    policy.infer([_row(0)] * 5)  # 5 rows -> 4 + 1
    widths = {n for _, n in shapes}
    assert [b for b, _ in shapes] == [4, 1, 4, 1] and len(widths) == 1  # one prompt width for any instructions
    shapes.clear()
    policy.infer([_row(2)])  # a 30-word instruction widens its forward to the next multiple of 16 tokens
    grown = shapes[0][1] - (next(iter(widths)) - 40)  # instruction tokens of that forward
    assert grown > 40 and grown % 16 == 0
    assert make_policy({"name": "h05", "checkpoint": str(checkpoint)}).batch_buckets is None  # auto: off on the CPU
    with pytest.raises(ValueError, match=r"batch_buckets must be 'auto', null or a list of batch sizes >= 1, got \[0\]"):
        make_policy({"name": "h05", "checkpoint": str(checkpoint), "batch_buckets": [0]})


def test_rows_with_different_camera_counts_are_answered_in_one_call(checkpoint):
    """Cross-embodiment batches: each camera count gets its own forward, rows come back in order."""
    policy = make_policy({"name": "h05", "checkpoint": str(checkpoint), "dtype": "float32"})
    for i in range(3):
        policy.reset(_episode(i))
    one_cam = _row(1)
    del one_cam.observation["images"]["wrist"]
    alone = [policy.infer([_row(0)])[0], policy.infer([one_cam])[0], policy.infer([_row(2)])[0]]
    mixed = policy.infer([_row(0), one_cam, _row(2)])
    np.testing.assert_allclose(mixed[0], alone[0], atol=1e-4)
    assert np.array_equal(mixed[1], alone[1])  # alone in its group: the same single-row forward
    np.testing.assert_allclose(mixed[2], alone[2], atol=1e-4)
