"""The full LIBERO protocol's wall-clock on one GPU node, composed from measured parts.

LIBERO's assets cannot travel to the GPU machine, so its costs are measured on
the dev VM (``libero_step_cost.py``) and carried over with a model whose every
input is a measurement (BENCHMARKS.md "The node model"):

- CPU ratio r = env-worker CPU per query of the same blind twins plan at N = 1
  (``throughput_scaling.py --no-render``), dev VM / node: the harness's own
  Python + MuJoCo work, like LIBERO's. (The bare ``mj_step`` ratio of
  ``throughput_cpu_ref.py`` is printed too; it flatters the node.)
- worker CPU per episode on the node = (blind reset + steps x blind step +
  queries x (upright/resize + scene update) per camera) / r + queries x cameras
  x raster-and-read-back per 256 px frame on the node's GPU (the worker waits
  for it); one rendered frame set per query (``envs.action_slices``) plus
  ``RESET_FRAME_SETS`` at reset;
- the node runs N env workers; S(N) = the end-to-end speed-up measured there
  with the twins at N (``throughput_scaling.py``: the machine's own all-core
  slow-down and the harness's overhead together), S(N > measured) = S(max);
- the policy: the ``full`` preset's batched query latency I(b) and queries/s at
  batch b (``batched_inference.py``, CUDA graphs, host work included);
- wall(N) = max(CPU bound W / S(N), latency bound (W x N / S(N) + Q x I(N)) / N,
  GPU bound Q / qps(N)), W = total worker CPU, Q = queries, N <= cores; the
  latency bound is the synchronous protocol (every worker waits for every
  answer); the CPU bound is what more workers than cores could reach at best.

Worst case: every episode runs to its step limit (a policy that always fails).
``fraction`` f scales the executed steps (episodes ending at success after f of
their limit on average); the script also solves for the f that meets a target.

    python benchmarks/throughput_compose.py --node-dir benchmarks/data/node_h100/run3 \\
        --node-blind benchmarks/data/node_h100/run2/diag_blind.json \\
        --batched benchmarks/data/node_h100/run5/batched_inference.json --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

RESET_FRAME_SETS = 4  # per camera, counted (MjSim.render calls): 3 by robosuite while it rebuilds the sim, 1 at the last settle step
PROTOCOL_SUITES = ("libero_spatial", "libero_object", "libero_goal", "libero_10")
PROTOCOL = {"trials": 50, "tasks_per_suite": 10, "chunk": 16}


def _load(path: Path) -> dict:
    if not path.is_file():
        raise SystemExit(f"missing input {path}")
    return json.loads(path.read_text())


def _interp(rows: list[tuple[float, float]], x: float) -> float:
    rows = sorted(rows)
    if x <= rows[0][0]:
        return rows[0][1]
    for (x0, y0), (x1, y1) in zip(rows, rows[1:]):
        if x0 <= x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return rows[-1][1]


def policy_rows(batched: dict) -> tuple[list[tuple[float, float]], list[tuple[float, float]], str]:
    """(batch, query ms) and (batch, queries/s): CUDA-graph rows where they exist, else eager KV-cache rows."""
    for mode in ("graph", "kv"):
        rows = [r for r in batched["results"] if r.get("mode") == mode and "query_ms" in r]
        if rows:
            return ([(r["batch"], r["query_ms"]) for r in rows], [(r["batch"], r["queries_per_s"]) for r in rows], mode)
    raise SystemExit("batched_inference has no successful rows")


def speedups(scaling: dict) -> list[tuple[float, float]]:
    rows = [(r["workers"], r["speedup"]) for r in scaling["runs"] if not r.get("errors")]
    if not rows:
        raise SystemExit("scaling has no clean runs")
    return rows


def cpu_ratio(vm_blind: dict, node_blind: dict) -> float:
    """Dev VM / node env-worker CPU per query of the same blind twins plan at N = 1 (< 1: the node is slower)."""
    def at_one(d: dict) -> float:
        return next(r["worker_cpu_ms_per_query"] for r in d["runs"] if r["workers"] == 1)
    return at_one(vm_blind) / at_one(node_blind)


def episode_costs(libero: dict, ratio: float, raster_ms: float, execute_steps: int, fraction: float) -> dict:
    """Per suite: worker CPU seconds per episode on the node and queries per episode."""
    cams = len(libero["cameras"])
    out = {}
    for suite in PROTOCOL_SUITES:
        s = libero["per_suite"][suite]
        frame_set_ms = cams * ((s["scene_update_ms_per_camera"] + s["postprocess_ms_per_camera"]) / ratio + raster_ms)
        steps = fraction * s["max_steps"]
        queries = math.ceil(steps / execute_steps)
        reset_s = s["blind_reset_s"] / ratio + RESET_FRAME_SETS * frame_set_ms / 1e3
        step_ms = s["sim_step_ms"] / ratio
        cpu_s = reset_s + steps * step_ms / 1e3 + queries * frame_set_ms / 1e3
        out[suite] = {"max_steps": s["max_steps"], "steps": steps, "node_step_ms": step_ms, "node_reset_s": reset_s,
                      "frame_set_ms": frame_set_ms, "queries": queries, "cpu_s": cpu_s}
    return out


def compose(libero: dict, raster_ms: float, ratio: float, speedup: list, latency: list, qps: list,
            workers: int, execute_steps: int = 8, fraction: float = 1.0) -> dict:
    per_suite = episode_costs(libero, ratio, raster_ms, execute_steps, fraction)
    n_eps = PROTOCOL["trials"] * PROTOCOL["tasks_per_suite"]
    work = sum(n_eps * s["cpu_s"] for s in per_suite.values())
    queries = sum(n_eps * s["queries"] for s in per_suite.values())
    s_n = _interp(speedup, workers)
    infer_ms = _interp(latency, workers)
    cpu_bound = work / s_n
    latency_bound = (work * workers / s_n + queries * infer_ms / 1e3) / workers
    gpu_bound = queries / _interp(qps, workers)
    wall = max(cpu_bound, latency_bound, gpu_bound)
    return {"workers": workers, "execute_steps": execute_steps, "fraction": fraction, "speedup": s_n,
            "inference_ms": infer_ms, "worker_cpu_s": work, "queries": queries, "cpu_bound_s": cpu_bound,
            "latency_bound_s": latency_bound, "gpu_bound_s": gpu_bound, "wall_s": wall, "wall_min": wall / 60,
            "per_suite": per_suite}


def fraction_for(target_min: float, bound: str, **kw) -> float | None:
    """Largest mean fraction of the step limit (0..1) whose ``bound`` wall-clock meets ``target_min``."""
    lo, hi = 0.0, 1.0
    if compose(fraction=hi, **kw)[bound] / 60 <= target_min:
        return 1.0
    if compose(fraction=lo, **kw)[bound] / 60 > target_min:
        return None
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if compose(fraction=mid, **kw)[bound] / 60 <= target_min else (lo, mid)
    return lo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--libero", default="benchmarks/data/libero_step_cost.json")
    ap.add_argument("--node-dir", required=True, help="cpu_ref.json and scaling.json of one node run")
    ap.add_argument("--node-blind", required=True, help="the node's blind twins run (throughput_scaling.py --no-render)")
    ap.add_argument("--vm-blind", default="benchmarks/data/twins_blind_devvm.json", help="the same plan on the dev VM")
    ap.add_argument("--batched", default=None, help="batched_inference.json (default: in --node-dir)")
    ap.add_argument("--workers", type=int, nargs="+", default=[14, 16])
    ap.add_argument("--target-min", type=float, default=10.0)
    ap.add_argument("--cpu-ratio", type=float, default=None,
                    help="what-if: use this node/dev VM CPU ratio instead of the measured one")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    node = Path(args.node_dir)
    libero, cpu_ref, scaling = _load(Path(args.libero)), _load(node / "cpu_ref.json"), _load(node / "scaling.json")
    batched = _load(Path(args.batched) if args.batched else node / "batched_inference.json")
    ratio = args.cpu_ratio or cpu_ratio(_load(Path(args.vm_blind)), _load(Path(args.node_blind)))
    here = libero["cpu_ref_physics_steps_per_s"]
    mj_ratio = statistics.fmean(cpu_ref["physics_steps_per_s"][k] / here[k] for k in here)
    latency, qps, mode = policy_rows(batched)
    kw = {"libero": libero, "raster_ms": cpu_ref["render"]["raster_read_ms"], "ratio": ratio,
          "speedup": speedups(scaling), "latency": latency, "qps": qps}
    how = "what-if, --cpu-ratio" if args.cpu_ratio else "env-worker CPU per query, blind twins"
    print(f"CPU ratio node/dev VM: {ratio:.2f} ({how}; bare mj_step: {mj_ratio:.2f}); "
          f"GPU raster+read {kw['raster_ms']:.2f} ms/frame; policy: full preset, {mode} rows")
    out = {"inputs": {"cpu_ratio": ratio, "mj_step_ratio": mj_ratio, "policy_mode": mode,
                      "speedup": kw["speedup"], "latency_ms": latency, "qps": qps}, "results": []}
    print("| executed per query | workers | S(N) | I(N) ms | worker CPU h | CPU bound min | latency bound min | "
          "GPU bound min | wall min (worst case) | mean fraction of the step limit for <= %g min |" % args.target_min)
    print("|---|---|---|---|---|---|---|---|---|---|")
    for k in (8, 5):
        for n in args.workers:
            res = compose(workers=n, execute_steps=k, **kw)
            f_lat = fraction_for(args.target_min, "latency_bound_s", workers=n, execute_steps=k, **kw)
            f_cpu = fraction_for(args.target_min, "wall_s", workers=n, execute_steps=k, **kw)
            res["fraction_for_target"] = {"latency_bound": f_lat, "wall": f_cpu}
            out["results"].append(res)
            fmt = lambda f: "never" if f is None else f"{f:.2f}"  # noqa: E731
            print(f"| {k} of 16 | {n} | {res['speedup']:.2f} | {res['inference_ms']:.1f} | {res['worker_cpu_s'] / 3600:.2f} "
                  f"| {res['cpu_bound_s'] / 60:.1f} | {res['latency_bound_s'] / 60:.1f} | {res['gpu_bound_s'] / 60:.1f} "
                  f"| **{res['wall_min']:.1f}** | {fmt(f_cpu)} |")
    print("\nper suite at 8 of 16 (node): " + "; ".join(
        f"{s}: step {v['node_step_ms']:.1f} ms, reset {v['node_reset_s']:.2f} s, {v['queries']} queries"
        for s, v in out["results"][0]["per_suite"].items()))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
