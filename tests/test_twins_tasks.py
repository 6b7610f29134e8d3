"""Twin tasks: predicates both ways, determinism, benchmark registry and h05 eval end to end."""

import subprocess
import sys

import numpy as np
import pytest

from envs.benchmarks import get_benchmark
from envs.twins import make_twin
from envs.twins.expert import run_expert_episode
from envs.twins.tasks import TASKS

# one embodiment per task (all five robots appear) keeps the default run inside its budget;
# benchmarks/twins_experts.py covers every feasible pair with 50 seeds
PAIRS = {
    "place_on_pad": "so101", "stack_blocks": "fr3_inspire", "place_left_of": "d1", "sort_cubes": "so101",
    "stack_three": "fr3_inspire", "clear_table": "d1", "handover": "g1", "lift_tray": "adam_u",
    "novel_colour": "g1", "novel_shape": "d1",
}


def test_every_task_has_a_both_ways_pair():
    assert set(PAIRS) == {t.name for t in TASKS}


@pytest.mark.parametrize("task,emb", sorted(PAIRS.items()))
def test_expert_succeeds_and_noop_does_not(task, emb):
    env = make_twin(task, emb)
    assert run_expert_episode(env, init_index=0)["success"]
    obs, info = env.reset(seed=0, options={"init_index": 0})
    noop = info["noop_action"]
    for _ in range(env.max_steps):
        obs, _, term, trunc, step_info = env.step(noop)
        assert not term
        if trunc:
            break
    assert trunc and not step_info["success"] and not env.check_success()


def test_same_index_same_scene_and_outcome_other_index_other_scene():
    env = make_twin("stack_blocks", "so101")
    a = run_expert_episode(env, init_index=4)
    b = run_expert_episode(env, init_index=4)
    assert a["success"] == b["success"] and a["steps"] == b["steps"]
    np.testing.assert_array_equal(a["state"], b["state"])
    env.reset(options={"init_index": 4})
    p4 = env.scene_view().pos["red_cube"].copy()
    env.reset(options={"init_index": 5})
    assert not np.allclose(p4, env.scene_view().pos["red_cube"])


def test_benchmark_lists_feasible_pairs_only():
    bench = get_benchmark("twins")
    names = [(t.suite, t.name) for t in bench.tasks()]
    assert len(names) == len(set(names)) == 8 * 5 + 2 * 2
    assert {t.embodiment for t in bench.tasks("bimanual")} == {"adam_u", "g1"}
    assert all(t.num_init_states >= 1000 for t in bench.tasks())


def test_h05_list_and_eval_on_twins(tmp_path):
    out = subprocess.run([sys.executable, "-m", "evaluators.cli", "list", "tasks", "--benchmark", "twins"],
                         capture_output=True, text=True, check=True).stdout
    assert "lift_tray" in out and "so101" in out
    r = subprocess.run([sys.executable, "-m", "evaluators.cli", "eval", "benchmark=twins", "suites=[spatial]",
                        "tasks=[place_on_pad@so101]", "trials_per_task=2", "policy=noop", f"runs_dir={tmp_path}",
                        "name=t", "progress=false"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "place_on_pad@so101" in r.stdout


def test_layouts_stay_in_reach_and_never_start_solved():
    from envs.twins.embodiments import embodiment_names, load_embodiment
    from envs.twins.tasks import _left_of

    so101 = load_embodiment("so101")
    r_lo, r_hi = so101.workspace_radius
    for t in TASKS:
        if t.feasible(so101):
            for i in range(30):
                for name, p in t.sample_layout(so101, i).positions.items():
                    assert r_lo <= np.linalg.norm(p[:2]) <= r_hi, (t.name, i, name, p)
    left_of = next(t for t in TASKS if t.name == "place_left_of")
    for emb in embodiment_names():
        spec = load_embodiment(emb)
        assert not any(_left_of(spec, left_of.sample_layout(spec, i).positions, "red_cube", "blue_cube") for i in range(200))


def _teleport(env, name: str, table_pos) -> None:
    import mujoco

    a = env._free[name]
    env.data.qpos[a : a + 3] = np.asarray(table_pos, float) + env.robot.table_origin
    env.data.qpos[a + 3 : a + 7] = (1, 0, 0, 0)
    env.data.qvel[:] = 0
    mujoco.mj_forward(env.model, env.data)


@pytest.mark.parametrize("emb", ["adam_u", "g1"])
def test_bimanual_goals_need_both_hands_not_a_toss_or_sweep(emb):
    """A tray lifted level without hands, or a bar pushed onto the pad without a grasp, is no success."""
    tray = make_twin("lift_tray", emb)
    tray.reset(seed=0, options={"init_index": 0})
    view = tray.scene_view()
    _teleport(tray, "tray", view.pos["tray"] + np.array([0, 0, 0.09]))  # level, in the air, untouched
    v = tray.scene_view()
    assert v.pos["tray"][2] > 0.086 and v.rot["tray"][2, 2] > 0.99 and not v.held["tray"]
    assert not tray.check_success()
    bar = make_twin("handover", emb)
    bar.reset(seed=0, options={"init_index": 0})
    v = bar.scene_view()
    _teleport(bar, "bar", np.r_[v.pos["green_pad"][:2], v.pos["bar"][2]])  # resting on the pad, never held
    noop = bar.hold_action()
    for _ in range(3):
        bar.step(noop)
    v = bar.scene_view()
    assert v.resting("bar") and v.on_pad("bar", "green_pad", (10, 10)) and not v.ever_held_by.get("bar")
    assert not bar.check_success()
    assert run_expert_episode(bar, init_index=0)["success"]  # the real handover still counts
