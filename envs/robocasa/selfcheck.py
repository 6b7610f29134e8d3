"""Run the paper's RoboCasa tasks end to end and report, per task, what the tests assert.

    .venv-robocasa/bin/python -m envs.robocasa.selfcheck --steps 50 --camera-size 32 [TASK ...]

For each task: build the env, reset trial ``--trial`` (pinned scene), step
the no-op action ``--steps`` times with cameras rendered, then apply the
task's teleported completion (``envs.robocasa.teleports``) and settle. One
JSON object per task on stdout: reset/step times, whether success was ever
true under the no-op, whether it is true after the teleport, image
statistics, and the error if any step failed. Runs in one process so the
interpreter and GL context start once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback

import numpy as np

from envs.robocasa.benchmark import RoboCasaBenchmark
from envs.robocasa.teleports import SETTLE_STEPS, TELEPORTS


def check_task(bench: RoboCasaBenchmark, task, steps: int, camera_size: int, trial: int, camera_every: int = 1) -> dict:
    out: dict = {"task": task.name}
    env = None
    try:
        t0 = time.perf_counter()
        env = bench.make_env(task, render=True, camera_size=camera_size, image_size=camera_size,
                             camera_every=camera_every)
        obs, info = env.reset(options={"trial": trial})
        out.update(reset_s=time.perf_counter() - t0, layout=info["layout"], style=info["style"],
                   asset_pack=info["asset_pack"], instruction=obs["instruction"])
        noop = env.noop_action()
        noop_success = False
        t0 = time.perf_counter()
        for _ in range(steps):
            obs, _, terminated, _, step_info = env.step(noop)
            noop_success |= bool(step_info["success"])
        out["step_ms"] = 1000 * (time.perf_counter() - t0) / max(steps, 1)
        out["steps"] = steps
        out["rendered_frames"] = 1 + steps // camera_every
        out["noop_success"] = noop_success
        out["image_std"] = {cam: float(np.asarray(img).std()) for cam, img in obs["images"].items()}
        out["image_shape"] = {cam: list(np.asarray(img).shape) for cam, img in obs["images"].items()}
        out["cameras_differ"] = len({np.asarray(img).tobytes() for img in obs["images"].values()}) == len(obs["images"])
        out["state_finite"] = bool(np.all(np.isfinite(obs["state"])))
        TELEPORTS[task.name](env.robocasa_env)
        for _ in range(SETTLE_STEPS):
            _, _, _, _, step_info = env.step(noop)
        out["teleport_success"] = bool(step_info["success"])
    except Exception as exc:  # reported per task; the test decides
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()[-2000:]
    finally:
        if env is not None:
            env.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--camera-size", type=int, default=32)
    ap.add_argument("--trial", type=int, default=0)
    ap.add_argument("--camera-every", type=int, default=1, help="render cameras every k-th step (and the last)")
    ap.add_argument("tasks", nargs="*", help="v0.1 task names (default: all 24)")
    args = ap.parse_args(argv)
    bench = RoboCasaBenchmark()
    names = {t.name for t in bench.tasks()}
    unknown = [t for t in args.tasks if t not in names]
    if unknown:
        ap.error(f"unknown RoboCasa tasks {unknown}; known: {sorted(names)}")
    for task in bench.tasks():
        if args.tasks and task.name not in args.tasks:
            continue
        result = check_task(bench, task, args.steps, args.camera_size, args.trial, args.camera_every)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
