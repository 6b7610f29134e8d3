"""LIBERO hard resets through the compiled-model cache (envs.libero.fast_reset) equal robosuite's compile per reset.

Two envs of the same task, the cache on and off, reset from several init states (seed 41 + i)
and stepped a few times: the model (``mj_saveModel`` bytes), every ``MjData`` array, the
raw and harness observations must be equal bit for bit, also when the live model was edited
during the episode (a shift or a script writing friction, masses, lights, textures, options).
The cache must really have been used (counted), and the old sim must be freed without a
garbage collection.
"""

from __future__ import annotations

import gc
import weakref

import mujoco
import numpy as np
import pytest

from envs.benchmarks import find_task, get_benchmark
from envs.libero.fast_reset import ModelCache, copy_model_into

INITS = (0, 3, 7)
STEPS = 4

SMALL_XML = """<mujoco><asset><texture name="t" type="2d" builtin="checker" width="64" height="64"/></asset>
<worldbody><light pos="0 0 2"/><body name="b" pos="0 0 1"><freejoint/><geom size="0.1" mass="2"/></body>
<body name="fixture" pos="1 0 0"><geom type="box" size="0.2 0.2 0.2"/></body></worldbody></mujoco>"""


def _mjb(model: mujoco.MjModel) -> np.ndarray:
    buf = np.zeros(mujoco.mj_sizeModel(model), np.uint8)
    mujoco.mj_saveModel(model, None, buf)
    return buf


def _edit_model(model: mujoco.MjModel) -> None:
    """What a shift or a script may write into the live model during an episode."""
    model.geom_friction[:] *= 1.5
    model.body_mass[-1] += 0.25
    model.body_pos[-1] += 0.1
    model.light_pos[:] += 0.3
    model.tex_data[:64] = 7
    model.opt.timestep *= 2
    model.vis.global_.fovy += 5
    model.stat.extent *= 3


def _sim_snapshot(env, obs, with_model: bool = False) -> dict:
    data = env.sim.data._data
    snap = {f"data/{n}": np.array(getattr(data, n)) for n in dir(data)
            if not n.startswith("_") and isinstance(getattr(data, n, None), np.ndarray)}
    snap["data/time"] = np.array(data.time)
    if with_model:
        snap["model"] = _mjb(env.sim.model._model)
    snap["obs/state"] = np.array(obs["state"])
    for cam, image in obs["images"].items():
        snap[f"obs/{cam}"] = np.array(image)
    for key, value in env.libero_env._get_observations().items():
        snap[f"raw/{key}"] = np.array(value)
    return snap


def _assert_bit_identical(fast: dict, plain: dict, where: str) -> None:
    assert fast.keys() == plain.keys(), where
    for key in plain:
        assert fast[key].dtype == plain[key].dtype and np.array_equal(fast[key], plain[key]), f"{where}: {key} differs"


# -- the cache on a small real model ---------------------------------------------------------


def test_copies_equal_a_fresh_compile_and_reuse_the_released_memory():
    cache = ModelCache()
    fresh = _mjb(mujoco.MjModel.from_xml_string(SMALL_XML))
    first = cache.model_for(SMALL_XML)
    assert np.array_equal(_mjb(first), fresh) and first is not cache.pristine
    _edit_model(first)
    cache.release(first)
    del first
    second = cache.model_for(SMALL_XML)  # the released memory, overwritten with the pristine model
    assert np.array_equal(_mjb(second), fresh)
    assert cache.counts == {"compiled": 1, "copied": 1, "reused": 1}
    assert np.array_equal(_mjb(cache.pristine), fresh)


def test_a_model_still_referred_to_is_not_overwritten():
    cache = ModelCache()
    held = cache.model_for(SMALL_XML)
    held.body_pos[-1] = (5, 5, 5)
    cache.release(held)  # released, but `held` still refers to it
    other = cache.model_for(SMALL_XML)
    assert other is not held and held.body_pos[-1].tolist() == [5, 5, 5]
    assert cache.counts == {"compiled": 1, "copied": 2, "reused": 0}


def test_new_text_compiles_anew_and_foreign_models_are_not_reused():
    cache = ModelCache()
    cache.model_for(SMALL_XML)
    other_xml = SMALL_XML.replace('pos="1 0 0"', 'pos="2 0 0"')
    model = cache.model_for(other_xml)
    assert np.array_equal(_mjb(model), _mjb(mujoco.MjModel.from_xml_string(other_xml)))
    cache.release(mujoco.MjModel.from_xml_string(other_xml))  # not one of ours: ignored
    assert cache.model_for(other_xml) is not model
    assert cache.counts == {"compiled": 2, "copied": 3, "reused": 0}


def test_an_adopted_model_is_reused_only_for_its_own_text():
    cache = ModelCache()
    adopted = mujoco.MjModel.from_xml_string(SMALL_XML)
    _edit_model(adopted)
    cache.adopt(adopted, SMALL_XML)
    cache.release(adopted)
    del adopted
    model = cache.model_for(SMALL_XML)
    assert np.array_equal(_mjb(model), _mjb(mujoco.MjModel.from_xml_string(SMALL_XML)))
    assert cache.counts == {"compiled": 1, "copied": 0, "reused": 1}
    other = ModelCache()
    foreign = mujoco.MjModel.from_xml_string(SMALL_XML)
    other.adopt(foreign, "<mujoco/>")  # said to come from another text: never overwritten
    other.release(foreign)
    assert other.model_for(SMALL_XML) is not foreign and other.counts["copied"] == 1


