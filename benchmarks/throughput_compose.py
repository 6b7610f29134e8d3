"""The full LIBERO protocol's wall-clock on one GPU node, composed from measured parts.

LIBERO's assets cannot travel to the GPU machine, so its costs are measured on
the dev VM (``libero_step_cost.py``) and carried over with a model whose every
input is a measurement (BENCHMARKS.md "The node model"):

- CPU ratio r = env-worker CPU per query of the same blind twins plan at N = 1
  (``throughput_scaling.py --no-render``), dev VM / node: the harness's own
  Python + MuJoCo work, like LIBERO's. The dev VM side is taken by
  ``libero_step_cost.py`` right before each suite's tasks (the shared VM's
  speed drifts by tens of percent within minutes), so r is per suite. (The bare
  ``mj_step`` ratio of ``throughput_cpu_ref.py`` is printed too.)
- worker CPU per episode on the node = (blind reset + steps x blind step +
  queries x (upright/resize + scene update) per camera) / r + queries x cameras
  x raster-and-read-back per 256 px frame on the node's GPU (the worker waits
  for it); one rendered frame set per query (``envs.action_slices``) plus
  ``RESET_FRAME_SETS`` at reset; the blind reset is the median over an env's
  later resets (a slot keeps its task's env, ``evaluators/work_queue.py``);
- the node runs N env workers; S(N) = the end-to-end speed-up measured there
  with the twins at N (``throughput_scaling.py``: the machine's own all-core
  slow-down and the harness's overhead together), S(N > measured) = S(max);
- the policy: the ``full`` preset's batched query latency I(b) and queries/s at
  batch b (``batched_inference.py``, CUDA graphs, host work included);
- wall(N): an event simulation of N slots on the node's C cores and one GPU
  (``simulate``), between the bounds it also prints: CPU bound W / S(min(N, C))
  (W = total worker CPU), GPU bound Q / qps (Q = queries), and the synchronous
  bound (W x N / S(N) + Q x I(N)) / N for N <= C with every slot waiting for every
  answer at the largest batch. More slots than cores hide the waits.

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

RESET_FRAME_SETS = 1  # per camera, counted (MjSim.render calls): the last settle step's (envs/libero/fast_reset.py skips robosuite's 3 others)
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


def cpu_ratio(vm_blind: list[dict], node_blind: dict) -> float:
    """Dev VM / node env-worker CPU per query of the same blind twins plan at N = 1 (< 1: the node is slower).

    Several dev VM runs (taken around the LIBERO measurement, on a shared machine) are averaged.
    """
    def at_one(d: dict) -> float:
        return next(r["worker_cpu_ms_per_query"] for r in d["runs"] if r["workers"] == 1)
    return statistics.fmean(at_one(d) for d in vm_blind) / at_one(node_blind)


def suite_ratios(libero: dict, node_blind: dict | None, ratio: float | None) -> dict[str, float]:
    """Per suite: node / dev VM CPU ratio.

    ``ratio`` (a what-if, or the ratio of separate dev VM twins runs) for every suite; else each suite's
    own: the blind twins plan's env-worker CPU per query taken on the dev VM right before that suite's
    tasks (``libero_step_cost.py``), over the node's.
    """
    if ratio is not None:
        return dict.fromkeys(PROTOCOL_SUITES, ratio)
    node = next(r["worker_cpu_ms_per_query"] for r in node_blind["runs"] if r["workers"] == 1)
    out = {}
    for suite in PROTOCOL_SUITES:
        here = libero["per_suite"][suite].get("twins_harness_ms_per_query")
        if not here:
            raise SystemExit(f"{suite}: the LIBERO measurement has no twins_harness_ms_per_query; pass --vm-blind")
        out[suite] = here / node
    return out


def episode_costs(libero: dict, ratios: dict[str, float], raster_ms: float, execute_steps: int,
                  fraction: float) -> dict:
    """Per suite: worker CPU seconds per episode on the node and queries per episode."""
    cams = len(libero["cameras"])
    out = {}
    for suite in PROTOCOL_SUITES:
        s = libero["per_suite"][suite]
        ratio = ratios[suite]
        frame_set_ms = cams * ((s["scene_update_ms_per_camera"] + s["postprocess_ms_per_camera"]) / ratio + raster_ms)
        steps = fraction * s["max_steps"]
        queries = max(1, math.ceil(steps / execute_steps))  # at least the first query
        reset_s = s["blind_reset_s"] / ratio + RESET_FRAME_SETS * frame_set_ms / 1e3
        step_ms = s["sim_step_ms"] / ratio
        cpu_s = reset_s + steps * step_ms / 1e3 + queries * frame_set_ms / 1e3
        out[suite] = {"max_steps": s["max_steps"], "cpu_ratio": ratio, "steps": steps, "node_step_ms": step_ms,
                      "node_reset_s": reset_s,
                      "frame_set_ms": frame_set_ms, "queries": queries, "cpu_s": cpu_s}
    return out


def compose(libero: dict, raster_ms: float, ratios: dict[str, float], speedup: list, latency: list, qps: list,
            workers: int, execute_steps: int = 8, fraction: float = 1.0, cores: int = 16) -> dict:
    per_suite = episode_costs(libero, ratios, raster_ms, execute_steps, fraction)
    n_eps = PROTOCOL["trials"] * PROTOCOL["tasks_per_suite"]
    work = sum(n_eps * s["cpu_s"] for s in per_suite.values())
    queries = sum(n_eps * s["queries"] for s in per_suite.values())
    busy = min(workers, cores)
    s_n = _interp(speedup, busy)
    infer_ms = _interp(latency, min(workers, 32))
    cpu_bound = work / s_n
    latency_bound = (work * busy / s_n + queries * infer_ms / 1e3) / busy  # every slot waits for every answer
    gpu_bound = queries / _interp(qps, min(workers, 32))
    wall = simulate(per_suite, speedup, latency, workers, cores)
    return {"workers": workers, "execute_steps": execute_steps, "fraction": fraction, "speedup": s_n,
            "inference_ms": infer_ms, "worker_cpu_s": work, "queries": queries, "cpu_bound_s": cpu_bound,
            "latency_bound_s": latency_bound, "gpu_bound_s": gpu_bound, "wall_s": wall, "wall_min": wall / 60,
            "per_suite": per_suite}


def simulate(per_suite: dict, speedup: list, latency: list, workers: int, cores: int, max_batch: int = 32) -> float:
    """Event simulation of the node; returns the protocol's wall-clock in seconds.

    ``workers`` slots share ``cores`` cores: while k slots compute, each runs at S(k)/k of one core's
    speed (the measured end-to-end speed-up), times C/k when k > C. One GPU answers every waiting slot
    at once (up to ``max_batch``) in I(batch). The 2,000 episodes (suites interleaved) go to free slots
    in order; an episode is its reset's CPU, then per query the batched answer and the slice's CPU.
    """
    n_eps = PROTOCOL["trials"] * PROTOCOL["tasks_per_suite"]
    todo = [(s["node_reset_s"], s["queries"], (s["cpu_s"] - s["node_reset_s"]) / s["queries"])
            for _ in range(n_eps) for s in per_suite.values()][::-1]
    slots = []  # {"state": cpu|wait|gpu, "left": cpu seconds, "queries": left, "slice": cpu seconds per slice}
    for _ in range(min(workers, len(todo))):
        reset_s, q, slice_s = todo.pop()
        slots.append({"state": "cpu", "left": reset_s, "queries": q, "slice": slice_s})
    speed = {k: min(1.0, cores / k) * _interp(speedup, min(k, cores)) / min(k, cores) for k in range(1, len(slots) + 1)}
    now, gpu_done = 0.0, math.inf
    while slots:
        if gpu_done == math.inf:
            waiting = [sl for sl in slots if sl["state"] == "wait"][:max_batch]
            for sl in waiting:
                sl["state"] = "gpu"
            if waiting:
                gpu_done = now + _interp(latency, len(waiting)) / 1e3
        computing = [sl for sl in slots if sl["state"] == "cpu"]
        rate = speed[len(computing)] if computing else 0.0
        dt = min([sl["left"] / rate for sl in computing] + [gpu_done - now])
        if dt == math.inf:
            raise RuntimeError("node simulation stalled")
        now += dt
        for sl in computing:
            sl["left"] -= dt * rate
        if now >= gpu_done - 1e-12:
            for sl in slots:
                if sl["state"] == "gpu":  # the answer arrives: the slice runs
                    sl.update(state="cpu", left=sl["slice"], queries=sl["queries"] - 1)
            gpu_done = math.inf
        for sl in list(slots):
            if sl["state"] == "cpu" and sl["left"] <= 1e-12:
                if sl["queries"] > 0:
                    sl["state"] = "wait"
                elif todo:
                    reset_s, q, slice_s = todo.pop()
                    sl.update(left=reset_s, queries=q, slice=slice_s)
                else:
                    slots.remove(sl)
    return now


def fraction_for(target_min: float, bound: str, **kw) -> float | None:
    """Largest mean fraction of the step limit (0..1) whose ``bound`` wall-clock meets ``target_min``."""
    lo, hi = 0.0, 1.0
    if compose(fraction=hi, **kw)[bound] / 60 <= target_min:
        return 1.0
    if compose(fraction=lo, **kw)[bound] / 60 > target_min:
        return None
    for _ in range(12):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if compose(fraction=mid, **kw)[bound] / 60 <= target_min else (lo, mid)
    return lo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--libero", default="benchmarks/data/libero_step_cost.json")
    ap.add_argument("--node-dir", required=True, help="cpu_ref.json and scaling.json of one node run")
    ap.add_argument("--node-blind", required=True, help="the node's blind twins run (throughput_scaling.py --no-render)")
    ap.add_argument("--vm-blind", nargs="+", default=None,
                    help="the same plan on the dev VM, run separately (several: averaged); default: the per-suite "
                         "reference the LIBERO measurement took before each task")
    ap.add_argument("--batched", default=None, help="batched_inference.json (default: in --node-dir)")
    ap.add_argument("--workers", type=int, nargs="+", default=[14, 16, 24])
    ap.add_argument("--cores", type=int, default=None, help="default: the node's cpu_count in scaling.json")
    ap.add_argument("--target-min", type=float, default=10.0)
    ap.add_argument("--cpu-ratio", type=float, default=None,
                    help="what-if: use this node/dev VM CPU ratio instead of the measured one")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    node = Path(args.node_dir)
    libero, cpu_ref, scaling = _load(Path(args.libero)), _load(node / "cpu_ref.json"), _load(node / "scaling.json")
    batched = _load(Path(args.batched) if args.batched else node / "batched_inference.json")
    node_blind = _load(Path(args.node_blind))
    ratio = args.cpu_ratio or (cpu_ratio([_load(Path(p)) for p in args.vm_blind], node_blind) if args.vm_blind else None)
    ratios = suite_ratios(libero, node_blind, ratio)
    here = libero["cpu_ref_physics_steps_per_s"]
    mj_ratio = statistics.fmean(cpu_ref["physics_steps_per_s"][k] / here[k] for k in here)
    latency, qps, mode = policy_rows(batched)
    kw = {"libero": libero, "raster_ms": cpu_ref["render"]["raster_read_ms"], "ratios": ratios,
          "speedup": speedups(scaling), "latency": latency, "qps": qps,
          "cores": args.cores or scaling["machine"]["cpu_count"]}
    how = ("what-if, --cpu-ratio" if args.cpu_ratio else "env-worker CPU per query, blind twins"
           + (", separate dev VM runs" if args.vm_blind else ", dev VM side taken before each suite's tasks"))
    shown = " / ".join(f"{r:.2f}" for r in ratios.values())
    print(f"CPU ratio node/dev VM per suite: {shown} ({how}; bare mj_step: {mj_ratio:.2f}); "
          f"GPU raster+read {kw['raster_ms']:.2f} ms/frame; policy: full preset, {mode} rows")
    out = {"inputs": {"cpu_ratio": ratios, "mj_step_ratio": mj_ratio, "policy_mode": mode,
                      "speedup": kw["speedup"], "latency_ms": latency, "qps": qps}, "results": []}
    print("| executed per query | workers | S(min(N, C)) | worker CPU h | CPU bound min | synchronous bound min | "
          "GPU bound min | simulated wall min (worst case) | mean fraction of the step limit for <= %g min |"
          % args.target_min)
    print("|---|---|---|---|---|---|---|---|---|")
    for k in (8, 5):
        for n in args.workers:
            res = compose(workers=n, execute_steps=k, **kw)
            f_wall = fraction_for(args.target_min, "wall_s", workers=n, execute_steps=k, **kw)
            res["fraction_for_target"] = f_wall
            out["results"].append(res)
            sync = f"{res['latency_bound_s'] / 60:.1f}" if n <= kw["cores"] else "-"
            print(f"| {k} of 16 | {n} | {res['speedup']:.2f} | {res['worker_cpu_s'] / 3600:.2f} "
                  f"| {res['cpu_bound_s'] / 60:.1f} | {sync} | {res['gpu_bound_s'] / 60:.1f} "
                  f"| **{res['wall_min']:.1f}** | {'never' if f_wall is None else f'{f_wall:.2f}'} |")
    print("\nper suite at 8 of 16 (node): " + "; ".join(
        f"{s}: step {v['node_step_ms']:.1f} ms, reset {v['node_reset_s']:.2f} s, {v['queries']} queries"
        for s, v in out["results"][0]["per_suite"].items()))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
