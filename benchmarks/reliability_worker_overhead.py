"""Per-step cost of an env worker vs the same LIBERO env in process (same task, init state, actions).

Usage: MUJOCO_GL=egl .venv/bin/python benchmarks/reliability_worker_overhead.py [steps] [render 0|1]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from envs.benchmarks import find_task, get_benchmark
from envs.worker_client import RemoteEnv


def time_steps(env, steps: int) -> float:
    _, info = env.reset(seed=41, options={"init_index": 0})
    env.step(info["noop_action"])  # warm
    t0 = time.perf_counter()
    for _ in range(steps):
        env.step(info["noop_action"])
    return (time.perf_counter() - t0) / steps


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    render = bool(int(sys.argv[2])) if len(sys.argv) > 2 else True
    bench = get_benchmark("libero")
    task = find_task(bench, "libero_spatial", 0)
    local = bench.make_env(task, render=render, max_steps=10_000)
    remote = RemoteEnv("libero", "libero_spatial", task.name, render=render, max_steps=10_000)
    try:
        t_local = min(time_steps(local, steps) for _ in range(2))
        t_remote = min(time_steps(remote, steps) for _ in range(2))
    finally:
        local.close()
        remote.close()
    print(f"render={render} steps={steps}: in-process {t_local * 1e3:.1f} ms/step, worker {t_remote * 1e3:.1f} ms/step, "
          f"overhead {(t_remote / t_local - 1) * 100:+.1f}%")


if __name__ == "__main__":
    main()