def test_copy_model_into_overwrites_every_field():
    src = mujoco.MjModel.from_xml_string(SMALL_XML)
    dst = mujoco.MjModel.from_xml_string(SMALL_XML)
    _edit_model(dst)
    assert not np.array_equal(_mjb(dst), _mjb(src))
    arrays = tuple(n for n in dir(src) if not n.startswith("_") and isinstance(getattr(src, n), np.ndarray))
    copy_model_into(dst, src, arrays)
    assert np.array_equal(_mjb(dst), _mjb(src))


# -- LIBERO: the fast and the plain hard reset -----------------------------------------------


@pytest.mark.parametrize("suite,index", [("libero_spatial", 0), ("libero_10", 0)])
def test_fast_reset_is_bit_identical_over_init_states_and_steps(suite, index):
    bench = get_benchmark("libero")
    task = find_task(bench, suite, index)
    envs = {f: bench.make_env(task, render=False, action_space="native", fast_reset=f) for f in (True, False)}
    rng = np.random.default_rng(3)
    try:
        assert not hasattr(envs[False].libero_env, "_h05_model_cache")
        for k, init in enumerate(INITS):
            snaps = {}
            for fast, env in envs.items():
                if k:
                    _edit_model(env.sim.model._model)  # the reset must undo it, as a fresh compile does
                old_sim, old_data = weakref.ref(env.sim), weakref.ref(env.sim.data._data)
                enabled = gc.isenabled()
                gc.disable()  # the old sim must go by reference counting alone
                try:
                    obs, info = env.reset(seed=41 + init, options={"init_index": init})
                    assert old_sim() is None and old_data() is None
                finally:
                    if enabled:
                        gc.enable()
                snaps[fast] = _sim_snapshot(env, obs, with_model=True)
            _assert_bit_identical(snaps[True], snaps[False], f"{task.key} reset {init}")
            for t in range(STEPS):
                action = np.concatenate([rng.uniform(-1, 1, 6), [1.0 if t % 2 else -1.0]])
                for fast, env in envs.items():
                    obs, _, terminated, _, _ = env.step(action)
                    snaps[fast] = _sim_snapshot(env, obs)
                _assert_bit_identical(snaps[True], snaps[False], f"{task.key} reset {init} step {t}")
        counts = envs[True].libero_env._h05_model_cache.counts
        assert counts == {"compiled": 1, "copied": 0, "reused": len(INITS)}  # the cache ran (1st reset: constructor's model)
    finally:
        for env in envs.values():
            env.close()


class _RenderCounter:
    """Counts real camera renders (robosuite's render context), per env."""

    def __init__(self, monkeypatch) -> None:
        from robosuite.utils.binding_utils import MjRenderContext

        self.counts: dict[int, int] = {}
        real = MjRenderContext.render

        def render(ctx, *args, **kwargs):
            self.counts[id(ctx.sim)] = self.counts.get(id(ctx.sim), 0) + 1
            return real(ctx, *args, **kwargs)

        monkeypatch.setattr(MjRenderContext, "render", render)

    def take(self, env) -> int:
        return self.counts.pop(id(env.sim), 0)


def test_reset_renders_each_camera_once_and_renders_normally_after(monkeypatch):
    bench = get_benchmark("libero")
    env = bench.make_env(find_task(bench, "libero_object", 0), render=True, action_space="native")
    counter = _RenderCounter(monkeypatch)
    try:
        obs, _ = env.reset(seed=42, options={"init_index": 1})
        assert counter.take(env) == len(env.protocol.cameras)  # the last settle step's frames only
        assert "render" not in vars(env.sim)
        for image in obs["images"].values():
            assert image.shape[:2] == (env.protocol.image_size,) * 2 and image.std() > 10  # a real frame
        env.step(np.zeros(7))
        assert counter.take(env) == len(env.protocol.cameras)
    finally:
        env.close()


@pytest.mark.slow
def test_fast_reset_gives_identical_images(monkeypatch):
    bench = get_benchmark("libero")
    task = find_task(bench, "libero_goal", 0)
    envs = {f: bench.make_env(task, render=True, action_space="native", fast_reset=f) for f in (True, False)}
    counter = _RenderCounter(monkeypatch)
    cams = len(envs[True].protocol.cameras)
    try:
        for init in (0, 5):
            snaps = {}
            for fast, env in envs.items():
                obs, _ = env.reset(seed=41 + init, options={"init_index": init})
                assert counter.take(env) == (1 if fast else 4) * cams  # robosuite's 3 rebuild frames are blank
                snaps[fast] = _sim_snapshot(env, obs, with_model=True)
            _assert_bit_identical(snaps[True], snaps[False], f"{task.key} rendered reset {init}")
            for fast, env in envs.items():
                obs, *_ = env.step(np.array([0.5, -0.5, 0.2, 0, 0, 0.3, 1.0]))
                snaps[fast] = _sim_snapshot(env, obs)
            _assert_bit_identical(snaps[True], snaps[False], f"{task.key} rendered step after reset {init}")
        assert envs[True].libero_env._h05_model_cache.counts == {"compiled": 1, "copied": 0, "reused": 2}
    finally:
        for env in envs.values():
            env.close()
