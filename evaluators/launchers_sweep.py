"""Hydra multirun sweeps of ``h05 eval`` (e.g. the ablation grid), one run folder per point.

    python -m evaluators.launchers_sweep -m hydra/launcher=submitit_slurm \\
        hydra.launcher.partition=gpu policy=noop,random trials_per_task=50 name=grid

With hydra-submitit-launcher every point of the grid is one task of ONE Slurm
job array; each point runs ``h05 eval`` with its overrides (in-process, or
``launcher=...`` for shards of its own) and writes ``runs/<name>/<point>``,
where ``<point>`` spells the point's overrides (``name`` left out).
"""

from __future__ import annotations

import re
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


def point_overrides(task_overrides: list[str], base_name: str) -> list[str]:
    """The overrides of one sweep point, with ``name=<base>/<point>`` so points never share a store."""
    rest = [o for o in task_overrides if not o.startswith("name=")]
    named = [o for o in rest if o.split("=", 1)[0].lstrip("+~") not in ("runs_dir", "progress")]
    point = re.sub(r"[^A-Za-z0-9.-]+", "_", "_".join(sorted(named))).strip("_") or "default"
    return [*rest, f"name={base_name}/{point}"]


@hydra.main(config_path="conf", config_name="eval", version_base="1.3")
def sweep_point(cfg: DictConfig) -> str:
    """Run one point of the sweep; returns its run folder."""
    from evaluators.eval_command import run_eval

    overrides = point_overrides(list(HydraConfig.get().overrides.task), str(cfg.name))
    return str(Path(run_eval(overrides)))


if __name__ == "__main__":
    sweep_point()
