"""Episodes/s of the twins end to end with N env workers: speed-up over N = 1 and efficiency.

The same plan for every N (twins ``spatial`` place_on_pad and place_left_of on
all five embodiments, ``--trials`` init states each, each task's own step limit
unless ``--max-steps``),
rendering on (every camera, 224 px, on whatever ``render_device`` picks: the
GPU's EGL on a GPU machine), run through ``run_episodes(workers=N)`` exactly as
``h05 eval workers=N`` runs it: N env-worker processes, one batched policy.
Policy: ``random`` (seeded per episode; the policy costs ~nothing, so the
figure is the simulation + rendering + harness side), or an h05 model with
random weights (seed 0, built on ``--policy-device``, saved once as a bfloat16
checkpoint and loaded by ``H05Policy``; CUDA graphs on CUDA, batched
inference): ``h05-twins`` (the small ``twins`` preset) or ``h05-full`` (the
``full`` preset: the released sizes, the realistic policy cost). Every run's
records must match N = 1's outcomes (same final-state digests; with an h05
policy only under ``--batch-invariant``) and say where they rendered. Each
run also reports the CPU seconds of the coordinator (this process: slots,
batcher, policy) and of its env workers, per query, which says which side
limits the speed-up.

    python benchmarks/throughput_scaling.py --workers 1 2 4 8 12 14 --json $OUT/scaling.json
    MUJOCO_GL=egl .venv/bin/python benchmarks/throughput_scaling.py --workers 1 2 --trials 1 --max-steps 10   # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

EMBODIMENTS = ("so101", "fr3_inspire", "d1", "adam_u", "g1")
TASKS = [f"{t}@{e}" for t in ("place_on_pad", "place_left_of") for e in EMBODIMENTS]


def physical_cores() -> int | None:
    """Distinct (package, core) pairs in /proc/cpuinfo: cores, not hyper-threads."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    cores, package = set(), None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "physical id":
            package = value.strip()
        elif key.strip() == "core id":
            cores.add((package, value.strip()))
    return len(cores) or None


POLICY_PRESETS = {"h05-twins": "twins", "h05-full": "full"}  # --policy -> BeingHConfig preset (random weights)


def make_policy(name: str, workdir: Path, device: str = "cuda", batch_invariant: int | None = None):
    """``random`` (harness baseline) or an ``h05-*`` policy: its preset (``POLICY_PRESETS``) with random weights,
    saved as a bfloat16 checkpoint under ``workdir`` and loaded by ``H05Policy`` (CUDA graphs on CUDA)."""
    if name == "random":
        from evaluators.baselines import RandomPolicy

        return RandomPolicy()
    if name not in POLICY_PRESETS:
        raise SystemExit(f"unknown --policy {name!r}; known: random, {', '.join(POLICY_PRESETS)}")
    import torch

    from h05_bench_common import build_model  # this script's folder, as the other model benchmarks import it
    from h05.checkpoint import save_checkpoint
    from h05.policy import H05Policy

    preset = POLICY_PRESETS[name]
    folder = workdir / f"{preset}_random"
    model, _ = build_model(preset, device, torch.bfloat16, seed=0)
    save_checkpoint(model, folder, dtype="bfloat16")
    del model  # the policy loads its own copy
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
    return H05Policy(str(folder), device=device, dtype="bfloat16", cuda_graphs=torch.device(device).type == "cuda",
                     batch_invariant=batch_invariant)


