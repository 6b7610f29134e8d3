"""The full LIBERO protocol's wall-clock on one GPU node, composed from measured parts.

LIBERO's assets cannot travel to the GPU machine, so its per-step costs are
measured on the dev VM (``libero_step_cost.py``) and carried over with a
model whose every input is a measurement:

- CPU ratio r = GPU machine / dev VM MuJoCo steps/s of the twins reference
  scenes (``throughput_cpu_ref.py`` there; the same workload run inside
  ``libero_step_cost.py`` here before each task, under that suite's load);
- step on the node = LIBERO blind step / r; a rendered frame set = cameras x
  ((LIBERO ``mjv_updateScene`` + upright/resize per camera) / r + raster and
  read-back per 256 px frame on the node's EGL GPU, from the reference render
  there), rendered only for the observation a query sees (``envs.action_slices``):
  once per query;
- reset on the node = LIBERO blind reset / r + ``RESET_FRAME_SETS`` rendered frame
  sets (robosuite's own renders while it rebuilds the sim, before the camera
  gate is installed, and the last settle step);
- worst case: every episode runs to its suite's step limit (a failing policy);
  one query per ``execute_steps`` (8 of 16, the protocol; 5 also shown) and each
  worker waits for the batched full-preset answer at batch ~N
  (``batched_inference.py`` there, CUDA graph, host work included);
- N workers at the end-to-end twins scaling efficiency measured there at that N
  (``throughput_scaling.py``): wall = sum(episode time) / (N x efficiency).

    python benchmarks/throughput_compose.py --libero benchmarks/data/libero_step_cost.json \\
        --device-dir <folder with cpu_ref.json scaling.json batched_inference.json> [--workers 14] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

RESET_FRAME_SETS = 4  # per camera, counted (MjSim.render calls): 3 by robosuite while it rebuilds the sim, 1 at the last settle step

PROTOCOL_SUITES = ("libero_spatial", "libero_object", "libero_goal", "libero_10")


def _load(path: Path) -> dict:
    if not path.is_file():
        raise SystemExit(f"missing input {path}")
    return json.loads(path.read_text())


def inference_ms(batched: dict, batch: int) -> tuple[float, str]:
    """Query latency (host work included) at ``batch``, interpolated linearly between measured batches.

    CUDA-graph rows where they exist (what ``H05Policy(cuda_graphs=True)`` runs), else eager KV-cache rows.
    """
    for mode in ("graph", "kv"):
        rows = sorted((r["batch"], r["query_ms"]) for r in batched["results"] if r.get("mode") == mode and "query_ms" in r)
        if rows:
            break
    else:
        raise SystemExit("batched_inference has no successful rows")
    for (b0, t0), (b1, t1) in zip(rows, rows[1:]):
        if b0 <= batch <= b1:
            return t0 + (t1 - t0) * (batch - b0) / (b1 - b0), f"{mode}, interpolated between batch {b0} and {b1}"
    b, t = min(rows, key=lambda r: abs(r[0] - batch))
    return t, f"{mode}, nearest measured batch {b}"


def scaling_efficiency(scaling: dict, workers: int) -> tuple[float, int]:
    runs = [r for r in scaling["runs"] if not r.get("errors")]
    best = min(runs, key=lambda r: abs(r["workers"] - workers))
    return best["efficiency"], best["workers"]


def compose(libero: dict, cpu_ref: dict, scaling: dict, batched: dict, workers: int = 14,
            execute_steps: int = 8, trials: int = 50, tasks_per_suite: int = 10) -> dict:
    there = cpu_ref["physics_steps_per_s"]
    cams = len(libero["cameras"])
    raster = cpu_ref["render"]["raster_read_ms"]
    eff, eff_n = scaling_efficiency(scaling, workers)
    infer, infer_how = inference_ms(batched, workers)
    suites, total_s, queries = {}, 0.0, 0
    for suite in PROTOCOL_SUITES:
        s = libero["per_suite"][suite]
        here = s.get("cpu_ref_physics_steps_per_s", libero["cpu_ref_physics_steps_per_s"])
        ratio = statistics.fmean(there[k] / here[k] for k in here)
        render_ms = cams * ((s["scene_update_ms_per_camera"] + s.get("postprocess_ms_per_camera", 0.0)) / ratio + raster)
        step_ms = s["sim_step_ms"] / ratio
        reset_s = s["blind_reset_s"] / ratio + RESET_FRAME_SETS * render_ms / 1e3
        steps = s["max_steps"]
        q = math.ceil(steps / execute_steps)
        episode_s = reset_s + steps * step_ms / 1e3 + q * (render_ms + infer) / 1e3
        n = trials * tasks_per_suite
        suites[suite] = {"max_steps": steps, "cpu_ratio": ratio, "node_step_ms": step_ms, "node_render_ms": render_ms,
                         "node_reset_s": reset_s, "queries": q, "episode_s": episode_s, "episodes": n}
        total_s += n * episode_s
        queries += n * q
    wall = total_s / (workers * eff)
    return {"workers": workers, "execute_steps": execute_steps, "raster_read_ms": raster,
            "cpu_ratio": statistics.fmean(v["cpu_ratio"] for v in suites.values()),
            "efficiency": eff, "efficiency_at_workers": eff_n, "inference_ms_per_query": infer,
            "inference_source": infer_how, "episodes": trials * tasks_per_suite * len(PROTOCOL_SUITES),
            "per_suite": suites, "worker_seconds": total_s, "wall_s": wall, "wall_min": wall / 60,
            "gpu_busy_fraction": queries / workers * infer / 1e3 / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--libero", default="benchmarks/data/libero_step_cost.json")
    ap.add_argument("--device-dir", required=True, help="folder with cpu_ref.json, scaling.json, batched_inference.json")
    ap.add_argument("--workers", type=int, default=14)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    d = Path(args.device_dir)
    libero = _load(Path(args.libero))
    parts = [_load(d / "cpu_ref.json"), _load(d / "scaling.json"), _load(d / "batched_inference.json")]
    out = {"k8": compose(libero, *parts, workers=args.workers, execute_steps=8),
           "k5": compose(libero, *parts, workers=args.workers, execute_steps=5)}
    for key, res in out.items():
        print(f"\nexecute {res['execute_steps']} of 16 per query, N={res['workers']} workers "
              f"(efficiency {res['efficiency']:.2f} measured at N={res['efficiency_at_workers']}), "
              f"CPU ratio {res['cpu_ratio']:.2f}, inference {res['inference_ms_per_query']:.1f} ms/query "
              f"({res['inference_source']}), raster+read {res['raster_read_ms']:.2f} ms/frame")
        print("| suite | max steps | CPU ratio | node step ms | node reset s | queries | episode s |")
        print("|---|---|---|---|---|---|---|")
        for suite, s in res["per_suite"].items():
            print(f"| {suite} | {s['max_steps']} | {s['cpu_ratio']:.2f} | {s['node_step_ms']:.2f} | {s['node_reset_s']:.2f} "
                  f"| {s['queries']} | {s['episode_s']:.2f} |")
        print(f"{res['episodes']} episodes, worst case (every episode to its step limit): "
              f"**{res['wall_min']:.1f} min** on one node; GPU busy {100 * res['gpu_busy_fraction']:.0f}% of it")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
