"""Reset and step times of the 24 RoboCasa tasks on the lite asset pack (run with .venv-robocasa).

    MUJOCO_GL=egl .venv-robocasa/bin/python benchmarks/robocasa_lite_times.py --steps 50 --camera-size 128

Prints one line per task (reset s, mean step ms, success after no-op steps)
and a summary; failures are reported, not hidden.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envs.robocasa.benchmark import RoboCasaBenchmark  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--camera-size", type=int, default=128)
    ap.add_argument("--trial", type=int, default=0)
    ap.add_argument("--no-render", action="store_true")
    ap.add_argument("tasks", nargs="*")
    args = ap.parse_args()
    bench = RoboCasaBenchmark()
    resets, steps, failed = [], [], []
    for task in bench.tasks():
        if args.tasks and task.name not in args.tasks:
            continue
        try:
            env = bench.make_env(task, render=not args.no_render, camera_size=args.camera_size)
            t0 = time.perf_counter()
            obs, info = env.reset(options={"trial": args.trial})
            resets.append(time.perf_counter() - t0)
            noop = env.noop_action()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                obs, _, _, _, step_info = env.step(noop)
            steps.append((time.perf_counter() - t0) / max(args.steps, 1))
            print(f"{task.name:24s} layout {info['layout']} style {info['style']} reset {resets[-1]:.2f} s "
                  f"step {1000 * steps[-1]:.0f} ms success {step_info['success']}", flush=True)
            env.close()
        except Exception as exc:  # report every failing task, keep going
            failed.append(task.name)
            print(f"{task.name:24s} FAILED {type(exc).__name__}: {str(exc)[:300]}", flush=True)
    if resets:
        print(f"tasks ok {len(resets)}/{len(resets) + len(failed)}; reset median {statistics.median(resets):.2f} s "
              f"(max {max(resets):.2f}); step median {1000 * statistics.median(steps):.0f} ms "
              f"with {'no' if args.no_render else 3} cameras at {args.camera_size}px; failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
