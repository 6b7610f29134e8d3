"""``h05 train [key=value ...]``: hydra config (h05/conf/train.yaml), local / torchrun / Slurm (submitit).

- ``launcher.name=local`` with ``launcher.nproc_per_node=1``: trains in this process;
- ``launcher.nproc_per_node=N``: re-launches itself under ``torch.distributed.run`` (DDP, or
  FSDP with ``distributed.strategy=fsdp``); the same command works when started by torchrun;
- ``launcher.name=slurm``: submits the same training through submitit (``launcher.cluster`` is
  passed explicitly: ``slurm``, or ``local``/``debug`` to try it without a cluster), one task per
  GPU, ``nodes x gpus_per_node`` ranks (env exported by submitit's TorchDistributedEnvironment);
  ``launcher.gpus_per_node=0 launcher.tasks_per_node=N`` submits CPU-only ranks (gloo).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
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


def _config_error(message: str) -> Exception:
    from h05.training.trainer import TrainConfigError

    return TrainConfigError(message)


def _count(lc: dict, key: str, minimum: int) -> int:
    value = lc.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _config_error(f"launcher.{key}={value!r}; give an integer >= {minimum}")
    return value


def slurm_parameters(lc: dict) -> dict:
    """submitit parameters of the ``launcher`` config: one task per GPU, or ``tasks_per_node`` CPU ranks."""
    nodes, gpus = _count(lc, "nodes", 1), _count(lc, "gpus_per_node", 0)
    tasks = lc.get("tasks_per_node")
    tasks = max(gpus, 1) if tasks is None else _count(lc, "tasks_per_node", 1)
    if gpus and tasks != gpus:
        raise _config_error(f"launcher.tasks_per_node={tasks} with launcher.gpus_per_node={gpus}: one task per GPU "
                            "(leave tasks_per_node unset, or use gpus_per_node=0 for CPU ranks)")
    params = {"nodes": nodes, "tasks_per_node": tasks, "cpus_per_task": _count(lc, "cpus_per_task", 1),
              "timeout_min": _count(lc, "timeout_min", 1), "mem_gb": _count(lc, "mem_gb", 1), "name": "h05-train"}
    if gpus:
        params["gpus_per_node"] = gpus
    return params


def cluster_gpus_per_node(partition: str | None) -> dict[str, int]:
    """GPUs (gres ``gpu``) of each node Slurm lists in ``partition`` (default: all partitions), per ``sinfo``."""
    cmd = ["sinfo", "-h", "-N", "-o", "%N %G"] + (["-p", partition] if partition else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise _config_error(f"launcher.cluster=slurm: sinfo failed ({r.stderr.strip() or r.returncode}); "
                            "is Slurm reachable from here?")
    nodes: dict[str, int] = {}
    for line in r.stdout.splitlines():
        name, _, gres = line.strip().partition(" ")
        gpus = [int(m) for m in re.findall(r"gpu(?::[^:,(]+)?:(\d+)", gres)]
        nodes[name] = max(nodes.get(name, 0), sum(gpus))
    return nodes


def check_cluster_gpus(gpus: int, partition: str | None) -> None:
    """Refuse ``gpus_per_node`` that no node of the partition has (before anything is submitted)."""
    if not gpus or shutil.which("sinfo") is None:
        return
    nodes = cluster_gpus_per_node(partition)
    most = max(nodes.values(), default=0)
    if gpus > most:
        where = f"partition {partition}" if partition else "this cluster"
        raise _config_error(f"launcher.gpus_per_node={gpus}: {where} has at most {most} GPU(s) per node "
                            f"({', '.join(f'{n}: {g}' for n, g in sorted(nodes.items())) or 'no nodes'}); "
                            "use launcher.gpus_per_node=0 launcher.tasks_per_node=N for CPU ranks")


def submit_slurm(cfg: dict, overrides: Sequence[str]):
    """Submit the training through submitit; with ``launcher.wait`` return rank 0's summary, else the job."""
    import submitit

    lc = cfg["launcher"]
    params = slurm_parameters(lc)
    if lc["cluster"] == "slurm":
        check_cluster_gpus(params.get("gpus_per_node", 0), lc.get("partition"))
    executor = submitit.AutoExecutor(folder=lc["folder"], cluster=lc["cluster"])
    if lc["cluster"] != "slurm":
        params = {"timeout_min": params["timeout_min"], "tasks_per_node": 1}
    if lc.get("partition") and lc["cluster"] == "slurm":
        params["slurm_partition"] = lc["partition"]
    executor.update_parameters(**params)
    child = _strip(overrides, ["launcher.name"]) + ["launcher.name=local", "launcher.nproc_per_node=1"]
    job = executor.submit(_SlurmTraining(child))
    print(f"h05 train: submitted job {job.job_id} to {lc['cluster']} (logs in {lc['folder']})", file=sys.stderr)
    if lc.get("wait"):
        return job.results()[0]  # one result per task (rank); rank 0's summary
    return job


def train_main(argv: Sequence[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print("usage: h05 train [key=value ...]\n\nConfig: h05/conf/train.yaml; e.g.\n"
              "  h05 train 'datasets=[{path: datasets/twins/so101}]' model.preset=twins train.steps=2000 "
              "out=runs/train/so101\n  h05 train ... launcher.nproc_per_node=8            # torchrun, DDP\n"
              "  h05 train ... launcher.name=slurm launcher.nodes=2 launcher.gpus_per_node=8\n"
              "  h05 train ... launcher.name=slurm launcher.gpus_per_node=0 launcher.tasks_per_node=2  # CPU ranks")
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
