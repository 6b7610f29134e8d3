"""The RoboCasa gymnasium env in its own interpreter: determinism per seed and trial, contract, bad input."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv-robocasa" / "bin" / "python"

CHILD = r"""
import json, numpy as np
from envs.benchmarks import find_task, get_benchmark
from envs.observation import check_observation, ActionError
bench = get_benchmark("robocasa")
env = bench.make_env(find_task(bench, "robocasa_lite_atomic24", "TurnOnStove"), render=False)
out = {}
def run(seed, trial):
    obs, info = env.reset(seed=seed, options={"trial": trial})
    check_observation(obs)
    for _ in range(5):
        obs, *_ = env.step(env.noop_action())
    k = env.robocasa_env
    return obs["state"].tolist(), k.sim.data.qpos.copy().tolist(), info["layout"], info["style"], obs["instruction"]
a, b, c = run(7, 1), run(7, 1), run(8, 3)
out["same_seed_same_state"] = a[0] == b[0] and a[1] == b[1]
out["other_seed_differs"] = a[1] != c[1]
out["scenes"] = [[a[2], a[3]], [c[2], c[3]]]
out["instruction"] = a[4]
out["state_mask_slots"] = np.flatnonzero(env.reset(options={"trial": 0})[0]["state_mask"]).tolist()
errors = {}
for name, call in {
    "short_action": lambda: env.step(np.zeros(12, dtype=np.float32)),
    "nan_action": lambda: env.step(np.full(200, np.nan, dtype=np.float32)),
    "negative_trial": lambda: env.reset(options={"trial": -1}),
}.items():
    try:
        call()
        errors[name] = None
    except (ActionError, ValueError) as exc:
        errors[name] = f"{type(exc).__name__}: {exc}"
out["errors"] = errors
try:
    bench.make_env(find_task(bench, "robocasa_atomic24", "TurnOnStove"), render=False)
    out["official_suite_on_lite"] = None
except ValueError as exc:
    out["official_suite_on_lite"] = str(exc)
env.close()
from robocasa.models.objects.kitchen_objects import OBJ_CATEGORIES
out["empty_categories"] = [f"{n}/{r}" for n, d in OBJ_CATEGORIES.items() for r, c in d.items() if not c.mjcf_paths]
print("RESULT " + json.dumps(out))
"""


def test_env_is_deterministic_and_rejects_bad_input():
    assert PYTHON.exists(), f"{PYTHON} missing: run make setup"
    done = subprocess.run([str(PYTHON), "-c", CHILD], cwd=ROOT, env={**os.environ, "MUJOCO_GL": "egl"},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert out["same_seed_same_state"] and out["other_seed_differs"]
    assert out["scenes"] == [[2, 2], [4, 4]]  # trial i -> scene i % 5 of the protocol
    assert "stove" in out["instruction"].lower()
    assert out["state_mask_slots"] == [*range(0, 6), 44, 45, *range(70, 76)]
    errors = out["errors"]
    assert "(200,)" in errors["short_action"] and "(12,)" in errors["short_action"]
    assert "non-finite" in errors["nan_action"]
    assert "-1" in errors["negative_trial"]
    assert out["empty_categories"] == []  # an empty one makes object sampling fail (NaN probabilities)
    assert "official" in out["official_suite_on_lite"] and "robocasa_lite_atomic24" in out["official_suite_on_lite"]
