"""Resident memory of one evaluation shard after ``--early`` vs ``--episodes`` episodes (issue 10 bar: <= 1.2x).

Runs one shard through the ``h05 eval`` path (hydra config -> plan -> the
runner with env workers, rendered cameras on) with a deterministic baseline
policy, and samples the resident set size (VmRSS from ``/proc``) of the
coordinator process and of every env worker process below it after each
episode. Prints a summary and writes JSON (samples, ratios, machine, command).

    MUJOCO_GL=egl nice .venv/bin/python benchmarks/shard_memory_growth.py                 # twins, 500 episodes
    MUJOCO_GL=egl nice .venv/bin/python benchmarks/shard_memory_growth.py --benchmark libero --episodes 200

twins: 5 spatial task pairs (two embodiments) x (episodes / 5) trials, so the
worker rebuilds its env at each task change as in a normal run. libero: the 10 libero_spatial
tasks x (episodes / 10) trials (at most 50 each); LIBERO rebuilds its sim at
every reset. Every call starts a fresh run folder: the resident memory of a
resumed process says nothing about growth, so this benchmark does not resume.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evaluators.config import compose, to_container  # noqa: E402
from evaluators.env_pool import EnvWorkerSettings  # noqa: E402
from evaluators.eval_command import plan_from_config, policy_identity  # noqa: E402
from evaluators.executors import make_executor  # noqa: E402
from evaluators.policies import make_policy  # noqa: E402
from evaluators.runner import run_episodes  # noqa: E402
from evaluators.store import EpisodeStore  # noqa: E402

# Which tasks each variant cycles through (data: one place to change them).
VARIANTS: dict[str, dict[str, Any]] = {
    "twins": {"suites": ["spatial"],
              "tasks": ["place_on_pad@so101", "stack_blocks@so101", "place_left_of@so101",
                        "place_on_pad@fr3_inspire", "stack_blocks@fr3_inspire"],
              "max_trials": 1000},
    "libero": {"suites": ["libero_spatial"], "tasks": list(range(10)), "max_trials": 50},
}
BAR = 1.2


def rss_bytes(pid: int) -> int | None:
    """VmRSS of ``pid`` in bytes, or None if it has gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return 0


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (env workers and anything they started)."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parent_of[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    out, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent_of.items() if pp == p]
        out.extend(kids)
        frontier.extend(kids)
    return sorted(out)


def sample(episode: int) -> dict[str, Any]:
    me = os.getpid()
    workers = {p: rss_bytes(p) for p in descendants(me)}
    workers = {p: r for p, r in workers.items() if r}
    return {"episode": episode, "coordinator_rss": rss_bytes(me), "worker_rss": sum(workers.values()),
            "worker_pids": sorted(workers), "t": time.time()}


def build_overrides(args: argparse.Namespace, run_dir: Path) -> list[str]:
    variant = VARIANTS[args.benchmark]
    tasks = variant["tasks"]
    if args.episodes % len(tasks):
        raise SystemExit(f"--episodes {args.episodes} must be a multiple of {len(tasks)} (the {args.benchmark} tasks)")
    trials = args.episodes // len(tasks)
    if trials > variant["max_trials"]:
        raise SystemExit(f"--episodes {args.episodes} needs {trials} trials per task; {args.benchmark} has "
                         f"{variant['max_trials']} init states per task (at most {variant['max_trials'] * len(tasks)} episodes)")
    return [f"benchmark={args.benchmark}", f"suites=[{','.join(variant['suites'])}]",
            f"tasks=[{','.join(map(str, tasks))}]", f"trials_per_task={trials}", f"policy={args.policy}",
            f"max_steps={args.max_steps}", f"render={'true' if args.render else 'false'}", "progress=false",
            f"runs_dir={run_dir.parent}", f"name={run_dir.name}"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--benchmark", choices=sorted(VARIANTS), default="twins")
    p.add_argument("--episodes", type=int, default=500)
    p.add_argument("--early", type=int, default=50, help="the reference episode count (issue: 50)")
    p.add_argument("--max-steps", type=int, default=40, help="steps per episode (short: more resets per minute)")
    p.add_argument("--policy", choices=["random", "noop"], default="random")
    p.add_argument("--no-render", dest="render", action="store_false", help="cameras off (default: rendered)")
    p.add_argument("--out", default=None, help="JSON output (default: runs/benchmarks/shard_memory_growth_<benchmark>.json)")
    args = p.parse_args(argv)
    if not 1 <= args.early < args.episodes:
        raise SystemExit(f"--early must be in [1, --episodes), got {args.early} with --episodes {args.episodes}")
    out = Path(args.out or ROOT / "runs" / "benchmarks" / f"shard_memory_growth_{args.benchmark}.json")

    with tempfile.TemporaryDirectory(prefix="h05-memgrowth-") as tmp:
        run_dir = Path(tmp) / "run"
        cfg = to_container(compose("eval", build_overrides(args, run_dir)))
        policy = make_policy(cfg["policy"])
        specs = plan_from_config(cfg, policy_identity(policy))
        store = EpisodeStore(run_dir, writer="shard-0000")
        samples = [sample(0)]
        t0 = time.perf_counter()

        def on_record(record: dict[str, Any]) -> None:
            n = len(samples)
            samples.append(sample(n) | {"status": record["status"]})
            if n % 25 == 0 or n == args.episodes:
                s = samples[-1]
                eta = (time.perf_counter() - t0) / n * (args.episodes - n)
                print(f"[memgrowth] {n}/{args.episodes} coordinator {s['coordinator_rss'] / 2**20:.0f} MiB, "
                      f"workers {s['worker_rss'] / 2**20:.0f} MiB {s['worker_pids']}, eta {eta:.0f}s", flush=True)

        with store:
            run_episodes(specs, store, policy, make_executor(cfg["executor"]["name"]), render=cfg["render"],
                         progress=False, on_record=on_record, env_workers=EnvWorkerSettings.from_config(cfg["env_workers"]))
        wall = time.perf_counter() - t0
        statuses = {s: sum(r["status"] == s for r in store.records()) for s in ("success", "failure", "error")}

    early, late = samples[args.early], samples[args.episodes]
    ratios = {k: late[k] / early[k] for k in ("coordinator_rss", "worker_rss")}
    total = (late["coordinator_rss"] + late["worker_rss"]) / (early["coordinator_rss"] + early["worker_rss"])
    result = {
        "benchmark": args.benchmark, "episodes": args.episodes, "early": args.early, "max_steps": args.max_steps,
        "policy": args.policy, "render": args.render, "statuses": statuses, "wall_s": round(wall, 1),
        "mib": {f"{k}@{e['episode']}": round(e[k] / 2**20, 1) for e in (early, late) for k in ("coordinator_rss", "worker_rss")},
        "ratio": {**{k: round(v, 3) for k, v in ratios.items()}, "total": round(total, 3)},
        "bar": BAR, "within_bar": all(v <= BAR for v in (*ratios.values(), total)),
        "machine": {"host": platform.node(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "mujoco_gl": os.environ.get("MUJOCO_GL", "")},
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name] + sys.argv),
        "samples": samples,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
    print(f"samples in {out}")
    return result


if __name__ == "__main__":
    main()
