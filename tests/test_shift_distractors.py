"""Distractor objects on the twins: real free bodies in the MuJoCo model, visible, seeded, out of the task's way.

Real twins scenes (SO-101, place_on_pad), real physics and offscreen renders.
RoboCasa's distractors are tested in tests/test_shift_robocasa.py.
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from envs.benchmarks import find_task, get_benchmark
from envs.shift import SensoryShift, ShiftError
from envs.shift import distractors as dist
from envs.shift.levels import level_params
from envs.twins.expert import ScriptedExpert

TASK = ("spatial", "place_on_pad@so101")


def make_twin(render: bool = True):
    bench = get_benchmark("twins")
    return bench.make_env(find_task(bench, *TASK), render=render)


def opts(kind: str, severity: int, init_index: int = 0) -> dict:
    return {"init_index": init_index, "shift": {"kind": kind, "severity": severity}}


@pytest.fixture(scope="module")
def twin():
    env = SensoryShift(make_twin())
    yield env
    env.close()


def added_bodies(model: mujoco.MjModel) -> list[int]:
    return [b for b in range(model.nbody) if model.body(b).name.startswith(dist.PREFIX)]


def test_severity_zero_after_distractors_is_bit_identical_to_no_wrapper(twin: SensoryShift) -> None:
    raw = make_twin()
    try:
        r_obs, _ = raw.reset(seed=7, options={"init_index": 0})
        r_next, *_ = raw.step(raw.hold_action())
        nbody = raw.model.nbody
    finally:
        raw.close()
    twin.reset(seed=7, options=opts("distractors", 3))
    assert twin.unwrapped.model.nbody == nbody + 3
    obs, _ = twin.reset(seed=7, options=opts("distractors", 0))
    nxt, *_ = twin.step(twin.unwrapped.hold_action())
    assert twin.unwrapped.model.nbody == nbody  # the next episode is back on the task's own scene
    for a, b in ((obs, r_obs), (nxt, r_next)):
        np.testing.assert_array_equal(a["state"], b["state"])
        for cam in b["images"]:
            np.testing.assert_array_equal(a["images"][cam], b["images"][cam])


def test_distractors_are_free_bodies_that_rest_on_the_table_and_show(twin: SensoryShift) -> None:
    clean, _ = twin.reset(seed=11, options=opts("none", 0))
    nbody = twin.unwrapped.model.nbody
    diffs = []
    for severity in (1, 3, 5):
        obs, info = twin.reset(seed=11, options=opts("distractors", severity))
        env = twin.unwrapped
        model, data = env.model, env.data
        count = int(level_params("distractors", severity)["count"])
        bodies = added_bodies(model)
        assert model.nbody == nbody + count and len(bodies) == count == len(info["shift"]["applied"]["objects"])
        for b in bodies:  # a free joint each, with mass: in the physics, not decoration
            assert model.jnt_type[model.body_jntadr[b]] == mujoco.mjtJoint.mjJNT_FREE and model.body_mass[b] > 0
        np.testing.assert_array_equal(obs["state"], clean["state"])  # same robot start as the clean twin
        start = data.xpos[bodies].copy()
        for _ in range(10):
            twin.step(env.hold_action())
        # gravity acts; only contact with the table holds them (a visual-only body would fall through)
        np.testing.assert_allclose(data.xpos[bodies], start, atol=1e-3)
        assert np.all(start[:, 2] > env.espec.table_height)
        assert not env.check_success()
        # clear of the task objects: at least 1.5 object sizes between edges
        s = env.espec.object_size
        for o in info["shift"]["applied"]["objects"]:
            for name in ("red_cube", "green_pad"):
                gap = np.linalg.norm(np.asarray(o["pos"][:2]) - data.xpos[model.body(name).id][:2])
                assert gap > 1.5 * s, (o["name"], name, gap)
        d = np.abs(obs["images"]["scene"].astype(np.int16) - clean["images"]["scene"])
        diffs.append(int((d.max(-1) > 30).sum()))  # pixels changed by more than 30 levels
    assert 0 < diffs[0] < diffs[1] < diffs[2], diffs


def test_same_seed_same_scene_other_seed_other_placement(twin: SensoryShift) -> None:
    a, info_a = twin.reset(seed=3, options=opts("distractors", 2))
    b, info_b = twin.reset(seed=3, options=opts("distractors", 2))
    c, info_c = twin.reset(seed=4, options=opts("distractors", 2))
    assert info_a["shift"]["applied"] == info_b["shift"]["applied"]
    np.testing.assert_array_equal(a["images"]["scene"], b["images"]["scene"])
    pa = [o["pos"] for o in info_a["shift"]["applied"]["objects"]]
    pc = [o["pos"] for o in info_c["shift"]["applied"]["objects"]]
    assert pa != pc
    assert not np.array_equal(a["images"]["scene"], c["images"]["scene"])


def _expert_succeeds(twin: SensoryShift) -> bool:
    """Run the scripted expert from the current (shifted) state to the end of the episode."""
    expert = ScriptedExpert(twin.unwrapped)
    expert.reset()
    for _ in range(twin.unwrapped.max_steps):
        _, _, success, truncated, _ = twin.step(expert.act())
        if success or truncated:
            return bool(success)
    return False


def test_scripted_expert_still_succeeds_with_three_distractors(twin: SensoryShift) -> None:
    twin.reset(seed=21, options=opts("distractors", 3, init_index=1))
    assert _expert_succeeds(twin)
    assert len(added_bodies(twin.unwrapped.model)) == 3


@pytest.mark.slow
@pytest.mark.parametrize("init_index", range(2, 7))
def test_scripted_expert_succeeds_on_more_scenes(twin: SensoryShift, init_index: int) -> None:
    twin.reset(seed=100 + init_index, options=opts("distractors", 3, init_index=init_index))
    assert _expert_succeeds(twin)


def test_no_room_names_the_region() -> None:
    env = make_twin(render=False)
    try:
        env.reset(seed=0, options={"init_index": 0})
        th = env.espec.table_height
        tiny = dist.TableRegion(lo=np.array([0.3, 0.0]), hi=np.array([0.301, 0.001]), surface_z=th, ray_from_z=th + 0.1,
                                avoid=((np.array([0.3, 0.0]), 0.05),), object_size=0.03)
        objs = dist.draw_distractors(np.random.default_rng(0), level_params("distractors", 2), tiny)
        with pytest.raises(ShiftError, match=r"no free table space for distractor 1 of 2 \(region x 0.300"):
            dist.place(env.model, env.data, objs, tiny, np.random.default_rng(0))
    finally:
        env.close()