def run_once(workers: int, policy, specs, root: Path, render: bool = True) -> dict:
    from evaluators.env_pool import EnvWorkerSettings
    from evaluators.runner import run_episodes
    from evaluators.store import EpisodeStore

    store = EpisodeStore(root / f"workers_{workers}")
    children0, cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.process_time()
    t0 = time.perf_counter()
    with store:
        records = run_episodes(specs, store, policy, render=render, progress=False,
                               env_workers=EnvWorkerSettings(), workers=workers)
    wall = time.perf_counter() - t0
    coordinator_cpu = time.process_time() - cpu0
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # env workers, reaped when their slots closed
    worker_cpu = (children1.ru_utime - children0.ru_utime) + (children1.ru_stime - children0.ru_stime)
    queries = sum(r.get("queries", 0) for r in records)
    return {"workers": workers, "wall_s": wall, "episodes": len(records), "episodes_per_s": len(records) / wall,
            "steps": sum(r["steps"] for r in records), "queries": queries,
            "coordinator_cpu_s": coordinator_cpu, "worker_cpu_s": worker_cpu,
            "coordinator_cpu_ms_per_query": 1e3 * coordinator_cpu / max(queries, 1),
            "worker_cpu_ms_per_query": 1e3 * worker_cpu / max(queries, 1),
            "errors": [r["error"] for r in records if r["status"] == "error"],
            "render_devices": sorted({r.get("render_device", "?") for r in records}),
            "digests": {r["episode_id"]: r.get("final_state_sha") for r in records}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8, 12, 14])
    ap.add_argument("--trials", type=int, default=6, help="init states per task (10 tasks)")
    ap.add_argument("--embodiments", nargs="+", default=list(EMBODIMENTS), choices=EMBODIMENTS,
                    help="a subset: e.g. so101 fr3_inspire (both two cameras) for a plan whose queries batch "
                         "into one forward, like LIBERO's")
    ap.add_argument("--max-steps", type=int, default=None, help="default: each task's own step limit")
    ap.add_argument("--policy", default="random", choices=["random", *POLICY_PRESETS])
    ap.add_argument("--policy-device", default="cuda", help="h05-* only: cuda (CUDA graphs) or cpu")
    ap.add_argument("--batch-invariant", type=int, default=None,
                    help="h05-* only: fixed-shape forwards of this many rows (bit-identical rows at any N)")
    ap.add_argument("--render-device", default="auto")
    ap.add_argument("--render", action=argparse.BooleanOptionalAction, default=True,
                    help="--no-render: blind envs (the policy must not need images), to separate rendering from physics")
    ap.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=True,
                    help="first an untimed run of 2 x max(N) episodes at max(N) workers")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from envs.render_device import PLAN
    from evaluators.plan import build_plan

    devices = PLAN.configure(args.render_device)
    tasks = [t for t in TASKS if t.split("@")[1] in args.embodiments]
    specs = build_plan("twins", ["spatial"], tasks, args.trials, policy=args.policy, max_steps=args.max_steps)
    out: dict = {"machine": {"host": platform.node(), "cpu_count": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
                             "physical_cores": physical_cores(), "python": platform.python_version(),
                             "command": " ".join(sys.argv)},
                 "render_devices_planned": [d.label for d in devices or []], "episodes_planned": len(specs),
                 "max_steps": args.max_steps, "policy": args.policy, "embodiments": args.embodiments,
                 "policy_preset": POLICY_PRESETS.get(args.policy),
                 "policy_device": args.policy_device if args.policy in POLICY_PRESETS else None,
                 "batch_invariant": args.batch_invariant,
                 "render": args.render,
                 "gl_yield": os.environ.get("__GL_YIELD"), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        policy = make_policy(args.policy, Path(tmp), args.policy_device, args.batch_invariant)
        if args.warmup:  # untimed: file and shader caches, CUDA graph captures of common batch sizes
            PLAN.configure(args.render_device)
            warm = run_once(max(args.workers), policy, specs[: 2 * max(args.workers)], Path(tmp) / "warmup", args.render)
            out["warmup_s"] = warm["wall_s"]
        base = None
        for n in args.workers:
            PLAN.configure(args.render_device)  # worker k -> device k mod n afresh for each N
            row = run_once(n, policy, specs, Path(tmp), args.render)
            digests = row.pop("digests")
            if base is None:
                base = {"workers": n, "episodes_per_s": row["episodes_per_s"], "digests": digests}
            row["speedup"] = row["episodes_per_s"] / base["episodes_per_s"]
            row["efficiency"] = row["speedup"] * base["workers"] / n
            row["same_outcomes_as_first"] = digests == base["digests"]
            out["runs"].append(row)
            print(f"N={n:>2}: {row['episodes']} episodes in {row['wall_s']:.1f} s = {row['episodes_per_s']:.2f}/s, "
                  f"speed-up {row['speedup']:.2f}, efficiency {row['efficiency']:.2f}, rendered on "
                  f"{row['render_devices']}, same outcomes {row['same_outcomes_as_first']}, errors {len(row['errors'])}; "
                  f"CPU ms per query: coordinator {row['coordinator_cpu_ms_per_query']:.2f}, "
                  f"workers {row['worker_cpu_ms_per_query']:.2f}",
                  flush=True)
            if args.json:  # after every N: a later timeout keeps what exists
                Path(args.json).parent.mkdir(parents=True, exist_ok=True)
                Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
