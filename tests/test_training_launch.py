"""h05 train under torchrun (DDP and FSDP2, gloo on CPU), through submitit (cluster=local) and on the real
local Slurm cluster (slurm/cluster.sh; fixture ``slurm_cluster`` in conftest.py): slow, ~1-3 min each."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
# Large enough steps that a wrong update (e.g. an optimizer holding unsharded copies) changes the losses.
FSDP_COMPARE = ("launcher.nproc_per_node=2", "train.warmup=0", "train.lr=1e-3", "train.save_every=2",
                "save_dtype=float32")


@pytest.fixture(scope="module")
def demos(tmp_path_factory) -> Path:
    from envs.twins.demos import record_embodiment

    return record_embodiment("so101", ["place_on_pad"], 1, tmp_path_factory.mktemp("demos"), progress=False)


def _cmd(demos: Path, out: Path, *extra: str, steps: int = 2) -> list[str]:
    return [sys.executable, "-m", "evaluators.cli", "train", f"datasets=[{{path: {demos}}}]", "model.preset=tiny",
            f"train.steps={steps}", "train.batch_size=2", f"out={out}", "progress=false", "save_tokenizer=false",
            "data.decode_threads=1", *extra]


def _env() -> dict:
    return dict(os.environ, MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))


def _run(demos: Path, out: Path, *extra: str, steps: int = 2) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(demos, out, *extra, steps=steps), cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=_env())


def _history(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]


def _weights(final: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(final / "model.safetensors"))


@pytest.mark.slow
def test_torchrun_ddp_two_processes(demos, tmp_path):
    r = _run(demos, tmp_path / "ddp", "launcher.nproc_per_node=2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "ddp" / "final" / "model.safetensors").is_file()


@pytest.mark.slow
def test_fsdp_matches_ddp_and_resumes_after_kill(demos, tmp_path):
    from h05.checkpoint import load_checkpoint

    steps = 6
    ddp, fsdp, killed = tmp_path / "ddp", tmp_path / "fsdp", tmp_path / "killed"
    r = _run(demos, ddp, *FSDP_COMPARE, steps=steps)
    assert r.returncode == 0, r.stderr[-3000:]
    r = _run(demos, fsdp, *FSDP_COMPARE, "distributed.strategy=fsdp", steps=steps)
    assert r.returncode == 0, r.stderr[-3000:]

    # Same seed, data and reductions: FSDP follows DDP's loss trajectory.
    h_ddp, h_fsdp = _history(ddp), _history(fsdp)
    assert [h["batch"] for h in h_fsdp] == [h["batch"] for h in h_ddp]
    np.testing.assert_allclose([h["loss"] for h in h_fsdp], [h["loss"] for h in h_ddp], rtol=1e-4)
    np.testing.assert_allclose([h["grad_norm"] for h in h_fsdp], [h["grad_norm"] for h in h_ddp], rtol=1e-4)
    assert h_fsdp[-1]["loss"] != h_fsdp[0]["loss"]
    # The gathered checkpoint is the released layout, loads strictly and equals DDP's weights.
    model, _, meta = load_checkpoint(fsdp / "final", dtype="float32")
    assert "train" in meta
    w_ddp, w_fsdp = _weights(ddp / "final"), _weights(fsdp / "final")
    assert w_ddp.keys() == w_fsdp.keys()
    for k in w_ddp:
        torch.testing.assert_close(w_fsdp[k], w_ddp[k], atol=2e-4, rtol=1e-3, msg=k)
    state = torch.load(fsdp / "train_state.pt", map_location="cpu", weights_only=False)
    assert state["strategy"] == "fsdp" and state["step"] == steps
    assert not any(hasattr(v, "full_tensor") for v in state["model"].values())  # full tensors, not shards

    # Kill the FSDP run (whole process group) once its first train_state.pt exists, then rerun it.
    proc = subprocess.Popen(_cmd(demos, killed, *FSDP_COMPARE, "distributed.strategy=fsdp", steps=steps), cwd=ROOT,
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not (killed / "train_state.pt").is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert not (killed / "final").exists(), "the run ended before it was killed"
    r = _run(demos, killed, *FSDP_COMPARE, "distributed.strategy=fsdp", steps=steps)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resumed from" in r.stderr
    h_res = _history(killed)
    assert [h["batch"] for h in h_res] == [h["batch"] for h in h_fsdp]
    np.testing.assert_allclose([h["loss"] for h in h_res], [h["loss"] for h in h_fsdp], rtol=1e-5)
    w_res = _weights(killed / "final")
    for k in w_fsdp:
        torch.testing.assert_close(w_res[k], w_fsdp[k], atol=1e-5, rtol=1e-5, msg=k)


@pytest.mark.slow
def test_strategy_is_checked(demos, tmp_path):
    r = _run(demos, tmp_path / "bad", "distributed.strategy=zero3")
    assert r.returncode != 0 and "distributed.strategy='zero3'" in r.stderr
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_submitit_local_cluster(demos, tmp_path):
    r = _run(demos, tmp_path / "sub", "launcher.name=slurm", "launcher.cluster=local", "launcher.wait=true")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "sub" / "final" / "training_manifest.json").is_file()


@pytest.mark.slow
@pytest.mark.slurm
def test_real_slurm_two_cpu_ranks(demos, tmp_path, slurm_cluster):
    from h05.checkpoint import load_checkpoint

    out = tmp_path / "slurm"
    r = _run(demos, out, "launcher.name=slurm", "launcher.cluster=slurm", "launcher.wait=true", "launcher.nodes=1",
             "launcher.gpus_per_node=0", "launcher.tasks_per_node=2", "launcher.cpus_per_task=1", "launcher.mem_gb=4",
             "launcher.timeout_min=20")
    assert r.returncode == 0, r.stderr[-3000:]
    job = re.search(r"submitted job (\d+) to slurm", r.stderr).group(1)
    manifest = json.loads((out / "final" / "training_manifest.json").read_text())
    launch = manifest["launch"]
    # Both ranks were Slurm tasks of this job (submitit's env -> torch.distributed, DDP over gloo).
    assert launch["world_size"] == 2 and launch["strategy"] == "ddp"
    assert launch["slurm"]["job_id"] == job and launch["slurm"]["ntasks"] == "2"
    assert manifest["steps"] == 2
    load_checkpoint(out / "final", dtype="float32")  # released layout, strict
    # Slurm's own record (no accounting daemon here: scontrol keeps finished jobs for MinJobAge).
    deadline = time.time() + 120
    while True:  # rank 0's result can arrive while the job is still ending
        shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True, check=True).stdout
        state = re.search(r"JobState=(\w+)", shown).group(1)
        if state not in ("RUNNING", "COMPLETING") or time.time() > deadline:
            break
        time.sleep(1)
    assert state == "COMPLETED", shown
    assert "NumTasks=2" in shown and "gres:gpu" not in shown, shown
    assert sorted(p.name for p in (out / "submitit").glob(f"{job}_*_log.out")) == [f"{job}_0_log.out", f"{job}_1_log.out"]


@pytest.mark.slow
@pytest.mark.slurm
def test_real_slurm_refuses_gpus_it_does_not_have(demos, tmp_path, slurm_cluster):
    out = tmp_path / "gpu"
    r = _run(demos, out, "launcher.name=slurm", "launcher.cluster=slurm", "launcher.gpus_per_node=1")
    assert r.returncode != 0
    assert "launcher.gpus_per_node=1" in r.stderr and "at most 0 GPU(s) per node" in r.stderr, r.stderr[-2000:]
    assert not (out / "submitit").exists()  # nothing submitted
