"""Distractor objects on RoboCasa (lite pack, in .venv-robocasa): free bodies on the counter, visible, seeded.

RoboCasa runs in its own interpreter, so each test runs a child script there.
The fast test is blind (one shifted reset); the slow one renders and compares
with the clean twin.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv-robocasa" / "bin" / "python"

CHILD = r"""
import json, sys, numpy as np
from envs.benchmarks import find_task, get_benchmark
from envs.shift import SensoryShift
from envs.shift.distractors import PREFIX
render = sys.argv[1] == "render"
bench = get_benchmark("robocasa")
env = SensoryShift(bench.make_env(find_task(bench, "robocasa_lite_atomic24", "TurnOnStove"), render=render))
opts = lambda kind, sev, trial=0: {"trial": trial, "shift": {"kind": kind, "severity": sev}}

def added():
    m = env.unwrapped.sim.model._model
    return [b for b in range(m.nbody) if m.body(b).name.startswith(PREFIX)]

def episode(seed, kind, sev, steps=0):
    obs, info = env.reset(seed=seed, options=opts(kind, sev))
    d = env.unwrapped.sim.data._data
    start = d.xpos[added()].copy()
    for _ in range(steps):
        obs, *_ = env.step(env.unwrapped.noop_action())
    return obs, info, start, d.xpos[added()].copy()

out = {}
if not render:
    obs, info, start, end = episode(7, "distractors", 2, steps=5)
    m = env.unwrapped.sim.model._model
    out["added"] = len(added())
    out["free_joints"] = all(int(m.jnt_type[m.body_jntadr[b]]) == 0 for b in added())
    out["moved"] = float(np.abs(end - start).max())
    out["heights"] = start[:, 2].tolist()
    out["applied"] = info["shift"]["applied"]["objects"]
    out["success"] = env.unwrapped.check_success()
else:
    clean, _, _, _ = episode(7, "none", 0)
    a, info_a, _, _ = episode(7, "distractors", 3)
    b, info_b, _, _ = episode(7, "distractors", 3)
    c, info_c, _, _ = episode(8, "distractors", 3)
    again, _, _, _ = episode(7, "distractors", 0)
    cams = sorted(clean["images"])
    out["changed_pixels"] = {k: int((np.abs(a["images"][k].astype(np.int16) - clean["images"][k]).max(-1) > 30).sum()) for k in cams}
    out["same_seed_same_images"] = all(np.array_equal(a["images"][k], b["images"][k]) for k in cams)
    out["same_seed_same_objects"] = info_a["shift"]["applied"] == info_b["shift"]["applied"]
    out["other_seed_other_place"] = [o["pos"] for o in info_a["shift"]["applied"]["objects"]] != [o["pos"] for o in info_c["shift"]["applied"]["objects"]]
    out["same_robot_state"] = bool(np.array_equal(a["state"], clean["state"]))
    out["severity0_bit_identical"] = all(np.array_equal(again["images"][k], clean["images"][k]) for k in cams) and bool(np.array_equal(again["state"], clean["state"]))
    out["added_after_clean"] = len(added())
env.close()
print("RESULT " + json.dumps(out))
"""


def run_child(mode: str) -> dict:
    if not PYTHON.exists():
        pytest.skip(f"{PYTHON} missing: run make setup")
    done = subprocess.run([str(PYTHON), "-c", CHILD, mode], cwd=ROOT, env={**os.environ, "MUJOCO_GL": "egl"},
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])


def test_robocasa_distractors_are_free_bodies_resting_on_the_counter() -> None:
    out = run_child("blind")
    assert out["added"] == 2 == len(out["applied"]) and out["free_joints"]
    assert out["moved"] < 2e-3, out  # held up by the counter (contact), not by being static
    heights = out["heights"]
    assert all(0.5 < z < 1.5 for z in heights), heights  # on a counter, not on the floor
    assert out["success"] is False


@pytest.mark.slow
def test_robocasa_distractors_show_repeat_per_seed_and_go_away() -> None:
    out = run_child("render")
    assert all(n > 20 for n in out["changed_pixels"].values()), out["changed_pixels"]
    assert out["same_seed_same_images"] and out["same_seed_same_objects"]
    assert out["other_seed_other_place"]
    assert out["same_robot_state"]  # the robot starts where its clean twin does
    assert out["severity0_bit_identical"] and out["added_after_clean"] == 0
