"""Sensory shift wrappers change rendered images, are identical for the same seed,
and severity 0 is bit-identical to no wrapper.

Most checks run on a small MuJoCo scene rendered offscreen (real model edits,
real rendering, milliseconds per frame); one test runs the scene shifts on a
real LIBERO task.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import pytest

from envs.shift import SHIFT_KINDS, SensoryShift, ShiftError

SCENE_XML = """
<mujoco>
  <visual><headlight ambient="0.2 0.2 0.2" diffuse="0.4 0.4 0.4"/></visual>
  <worldbody>
    <light name="key" pos="0.3 -0.3 1.5" dir="0 0 -1" diffuse="0.8 0.8 0.8"/>
    <geom type="plane" size="1 1 0.1" rgba="0.6 0.6 0.55 1"/>
    <body name="cube" pos="0 0 0.05"><freejoint/><geom type="box" size="0.05 0.05 0.05" rgba="0.8 0.2 0.1 1"/></body>
    <body name="ball" pos="0.12 0.08 0.04"><freejoint/><geom type="sphere" size="0.04" rgba="0.1 0.3 0.8 1"/></body>
    <camera name="front" pos="0 -0.55 0.35" xyaxes="1 0 0 0 0.55 0.83"/>
  </worldbody>
</mujoco>
"""
IMAGE_KINDS = ("color_jitter", "noise", "blur", "occlusion")


class SmallSceneEnv(gym.Env):
    """A two-object MuJoCo scene with one camera; exposes ``model``/``data`` like the twins."""

    camera_names = ["front"]

    def __init__(self, size: int = 64) -> None:
        self.model = mujoco.MjModel.from_xml_string(SCENE_XML)
        self.data = mujoco.MjData(self.model)
        self.renderer = mujoco.Renderer(self.model, size, size)
        self.action_space = gym.spaces.Box(-1, 1, (200,), np.float32)
        self.observation_space = gym.spaces.Dict({})

    def observe(self) -> dict[str, Any]:
        mujoco.mj_forward(self.model, self.data)
        self.renderer.update_scene(self.data, camera="front")
        return {"images": {"front": self.renderer.render().copy()}, "state": self.data.qpos.astype(np.float32)}

    def reset(self, *, seed=None, options=None):
        mujoco.mj_resetData(self.model, self.data)
        return self.observe(), {}

    def step(self, action):
        mujoco.mj_step(self.model, self.data)
        return self.observe(), 0.0, False, False, {}

    def close(self) -> None:
        self.renderer.close()


@pytest.fixture(scope="module")
def small():
    env = SensoryShift(SmallSceneEnv())
    yield env
    env.close()


def frames(env: SensoryShift, kind: str, severity: int, seed: int, steps: int = 1) -> list[np.ndarray]:
    obs, info = env.reset(seed=seed, options={"shift": {"kind": kind, "severity": severity}})
    assert info["shift"]["kind"] == kind and info["shift"]["severity"] == severity
    out = [obs["images"]["front"]]
    for _ in range(steps):
        obs, *_ = env.step(np.zeros(200, np.float32))
        out.append(obs["images"]["front"])
    return out


def mean_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(x.astype(np.int16) - y).mean() for x, y in zip(a, b)]))


def test_severity_zero_is_bit_identical_to_no_wrapper(small: SensoryShift) -> None:
    raw_env = SmallSceneEnv()
    raw = [raw_env.reset()[0]["images"]["front"], raw_env.step(None)[0]["images"]["front"]]
    raw_env.close()
    for kind in SHIFT_KINDS:
        if kind in ("camera_pose", "lighting"):
            frames(small, kind, 3, seed=5, steps=0)  # a shifted episode first: its edits must be undone
        clean = frames(small, kind, 0, seed=5)
        assert all(np.array_equal(x, y) for x, y in zip(clean, raw)), kind


@pytest.mark.parametrize("kind", ["camera_pose", "lighting", *IMAGE_KINDS])
def test_shift_changes_images_and_repeats_per_seed(small: SensoryShift, kind: str) -> None:
    clean = frames(small, "none", 0, seed=1)
    mild, strong = frames(small, kind, 1, seed=1), frames(small, kind, 5, seed=1)
    again = frames(small, kind, 5, seed=1)
    other = frames(small, kind, 5, seed=2)
    d_mild, d_strong = mean_abs_diff(mild, clean), mean_abs_diff(strong, clean)
    assert d_strong > 1.0, (kind, d_strong)  # measured: mean |delta| in 8-bit levels
    assert d_strong > d_mild > 0, (kind, d_mild, d_strong)
    assert all(np.array_equal(x, y) for x, y in zip(strong, again))
    if kind != "blur":  # blur has no random draw
        assert not all(np.array_equal(x, y) for x, y in zip(strong, other))


def test_scene_shifts_edit_the_model_and_restore_it(small: SensoryShift) -> None:
    model = small.unwrapped.model
    cam, light = model.cam_pos.copy(), model.light_diffuse.copy()
    frames(small, "camera_pose", 4, seed=3, steps=0)
    assert not np.array_equal(model.cam_pos, cam)
    frames(small, "lighting", 4, seed=3, steps=0)
    assert np.array_equal(model.cam_pos, cam) and not np.array_equal(model.light_diffuse, light)
    frames(small, "none", 0, seed=3, steps=0)
    assert np.array_equal(model.light_diffuse, light)


def test_distractors_need_a_benchmark_that_can_add_objects(small: SensoryShift) -> None:
    with pytest.raises(ShiftError, match="cannot add objects"):
        small.reset(seed=0, options={"shift": {"kind": "distractors", "severity": 2}})


def test_bad_shift_requests_name_the_bad_value(small: SensoryShift) -> None:
    with pytest.raises(ShiftError, match="'fog'"):
        small.reset(seed=0, options={"shift": {"kind": "fog", "severity": 1}})
    with pytest.raises(ShiftError, match="6"):
        small.reset(seed=0, options={"shift": {"kind": "noise", "severity": 6}})
    with pytest.raises(ShiftError, match="'none' takes severity 0"):
        small.reset(seed=0, options={"shift": {"kind": "none", "severity": 2}})
    with pytest.raises(ShiftError, match="2.5"):
        SensoryShift(SmallSceneEnv(), "blur", 2.5)


@pytest.fixture(scope="module")
def libero_env():
    from envs.benchmarks import find_task, get_benchmark

    bench = get_benchmark("libero")
    env = SensoryShift(bench.make_env(find_task(bench, "libero_spatial", 0), render=True))
    yield env
    env.close()


def test_libero_scene_shifts_change_the_scene_not_the_physics(libero_env: SensoryShift) -> None:
    opts = lambda kind, sev: {"init_index": 0, "shift": {"kind": kind, "severity": sev}}  # noqa: E731
    clean, _ = libero_env.reset(seed=41, options=opts("none", 0))
    moved, info = libero_env.reset(seed=41, options=opts("camera_pose", 3))
    assert set(info["shift"]["applied"]) == set(clean["images"])
    for cam in clean["images"]:
        assert np.abs(moved["images"][cam].astype(np.int16) - clean["images"][cam]).mean() > 1.0, cam
    np.testing.assert_array_equal(moved["state"], clean["state"])
    cluttered, info = libero_env.reset(seed=41, options=opts("distractors", 3))
    assert len(info["shift"]["applied"]["objects"]) == 3
    model = libero_env.unwrapped.sim.model._model
    names = [model.body(i).name for i in range(model.nbody)]
    assert sum(n.startswith("h05_distractor_") for n in names) == 3
    assert np.abs(cluttered["images"]["agentview"].astype(np.int16) - clean["images"]["agentview"]).mean() > 0.2
    np.testing.assert_array_equal(cluttered["state"], clean["state"])  # visual-only objects: same physics


def test_twins_scene_shifts_restore_the_clean_scene() -> None:
    from envs.benchmarks import find_task, get_benchmark

    bench = get_benchmark("twins")
    env = SensoryShift(bench.make_env(find_task(bench, "spatial", "place_on_pad@so101"), render=True))
    try:
        opts = lambda kind, sev: {"init_index": 0, "shift": {"kind": kind, "severity": sev}}  # noqa: E731
        clean, _ = env.reset(seed=7, options=opts("none", 0))
        for kind in ("camera_pose", "lighting"):
            shifted, _ = env.reset(seed=7, options=opts(kind, 4))
            np.testing.assert_array_equal(shifted["state"], clean["state"])
            for cam in clean["images"]:
                assert np.abs(shifted["images"][cam].astype(np.int16) - clean["images"][cam]).mean() > 1.0, (kind, cam)
        env.reset(seed=7, options=opts("distractors", 1))  # twins add real objects (tests/test_shift_distractors.py)
        again, _ = env.reset(seed=7, options=opts("none", 0))
        for cam in clean["images"]:
            np.testing.assert_array_equal(again["images"][cam], clean["images"][cam])
    finally:
        env.close()
