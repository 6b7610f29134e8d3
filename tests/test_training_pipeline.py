"""h05 train on a small real demo dataset written by the twins recorder (CPU, tiny preset).

Covers: a few training steps end to end (released-layout checkpoint, manifest,
H05Policy gives finite chunks), kill mid-run + resume = same data order and
optimizer state as an uninterrupted run, bad data errors before training,
post-training freezes what it should (the shipped checkpoint: tests/test_shipped_checkpoint.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from h05.data.lerobot import DatasetError, open_dataset
from h05.training.command import compose
from h05.training.trainer import MANIFEST_FILE, STATE_FILE, TrainConfigError, train

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demos(tmp_path_factory) -> Path:
    """Two expert episodes of place_on_pad on so101, written by `h05 demos` code."""
    from envs.twins.demos import record_embodiment

    out = tmp_path_factory.mktemp("demos")
    return record_embodiment("so101", ["place_on_pad"], 2, out, progress=False)


def _cfg(demos: Path, out: Path, *extra: str) -> dict:
    return compose([f"datasets=[{{path: {demos}, weight: 1}}]", "model.preset=tiny", "train.steps=4",
                    "train.batch_size=2", "train.warmup=1", "train.save_every=2", f"out={out}", "progress=false",
                    "benchmark=twins", "metadata_name=twins", "save_tokenizer=false", "data.decode_threads=1",
                    *extra])


@pytest.fixture(scope="module")
def trained(demos, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = _cfg(demos, out)
    return cfg, train(cfg)


def test_train_writes_released_checkpoint_and_manifest(trained):
    cfg, summary = trained
    assert summary["steps"] == 4 and all(np.isfinite(h["loss"]) for h in summary["history"])
    final = Path(summary["checkpoint"])
    assert (final / "config.json").is_file() and (final / "model.safetensors").is_file()
    assert (final / "twins_metadata.json").is_file()
    manifest = json.loads((final / MANIFEST_FILE).read_text())
    assert manifest["format"] == "h05-training-manifest/1"
    assert manifest["trained"] == [{"task": "place_on_pad", "embodiment": "so101", "benchmark": "twins"}]


def test_flow_noise_differs_between_steps():
    from h05.training.trainer import flow_seed

    seeds = {flow_seed(0, s, r) for s in range(200) for r in range(4)}
    assert len(seeds) == 800
    a = torch.randn(4, generator=torch.Generator().manual_seed(flow_seed(0, 1, 0)))
    b = torch.randn(4, generator=torch.Generator().manual_seed(flow_seed(0, 2, 0)))
    assert not torch.equal(a, b)


def test_trained_checkpoint_runs_in_h05_policy(trained, demos):
    from evaluators.policy import EpisodeInfo, PolicyInput
    from h05.policy import H05Policy

    _, summary = trained
    ds = open_dataset(demos)
    policy = H05Policy(summary["checkpoint"], dtype="float32")
    mask = ds.action_mask
    policy.reset(EpisodeInfo(episode_id="e0", benchmark="twins", task="place_on_pad@so101", embodiment="so101",
                             instruction=ds.tasks[0], seed=0, action_mask=mask, noop_action=np.zeros(200, np.float32)))
    img = np.zeros((224, 224, 3), np.uint8)
    obs = {"images": {c: img for c in ds.cameras}, "state": ds.state[0], "state_mask": ds.state_mask,
           "instruction": ds.tasks[0], "embodiment": "so101", "task": "place_on_pad@so101"}
    chunk = policy.infer([PolicyInput(episode_id="e0", observation=obs, step=0)])
    assert chunk.shape == (1, 16, 200) and np.isfinite(chunk).all()
    assert np.all(chunk[0][:, ~mask] == 0)


def test_kill_and_resume_matches_uninterrupted(demos, tmp_path, trained):
    _, full = trained
    out = tmp_path / "killed"
    cfg = _cfg(demos, out)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, stop_after=3)                      # dies after step 3; last saved state is step 2
    st = torch.load(out / STATE_FILE, weights_only=False)
    assert st["step"] == 2
    resumed = train(_cfg(demos, out))
    assert [h["batch"] for h in resumed["history"]] == [h["batch"] for h in full["history"]]
    assert [h["loss"] for h in resumed["history"]] == pytest.approx([h["loss"] for h in full["history"]], rel=1e-5)
    a = torch.load(out / STATE_FILE, weights_only=False)
    b = torch.load(Path(full["checkpoint"]).parent / STATE_FILE, weights_only=False)
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=1e-5, atol=1e-6)
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        torch.testing.assert_close(sa["exp_avg"], sb["exp_avg"], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(sa["exp_avg_sq"], sb["exp_avg_sq"], rtol=1e-5, atol=1e-9)
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 4


def _copy(demos: Path, tmp: Path) -> Path:
    dst = tmp / "ds" / demos.name
    shutil.copytree(demos, dst)
    return dst


def test_missing_stats_is_an_error_before_training(demos, tmp_path):
    bad = _copy(demos, tmp_path)
    (bad / "meta" / "stats.json").unlink()
    with pytest.raises(DatasetError, match="stats.json is missing"):
        train(_cfg(bad, tmp_path / "o"))
    assert not (tmp_path / "o" / STATE_FILE).exists()


def test_nan_actions_are_an_error(demos, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    bad = _copy(demos, tmp_path)
    f = bad / "data" / "chunk-000" / "file-000.parquet"
    t = pq.read_table(f)
    acts = np.stack(t.column("action").to_pylist()).astype(np.float32)
    acts[5, 0] = np.nan
    t = t.set_column(t.column_names.index("action"), "action", pa.array(acts.tolist(), type=pa.list_(pa.float32(), 200)))
    pq.write_table(t, f)
    with pytest.raises(DatasetError, match="NaN"):
        train(_cfg(bad, tmp_path / "o"))


def test_features_not_matching_the_embodiment_are_an_error(demos, tmp_path):
    # so101 data declared as d1 (values in slots d1 does not map), and a wrong native width
    with pytest.raises(DatasetError, match="does not map|maps"):
        train(_cfg(demos, tmp_path / "o", "datasets=[{path: %s, embodiment: d1}]" % demos))
    bad = _copy(demos, tmp_path)
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = bad / "data" / "chunk-000" / "file-000.parquet"
    t = pq.read_table(f)
    acts = np.stack(t.column("action").to_pylist()).astype(np.float32)[:, :5]
    t = t.set_column(t.column_names.index("action"), "action", pa.array(acts.tolist(), type=pa.list_(pa.float32(), 5)))
    pq.write_table(t, f)
    with pytest.raises(DatasetError, match="5 features"):
        open_dataset(bad)


def test_post_training_freezes_what_it_should(trained, demos, tmp_path):
    from h05.checkpoint import load_checkpoint

    _, summary = trained
    base, _, _ = load_checkpoint(summary["checkpoint"], dtype="float32")
    before = {k: v.clone() for k, v in base.state_dict().items()}
    for mode, extra in (("action_expert", []), ("embodiment_slots", ["train.embodiment=so101"])):
        out = tmp_path / mode
        cfg = _cfg(demos, out, f"model.init_checkpoint={summary['checkpoint']}", f"train.trainable={mode}",
                   "train.steps=2", "train.lr=1e-2", *extra)
        res = train(cfg)
        after, _, _ = load_checkpoint(res["checkpoint"], dtype="float32")
        sd = after.state_dict()
        changed = {k for k in sd if not torch.equal(sd[k], before[k])}
        assert changed, mode
        if mode == "action_expert":
            assert not any(k.startswith(("vit_model.", "connector.")) for k in changed)
            assert not any("layers." in k and "_mot_gen" not in k and "experts" not in k for k in changed), changed
            assert "language_model.model.embed_tokens.weight" not in changed
        else:
            assert changed <= {"action_encoder.W1.weight", "action_decoder.layer2.weight", "action_decoder.layer2.bias"}
            from envs.unified_space import embodiment

            m = torch.from_numpy(embodiment("so101").mask("action"))
            d = (sd["action_decoder.layer2.weight"] - before["action_decoder.layer2.weight"]).abs().sum(1)
            assert torch.all(d[~m] == 0) and torch.any(d[m] > 0)
    with pytest.raises(TrainConfigError):
        train(_cfg(demos, tmp_path / "x", f"model.init_checkpoint={summary['checkpoint']}",
                   "train.trainable=embodiment_slots"))
