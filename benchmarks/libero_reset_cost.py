"""LIBERO hard reset time with robosuite's compile per reset and with the compiled-model cache.

For the first task of each protocol suite (or ``--suites``), blind and rendered (both protocol
cameras on this machine's renderer): one env per path (``envs.libero.fast_reset`` off, on),
each in a fresh process, ``--resets`` resets from init states 0, 1, ... (seed 41 + i) with the
protocol's settle steps, as the harness runs them. Reports an env's first reset (which compiles
the scene on either path) and the median of the later ones, the real camera renders per reset,
the process's resident memory after the last reset and its peak, and this machine's load.

    MUJOCO_GL=egl .venv/bin/python benchmarks/libero_reset_cost.py --resets 4 --json /tmp/libero_reset_cost.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

from bench_io import write_json  # noqa: E402

SUITES = ("libero_spatial", "libero_object", "libero_goal", "libero_10")


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(bench, task, render: bool, fast_reset: bool, resets: int) -> dict:
    """Reset times of one env (first, then the rest), real renders per later reset, resident memory."""
    from robosuite.utils.binding_utils import MjRenderContext

    renders = [0]
    real = MjRenderContext.render

    def counting(ctx, *args, **kwargs):
        renders[0] += 1
        return real(ctx, *args, **kwargs)

    env = bench.make_env(task, render=render, action_space="native", fast_reset=fast_reset)
    MjRenderContext.render = counting
    times = []
    try:
        for i in range(resets):
            renders[0] = 0
            t0 = time.perf_counter()
            env.reset(seed=41 + i, options={"init_index": i})
            times.append(time.perf_counter() - t0)
        rss = _rss_mib()
    finally:
        MjRenderContext.render = real
        env.close()
    later = times[1:] or times
    return {"task": task.key, "render": render, "fast_reset": fast_reset, "first_reset_s": times[0],
            "reset_s_median": statistics.median(later), "reset_s": times, "renders_per_reset": renders[0],
            "rss_mib": rss,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _one(suite: str, render: bool, fast_reset: bool, resets: int) -> dict:
    """``measure`` in a fresh interpreter (no other env's memory or caches in the way)."""
    cmd = [sys.executable, __file__, "--one", suite, str(int(render)), str(int(fast_reset)), "--resets", str(resets)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suites", nargs="+", default=list(SUITES))
    ap.add_argument("--resets", type=int, default=4, help="resets per env (>= 2: the first compiles the scene)")
    ap.add_argument("--no-render", action="store_true", help="blind envs only")
    ap.add_argument("--json", default=None)
    ap.add_argument("--one", nargs=3, metavar=("SUITE", "RENDER", "FAST"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.resets < 2:
        ap.error(f"--resets must be >= 2 (the first reset of an env compiles on either path), got {args.resets}")

    from envs.benchmarks import get_benchmark

    bench = get_benchmark("libero")
    if args.one:
        from envs.rendering import configure_headless_rendering

        configure_headless_rendering()
        suite, render, fast = args.one
        print(json.dumps(measure(bench, bench.tasks(suite)[0], render == "1", fast == "1", args.resets)))
        return
    load0 = os.getloadavg()
    rows = []
    for suite in args.suites:
        task = bench.tasks(suite)[0]
        for render in (False,) if args.no_render else (False, True):
            pair = {fast: _one(suite, render, fast, args.resets) for fast in (False, True)}
            rows += [pair[False], pair[True]]
            print(f"{task.key} {'rendered' if render else 'blind'}: reset {pair[False]['reset_s_median']:.3f} s -> "
                  f"{pair[True]['reset_s_median']:.3f} s (first {pair[False]['first_reset_s']:.2f} / "
                  f"{pair[True]['first_reset_s']:.2f} s; renders {pair[False]['renders_per_reset']} -> "
                  f"{pair[True]['renders_per_reset']}; RSS {pair[False]['rss_mib']:.0f} / {pair[True]['rss_mib']:.0f} MiB, "
                  f"peak {pair[False]['peak_rss_mib']:.0f} / {pair[True]['peak_rss_mib']:.0f} MiB)", flush=True)
    result = {"machine": {"host": platform.node(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
                          "loadavg_start": load0, "loadavg_end": os.getloadavg(), "command": " ".join(sys.argv)},
              "rows": rows}
    write_json(args.json, result)


if __name__ == "__main__":
    main()
