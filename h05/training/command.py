"""``h05 train [key=value ...]``: hydra config (h05/conf/train.yaml), local / torchrun / Slurm (submitit).

- ``launcher.name=local`` with ``launcher.nproc_per_node=1``: trains in this process;
- ``launcher.nproc_per_node=N``: re-launches itself under ``torch.distributed.run`` (DDP, or
  FSDP with ``distributed.strategy=fsdp``); the same command works when started by torchrun;
- ``launcher.name=slurm``: submits the same training through submitit (``launcher.cluster`` is
  passed explicitly: ``slurm``, or ``local``/``debug`` to try it without a cluster), one task per
  GPU, ``nodes x gpus_per_node`` ranks (env exported by submitit's TorchDistributedEnvironment).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Sequence

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
CHILD_ENV = "H05_TRAIN_CHILD"


def compose(overrides: Sequence[str]) -> dict:
    """The train config with ``overrides`` applied, resolved to plain containers."""
    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = hydra_compose(config_name="train", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


def _strip(overrides: Sequence[str], keys: Sequence[str]) -> list[str]:
    return [o for o in overrides if o.lstrip("+~").split("=", 1)[0] not in keys]


class _SlurmTraining:
    """Picklable callable submitit runs on every task: export the torch.distributed env, then train."""

    def __init__(self, overrides: Sequence[str]) -> None:
        self.overrides = list(overrides)

    def __call__(self) -> dict:
        import submitit

        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        from h05.training.trainer import train

        summary = train(compose(self.overrides))
        return {k: v for k, v in summary.items() if k != "history"}


def submit_slurm(cfg: dict, overrides: Sequence[str]):
    import submitit

    lc = cfg["launcher"]
    executor = submitit.AutoExecutor(folder=lc["folder"], cluster=lc["cluster"])
    params = {"nodes": int(lc["nodes"]), "tasks_per_node": int(lc["gpus_per_node"]),
              "gpus_per_node": int(lc["gpus_per_node"]), "cpus_per_task": int(lc["cpus_per_task"]),
              "timeout_min": int(lc["timeout_min"]), "mem_gb": int(lc["mem_gb"]), "name": "h05-train"}
    if lc["cluster"] != "slurm":
        params = {"timeout_min": params["timeout_min"], "tasks_per_node": 1}
    if lc.get("partition") and lc["cluster"] == "slurm":
        params["slurm_partition"] = lc["partition"]
    executor.update_parameters(**params)
    child = _strip(overrides, ["launcher.name"]) + ["launcher.name=local", "launcher.nproc_per_node=1"]
    job = executor.submit(_SlurmTraining(child))
    print(f"h05 train: submitted job {job.job_id} to {lc['cluster']} (logs in {lc['folder']})", file=sys.stderr)
    if lc.get("wait"):
        return job.result()
    return job


def train_main(argv: Sequence[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print("usage: h05 train [key=value ...]\n\nConfig: h05/conf/train.yaml; e.g.\n"
              "  h05 train 'datasets=[{path: datasets/twins/so101}]' model.preset=twins train.steps=2000 "
              "out=runs/train/so101\n  h05 train ... launcher.nproc_per_node=8            # torchrun, DDP\n"
              "  h05 train ... launcher.name=slurm launcher.nodes=2 launcher.gpus_per_node=8")
        return 0
    overrides = list(argv)
    cfg = compose(overrides)
    cfg["command"] = cfg.get("command") or "h05 train " + " ".join(shlex.quote(a) for a in overrides)
    lc = cfg["launcher"]
    if lc["name"] == "slurm":
        submit_slurm(cfg, overrides)
        return 0
    if lc["name"] != "local":
        from h05.training.trainer import TrainConfigError

        raise TrainConfigError(f"launcher.name={lc['name']!r}; use local or slurm")
    nproc = int(lc.get("nproc_per_node", 1))
    if nproc > 1 and "RANK" not in os.environ and not os.environ.get(CHILD_ENV):
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "-m", "evaluators.cli",
               "train", *_strip(overrides, ["launcher.nproc_per_node"]), "launcher.nproc_per_node=1"]
        env = dict(os.environ, **{CHILD_ENV: "1"})
        return subprocess.call(cmd, env=env)
    from h05.training.trainer import train

    summary = train(cfg)
    if "checkpoint" in summary:
        last = summary["history"][-1]["loss"] if summary["history"] else float("nan")
        print(f"h05 train: {summary['steps']} steps in {summary['seconds']:.0f}s, last loss {last:.4f}; "
              f"checkpoint {summary['checkpoint']}")
    return 0
