"""LIBERO's cost per env step (simulation, rendering) and per reset, as the harness's env pays it.

For a sample of tasks of each protocol suite: one env built blind and one
rendering both protocol cameras (256 px, rotated, resized to 224), each reset
from init states 0.. (the harness rebuilds the sim at every reset and runs the
10 settle steps) and stepped with one fixed random action sequence. Step cost
blind = simulation (+ observation building); rendered minus blind = rendering,
of which ``mjv_updateScene`` (timed alone per camera) is the CPU part that a GPU
renderer leaves on the CPU, as is turning the frame upright and resizing it
(timed alone too). A twins CPU reference runs before each task (and before and
after the whole run), so the CPU ratio to another machine is taken under the
same load as each suite's figures.
The blind env runs with both paths (``--physics both``, the default): the harness's one forward
per substep (``envs.libero.fast_physics``), compact substep control (``envs.libero.fast_control``)
and hard reset without recompiling the MJCF (``envs.libero.fast_reset``), what ``sim_step_ms``,
``blind_reset_s`` and the rendered figures use; robosuite's own forward/forward/mj_step loop,
substep control and compile per reset (``sim_step_ms_default_physics``,
``blind_reset_s_default_reset``); and the fast paths without the compact control
(``sim_step_ms_without_fast_control``). Reset figures are the median
over the resets after an env's first (``--resets`` >= 2; the env of a harness slot serves many
episodes); the first reset, which compiles the scene on either path, is ``*first_reset_s``.
Reports this machine's load. Input of ``benchmarks/throughput_compose.py``.

    MUJOCO_GL=egl .venv/bin/python benchmarks/libero_step_cost.py --tasks 2 --resets 2 --steps 60 --json benchmarks/data/libero_step_cost.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
from bench_io import write_json  # noqa: E402
from throughput_cpu_ref import physics_steps_per_s  # noqa: E402

SUITES = ("libero_spatial", "libero_object", "libero_goal", "libero_10")


def actions_for(env, steps: int, seed: int = 0) -> list[np.ndarray]:
    """A fixed random native action sequence (gripper closed), in the unified space."""
    rng = np.random.default_rng(seed)
    native = np.concatenate([rng.uniform(-0.3, 0.3, (steps, 6)), -np.ones((steps, 1))], axis=1)
    return [env.native_to_unified(a.astype(np.float32)) for a in native]


def scene_update_ms(base, repeats: int = 20) -> float:
    """CPU part of one camera frame (``mjv_updateScene``), the part a GPU renderer does not take over."""
    import mujoco

    sim = base._env.env.sim
    ctx = sim._render_context_offscreen
    cams = [sim.model.camera_name2id(c) for c in base.protocol.cameras]
    t0 = time.perf_counter()
    for _ in range(repeats):
        for cam in cams:
            ctx.cam.type, ctx.cam.fixedcamid = mujoco.mjtCamera.mjCAMERA_FIXED, cam
            mujoco.mjv_updateScene(sim.model._model, sim.data._data, ctx.vopt, ctx.pert, ctx.cam,
                                   mujoco.mjtCatBit.mjCAT_ALL, ctx.scn)
    return (time.perf_counter() - t0) * 1e3 / (repeats * len(cams))


def postprocess_ms(render_size: int, image_size: int, repeats: int = 200) -> float:
    """ms per camera frame to turn a GL frame upright and resize it (``resize_upright``), on the CPU."""
    from envs.rendering import resize_upright

    frame = np.random.default_rng(0).integers(0, 256, (render_size, render_size, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    for _ in range(repeats):
        resize_upright(frame, image_size, rotate_180=True)
    return (time.perf_counter() - t0) * 1e3 / repeats


def twins_harness_ms_per_query(trials: int = 4) -> float:
    """Env-worker CPU ms per query of the blind twins plan at N = 1, as ``throughput_scaling.py --no-render`` runs it.

    The node side of the CPU ratio (``throughput_compose.py``) is the same figure from the GPU node;
    taken here right before each task, it shifts with the shared machine's speed as the task's figures do.
    """
    import tempfile

    from evaluators.baselines import RandomPolicy
    from evaluators.plan import build_plan
    from throughput_scaling import TASKS, run_once

    specs = build_plan("twins", ["spatial"], TASKS, trials, policy="random")
    with tempfile.TemporaryDirectory() as tmp:
        return run_once(1, RandomPolicy(), specs, Path(tmp), render=False)["worker_cpu_ms_per_query"]


BLIND_PATHS = {  # name -> (fast_physics, fast_reset, fast_control)
    "fast": (True, True, True),
    "no_control": (True, True, False),
    "default": (False, False, False),
}


def _row(task, render: bool, flags: tuple[bool, bool, bool], build_s: float, reset_s: list[float],
         step_ms: list[float], update_ms: float | None, clock: str) -> dict:
    steady = reset_s[1:] or reset_s  # an env's first reset compiles the scene on either path
    return {"task": task.key, "render": render, "fast_physics": flags[0], "fast_reset": flags[1],
            "fast_control": flags[2], "clock": clock, "build_s": build_s, "scene_update_ms_per_camera": update_ms,
            "reset_s_median": statistics.median(steady), "first_reset_s": reset_s[0], "reset_s": reset_s,
            "step_ms_median": statistics.median(step_ms), "step_ms_mean": statistics.fmean(step_ms),
            "steps": len(step_ms)}


def measure_task(bench, task, render: bool, resets: int, steps: int) -> dict:
    """One rendering env with every fast path on: wall time per reset and step (the worker waits for the renderer)."""
    t0 = time.perf_counter()
    env = bench.make_env(task, render=render)
    build_s = time.perf_counter() - t0
    base = env.unwrapped if hasattr(env, "unwrapped") else env
    acts = actions_for(base, steps)
    reset_s, step_ms = [], []
    try:
        for i in range(resets):
            t0 = time.perf_counter()
            env.reset(seed=41 + i, options={"init_index": i})
            reset_s.append(time.perf_counter() - t0)
            for a in acts:
                t0 = time.perf_counter()
                env.step(a)
                step_ms.append((time.perf_counter() - t0) * 1e3)
        update_ms = scene_update_ms(base) if render else None
    finally:
        env.close()
    return _row(task, render, BLIND_PATHS["fast"], build_s, reset_s, step_ms, update_ms, "wall")


def measure_blind_interleaved(bench, task, paths: list[str], resets: int, steps: int, block: int = 10) -> dict:
    """Blind envs of ``task``, one per path of ``BLIND_PATHS``, reset and stepped in turns.

    Resets alternate between the envs, steps run in blocks of ``block`` per env in turn, each
    timed in this process's CPU seconds: load from elsewhere on the machine then shifts every
    path alike instead of whichever ran at the time (the dev VM is shared). Per-step figures are
    per-block means.
    """
    envs, build = {}, {}
    try:
        for name in paths:
            fp, fr, fc = BLIND_PATHS[name]
            t0 = time.process_time()
            envs[name] = bench.make_env(task, render=False, fast_physics=fp, fast_reset=fr, fast_control=fc)
            build[name] = time.process_time() - t0
        first = next(iter(envs.values()))
        acts = actions_for(first.unwrapped if hasattr(first, "unwrapped") else first, steps)
        reset_s = {n: [] for n in envs}
        step_ms = {n: [] for n in envs}
        for i in range(resets):
            for name, env in envs.items():
                t0 = time.process_time()
                env.reset(seed=41 + i, options={"init_index": i})
                reset_s[name].append(time.process_time() - t0)
            for start in range(0, steps, block):
                for name, env in envs.items():
                    chunk = acts[start:start + block]
                    t0 = time.process_time()
                    for a in chunk:
                        env.step(a)
                    step_ms[name].append((time.process_time() - t0) * 1e3 / len(chunk))
    finally:
        for env in envs.values():
            env.close()
    return {name: _row(task, False, BLIND_PATHS[name], build[name], reset_s[name], step_ms[name], None, "cpu")
            for name in envs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suites", nargs="+", default=list(SUITES))
    ap.add_argument("--tasks", type=int, default=2, help="tasks per suite (indices 0, 5, ... spread over the suite)")
    ap.add_argument("--resets", type=int, default=2)
    ap.add_argument("--steps", type=int, default=60, help="steps after each reset")
    ap.add_argument("--physics", choices=("both", "fast"), default="both",
                    help="blind env with the fast and the default physics and reset paths (both), or the fast ones only")
    ap.add_argument("--harness-ref", action=argparse.BooleanOptionalAction, default=True,
                    help="before each task, the blind twins plan's env-worker CPU per query (~10 s): the CPU ratio's dev VM side")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from envs.benchmarks import get_benchmark
    from envs.libero.fast_control import PATH_NAMES as CONTROL_PATH_NAMES
    from envs.libero.fast_physics import PATH_NAMES
    from envs.libero.fast_reset import PATH_NAMES as RESET_PATH_NAMES
    from envs.libero.protocol import load_protocol
    from envs.render_device import PLAN, current_render_device
    from envs.rendering import configure_headless_rendering

    PLAN.configure("auto")
    configure_headless_rendering()
    bench = get_benchmark("libero")
    proto = load_protocol()
    load0 = os.getloadavg()
    ref_before = physics_steps_per_s()
    rows, per_suite = [], {}
    render_info = None
    for suite in args.suites:
        tasks = bench.tasks(suite)
        picks = [tasks[(k * len(tasks)) // args.tasks] for k in range(args.tasks)]
        blind, rendered, refs, blind_default, blind_no_control, harness = [], [], [], [], [], []
        for task in picks:
            refs.append(physics_steps_per_s(1.0))  # the CPU reference under this task's load
            if args.harness_ref:
                harness.append(twins_harness_ms_per_query())
            paths = list(BLIND_PATHS) if args.physics == "both" else ["fast"]
            by_path = measure_blind_interleaved(bench, task, paths, args.resets, args.steps)
            b = by_path["fast"]
            rows += list(by_path.values())
            if args.physics == "both":
                blind_default.append(by_path["default"])
                blind_no_control.append(by_path["no_control"])
            r = measure_task(bench, task, True, args.resets, args.steps)
            render_info = render_info or current_render_device()
            rows.append(r)
            blind.append(b)
            rendered.append(r)
            slow = (f" (robosuite's loop {blind_default[-1]['step_ms_median']:.2f} ms, without the compact control "
                    f"{blind_no_control[-1]['step_ms_median']:.2f} ms)") if blind_default else ""
            slow_reset = (f", default reset {blind_default[-1]['reset_s_median']:.2f} s, "
                          f"first {blind_default[-1]['first_reset_s']:.2f} s") if blind_default else ""
            print(f"{task.key}: blind step {b['step_ms_median']:.2f} ms{slow}, rendered {r['step_ms_median']:.2f} ms, "
                  f"reset {r['reset_s_median']:.2f} s (blind {b['reset_s_median']:.2f} s, first {b['first_reset_s']:.2f} s"
                  f"{slow_reset})", flush=True)
        sim = statistics.fmean(x["step_ms_mean"] for x in blind)
        full = statistics.fmean(x["step_ms_mean"] for x in rendered)
        per_suite[suite] = {"max_steps": proto.max_steps[suite], "physics": PATH_NAMES[True],
                            "reset": RESET_PATH_NAMES[True], "control": CONTROL_PATH_NAMES[True],
                            "sim_step_ms": sim, "render_step_ms": full - sim, "step_ms": full,
                            "sim_step_ms_default_physics": (statistics.fmean(x["step_ms_mean"] for x in blind_default)
                                                            if blind_default else None),
                            "sim_step_ms_without_fast_control": (statistics.fmean(x["step_ms_mean"] for x in blind_no_control)
                                                                 if blind_no_control else None),
                            "sim_step_ms_median_fast_vs_default_physics": (
                                [statistics.median(x["step_ms_median"] for x in blind),
                                 statistics.median(x["step_ms_median"] for x in blind_default)] if blind_default else None),
                            "reset_s": statistics.fmean(x["reset_s_median"] for x in rendered),
                            "blind_reset_s": statistics.fmean(x["reset_s_median"] for x in blind),
                            "blind_reset_s_default_reset": (statistics.fmean(x["reset_s_median"] for x in blind_default)
                                                            if blind_default else None),
                            "blind_first_reset_s": statistics.fmean(x["first_reset_s"] for x in blind),
                            "scene_update_ms_per_camera": statistics.fmean(x["scene_update_ms_per_camera"] for x in rendered),
                            "postprocess_ms_per_camera": postprocess_ms(proto.render_size, proto.image_size),
                            "cpu_ref_physics_steps_per_s": {k: statistics.fmean(r[k] for r in refs) for k in refs[0]},
                            "twins_harness_ms_per_query": statistics.fmean(harness) if harness else None}
    load1 = os.getloadavg()
    ref_after = physics_steps_per_s()
    cpu_ref = {k: (ref_before[k] + ref_after[k]) / 2 for k in ref_before}
    result = {"machine": {"host": platform.node(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
                          "loadavg_start": load0, "loadavg_end": load1, "command": " ".join(sys.argv)},
              "cpu_ref_physics_steps_per_s": cpu_ref, "cpu_ref_before": ref_before, "cpu_ref_after": ref_after,
              "render": render_info, "cameras": list(proto.cameras), "render_size": proto.render_size,
              "image_size": proto.image_size, "settle_steps": proto.settle_steps, "per_suite": per_suite, "rows": rows}
    print(json.dumps(per_suite, indent=1))
    write_json(args.json, result)


if __name__ == "__main__":
    main()
