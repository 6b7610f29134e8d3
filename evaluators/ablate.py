"""``h05 ablate``: delay x UAC x MPG x sensory-shift grids, records, curves and a table.

The grid: every policy config (MPG is a property of a checkpoint, so "MPG
on/off" is two policy entries with labels), every executor mode (``naive`` =
UAC off, ``uac`` = UAC on, ``rtc`` for comparison), every delay, and every shift
kind/severity. Each shifted condition gets its matched clean condition (same
delay and mode, same init states); ``--shift-delays`` limits the shifted
conditions to some delays (their clean twins exist at every delay). Episodes go
through the normal runner into one store, so rerunning the same command
resumes; ``--workers N`` runs N episodes at once (env workers, one batched
policy, as ``h05 eval workers=N``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from envs.shift import SHIFT_KINDS, check_shift
from evaluators.ablate_report import write_report
from evaluators.env_pool import EnvWorkerSettings
from evaluators.eval_command import policy_identity
from evaluators.executors import ASYNC_MODES
from evaluators.plan import EpisodeSpec, build_plan, plan_hash
from evaluators.policies import make_policy
from evaluators.runner import run_episodes
from evaluators.store import EpisodeStore


def parse_shifts(items: Sequence[str]) -> list[tuple[str, int]]:
    """``["noise:1,3", "camera_pose:2"]`` -> ``[("noise", 1), ("noise", 3), ("camera_pose", 2)]``."""
    out: list[tuple[str, int]] = []
    for item in items:
        kind, _, levels = item.partition(":")
        if kind == "none":
            continue
        if not levels:
            raise ValueError(f"shift {item!r} needs severities, e.g. {kind}:1,3,5")
        for level in levels.split(","):
            if not level.strip().isdigit():
                raise ValueError(f"shift {item!r}: severity {level!r} is not an integer 0..5")
            out.append(check_shift(kind, int(level)))
    return out


def parse_policy(text: str) -> dict[str, Any]:
    """A policy config: a registered name, or JSON with ``name`` and an optional ``label``."""
    if text.lstrip().startswith("{"):
        try:
            cfg = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--policy {text!r} is not valid JSON: {exc}") from None
    else:
        cfg = {"name": text}
    if "name" not in cfg:
        raise ValueError(f"--policy {text!r} has no 'name'")
    return cfg


def grid_conditions(delays: Sequence[int], modes: Sequence[str], shifts: Sequence[tuple[str, int]],
                    shift_delays: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """One plan condition per (mode, delay, shift), clean twins included.

    ``shift_delays`` (default: every delay) are the delays that also get the shifted conditions.
    """
    for d in delays:
        if d < 0:
            raise ValueError(f"delay {d} must be a non-negative number of control steps")
    shift_delays = list(delays) if shift_delays is None else list(shift_delays)
    for d in shift_delays:
        if d not in delays:
            raise ValueError(f"shift delay {d} is not one of the delays {list(delays)}: a shifted condition needs its clean twin")
    for m in modes:
        if m not in ASYNC_MODES:
            raise ValueError(f"unknown mode {m!r}; known: {', '.join(ASYNC_MODES)}")
    conds = []
    for mode in modes:
        for d in delays:
            for kind, severity in [("none", 0), *(shifts if d in shift_delays else [])]:
                conds.append({"delay": int(d), "perturbation": kind, "severity": severity, "variant": {"mode": mode}})
    return conds


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="h05 ablate", description=__doc__.split("\n\n")[0])
    p.add_argument("--benchmark", default="libero")
    p.add_argument("--suites", nargs="+", required=True)
    p.add_argument("--tasks", nargs="*", default=None, help="task names or indices (default: all of each suite)")
    p.add_argument("--trials", type=int, default=5, help="trials per task (init states 0..n-1)")
    p.add_argument("--policy", action="append", default=None, help='name or JSON, e.g. \'{"name": "h05", "checkpoint": "...", "label": "mpg-on"}\'; repeat for MPG on/off')
    p.add_argument("--delays", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--modes", nargs="+", default=["naive", "uac"], help=f"of {', '.join(ASYNC_MODES)} (naive = UAC off)")
    p.add_argument("--shifts", nargs="*", default=[], help=f"kind:severities, kinds {', '.join(k for k in SHIFT_KINDS if k != 'none')}")
    p.add_argument("--shift-delays", type=int, nargs="+", default=None, help="delays that also run the shifted conditions (default: every delay)")
    p.add_argument("--workers", type=int, default=1, help="episodes at once, each in its own env worker, one batched policy (as h05 eval workers=N)")
    p.add_argument("--execute-steps", type=int, default=None, help="actions run per chunk (default: the task's)")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--name", default="ablation")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--no-progress", action="store_true")
    return p


def run_ablation(argv: Sequence[str]) -> Path:
    args = build_parser().parse_args(argv)
    if args.workers < 1:
        raise ValueError(f"--workers must be a whole number >= 1, got {args.workers}")
    policy_cfgs = [parse_policy(t) for t in (args.policy or ["noop"])]
    conditions = grid_conditions(args.delays, args.modes, parse_shifts(args.shifts), args.shift_delays)
    jobs: list[tuple[Any, list[EpisodeSpec]]] = []
    for cfg in policy_cfgs:
        cfg = dict(cfg)
        label = cfg.pop("label", None)
        policy = make_policy(cfg)
        if label is not None:
            policy.name = label
        specs = build_plan(
            benchmark=args.benchmark, suites=args.suites, tasks=args.tasks, trials_per_task=args.trials,
            policy=f"{label}:{policy_identity(policy)}" if label else policy_identity(policy), seed=args.seed,
            executor="async", execute_steps=args.execute_steps, max_steps=args.max_steps, conditions=conditions,
        )
        jobs.append((policy, specs))
    all_specs = [s for _, specs in jobs for s in specs]
    run_dir = Path(args.runs_dir) / args.name
    store = EpisodeStore(run_dir, writer="ablate")
    store.bind_plan(plan_hash(all_specs), {"command": "ablate", "argv": list(argv), "episodes": len(all_specs)})
    with store:
        for policy, specs in jobs:
            run_episodes(specs, store, policy, progress=not args.no_progress,
                         env_workers=EnvWorkerSettings() if args.workers > 1 else None, workers=args.workers)
    md = write_report(run_dir, store.records(), all_specs)
    print(md)
    print(f"records, table and curves in {run_dir}/", file=sys.stderr)
    return run_dir


def ablate_main(argv: Sequence[str]) -> int:
    run_ablation(argv)
    return 0
