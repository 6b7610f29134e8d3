"""h05 train under torchrun (DDP, gloo on CPU) and through submitit (cluster=local): slow, ~1-2 min each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demos(tmp_path_factory) -> Path:
    from envs.twins.demos import record_embodiment

    return record_embodiment("so101", ["place_on_pad"], 1, tmp_path_factory.mktemp("demos"), progress=False)


def _run(demos: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "evaluators.cli", "train", f"datasets=[{{path: {demos}}}]", "model.preset=tiny",
           "train.steps=2", "train.batch_size=2", f"out={out}", "progress=false", "save_tokenizer=false",
           "data.decode_threads=1", *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl")))


@pytest.mark.slow
def test_torchrun_ddp_two_processes(demos, tmp_path):
    r = _run(demos, tmp_path / "ddp", "launcher.nproc_per_node=2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "ddp" / "final" / "model.safetensors").is_file()


@pytest.mark.slow
def test_submitit_local_cluster(demos, tmp_path):
    r = _run(demos, tmp_path / "sub", "launcher.name=slurm", "launcher.cluster=local", "launcher.wait=true")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "sub" / "final" / "training_manifest.json").is_file()
