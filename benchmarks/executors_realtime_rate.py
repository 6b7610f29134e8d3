"""Real-time executor timing on this machine: achieved control rate, period jitter, underflows.

Runs a twins episode (SO-101 place_on_pad, no rendering) under the real-time
executor at 10, 20 and 50 Hz with the expert-replay policy, once with instant
inference and once with inference slower than d * dt, and prints one line per
setting. Usage: .venv/bin/python benchmarks/executors_realtime_rate.py [--steps N]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from envs.benchmarks import find_task, get_benchmark
from envs.unified_space import embodiment
from evaluators.ablate_policies import ExpertReplayPolicy
from evaluators.executors_realtime import RealTimeChunkExecutor
from evaluators.policy import EpisodeInfo


class SlowPolicy(ExpertReplayPolicy):
    def __init__(self, sleep_s: float) -> None:
        super().__init__()
        self.sleep_s = sleep_s

    def infer(self, batch):
        time.sleep(self.sleep_s)
        return super().infer(batch)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--delay", type=int, default=2)
    args = ap.parse_args()
    bench = get_benchmark("twins")
    task = find_task(bench, "spatial", "place_on_pad@so101")
    env = bench.make_env(task, render=False, max_steps=args.steps)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; d={args.delay}, H=16, s=H-d; {args.steps} steps")
    for hz in (10, 20, 50):
        for sleep_factor in (0.0, 3.0):
            sleep_s = sleep_factor * args.delay / hz
            policy = SlowPolicy(sleep_s) if sleep_s else ExpertReplayPolicy()
            seed = bench.base_seed()
            info = EpisodeInfo("bench", "twins", task.key, task.instruction, task.embodiment, seed,
                               embodiment(task.embodiment).mask("action"), np.zeros(200, np.float32))
            policy.reset(info)
            obs, _ = env.reset(seed=seed, options={"init_index": 0})
            ex = RealTimeChunkExecutor(delay=args.delay, control_hz=hz)
            res = ex.run(env, policy, "bench", obs, 16 - args.delay)
            i = res.executor_info
            print(f"{hz:>3} Hz  inference {1000 * sleep_s:6.1f} ms (d*dt {1000 * args.delay / hz:5.1f} ms): "
                  f"achieved {i['achieved_hz']:.3f} Hz ({100 * (i['achieved_hz'] / hz - 1):+.2f}%), "
                  f"period p50 {1000 * i['period_p50_s']:.2f} ms max {1000 * i['period_max_s']:.2f} ms, "
                  f"overruns {i['overruns']}, late chunks {i['late_chunks']}, underflows {i['underflows']}, steps {res.steps}")
    env.close()


if __name__ == "__main__":
    main()
