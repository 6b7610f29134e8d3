"""One small reference workload run on both machines: their CPU speed ratio and GPU render cost.

Physics: MuJoCo steps/s of two twin scenes in one thread (no rendering); the
ratio of this figure between the GPU machine and the dev VM scales CPU-side
LIBERO costs measured here to that machine. Render: ms per 256 px camera
frame of the heaviest twin scene (g1, place_on_pad, ``scene`` camera) with
whatever EGL device ``--device`` selects, split into ``mjv_updateScene`` (CPU)
and raster + read-back.

``--concurrent 1 14``: the machine's own scaling, with no harness at all: K
independent processes run the physics reference at once (one ``mj_step`` loop
each, single-threaded libraries) and the mean per-process rate at K is
compared with K = 1. On a machine whose cores slow down when many are busy
(shared caches and memory bandwidth, all-core clocks, SMT siblings of a VM's
host) this ratio is below 1, and no CPU-bound pool can scale better than
K x that ratio.

    MUJOCO_GL=egl .venv/bin/python benchmarks/throughput_cpu_ref.py --json /tmp/cpu_ref.json
    MUJOCO_GL=egl .venv/bin/python benchmarks/throughput_cpu_ref.py --concurrent 1 2 --json /tmp/cpu_concurrent.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

REFERENCE_SCENES = (("place_on_pad", "so101"), ("place_on_pad", "g1"))


def physics_steps_per_s(seconds: float = 2.0) -> dict[str, float]:
    """mj_step rate per reference scene, from its init state 0, in this thread."""
    import mujoco

    from envs.twins.env import scene_xml

    out = {}
    for task, emb in REFERENCE_SCENES:
        model = mujoco.MjModel.from_xml_string(scene_xml(task, emb))
        data = mujoco.MjData(model)
        mujoco.mj_step(model, data, nstep=200)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / len(REFERENCE_SCENES):
            mujoco.mj_resetData(model, data)
            mujoco.mj_step(model, data, nstep=500)
            n += 500
        out[f"{task}@{emb}"] = n / (time.perf_counter() - t0)
    return out


def render_ms(size: int = 256, frames: int = 30) -> dict:
    """ms per camera frame of the g1 scene: total, scene update (CPU) and the rest (raster + read)."""
    import mujoco

    from envs.render_device import current_render_device
    from envs.rendering import configure_headless_rendering
    from envs.twins.env import scene_xml

    configure_headless_rendering()
    model = mujoco.MjModel.from_xml_string(scene_xml("place_on_pad", "g1"))
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, size)
    model.vis.global_.offheight = max(model.vis.global_.offheight, size)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    with mujoco.Renderer(model, size, size) as r:
        for _ in range(3):
            r.update_scene(data, camera="scene")
            r.render()
        info = current_render_device()
        t0 = time.perf_counter()
        for _ in range(frames):
            r.update_scene(data, camera="scene")
            r.render()
        total = (time.perf_counter() - t0) * 1e3 / frames
        t0 = time.perf_counter()
        for _ in range(frames):
            r.update_scene(data, camera="scene")
        update = (time.perf_counter() - t0) * 1e3 / frames
    return {"size": size, "total_ms": total, "scene_update_ms": update, "raster_read_ms": max(total - update, 0.0),
            "render_device": (info or {}).get("render_device"), "gl_renderer": (info or {}).get("gl_renderer")}


def measure(seconds: float = 2.0, render: bool = True) -> dict:
    result = {"host": platform.node(), "cpu_count": os.cpu_count(), "loadavg": os.getloadavg(),
              "physics_steps_per_s": physics_steps_per_s(seconds)}
    if render:
        result["render"] = render_ms()
    return result


def _one_process(seconds: float, queue) -> None:
    queue.put(physics_steps_per_s(seconds))


def concurrent_rates(processes: int, seconds: float = 4.0) -> dict:
    """Mean per-process physics rate when ``processes`` copies run at the same time."""
    import multiprocessing as mp

    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(key, "1")
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_one_process, args=(seconds, queue)) for _ in range(processes)]
    for p in procs:
        p.start()
    rates = [queue.get(timeout=120 + seconds) for _ in procs]
    for p in procs:
        p.join()
    return {key: sum(r[key] for r in rates) / len(rates) for key in rates[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--device", default="auto", help="render_device: auto, cpu, gpu or a GPU index")
    ap.add_argument("--concurrent", type=int, nargs="+", default=None,
                    help="instead: per-process physics rate with K processes at once, for each K")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from envs.render_device import PLAN

    if args.concurrent:
        rows = []
        for k in args.concurrent:
            rates = concurrent_rates(k, max(args.seconds, 4.0))
            rows.append({"processes": k, "per_process_steps_per_s": rates})
            base = rows[0]["per_process_steps_per_s"]
            rows[-1]["per_process_ratio_to_first"] = {key: rates[key] / base[key] for key in rates}
            print(f"K={k:>2}: per-process steps/s " + ", ".join(f"{key} {v:,.0f}" for key, v in rates.items())
                  + "; ratio to K=" + str(args.concurrent[0]) + ": "
                  + ", ".join(f"{v:.3f}" for v in rows[-1]["per_process_ratio_to_first"].values()), flush=True)
        result = {"host": platform.node(), "cpu_count": os.cpu_count(), "loadavg": os.getloadavg(), "concurrent": rows}
    else:
        PLAN.configure(args.device)
        result = measure(args.seconds)
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
