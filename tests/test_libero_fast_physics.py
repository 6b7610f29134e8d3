"""LIBERO with one forward pass per physics substep (envs.libero.fast_physics) is bit-identical to robosuite's loop.

Two envs of the same task, the fast path on and off, reset from the same init state and stepped
with one fixed random action sequence (gripper opening and closing): the simulator state, the
sensors, the raw and harness observations and the success flags must be equal bit for bit at
every step, and the fast path must really have run (MuJoCo calls counted).
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from envs.benchmarks import find_task, get_benchmark
from envs.libero.fast_physics import ENV_VAR, split_substeps
from evaluators.baselines import RandomPolicy
from evaluators.env_pool import EnvWorkerSettings
from evaluators.plan import build_plan
from evaluators.runner import OUTCOME_FIELDS, run_episodes
from evaluators.store import EpisodeStore

STEPS = 40
SIM_FIELDS = ("qpos", "qvel", "act", "ctrl", "qacc", "qacc_warmstart", "sensordata")


def _actions(seed: int = 7) -> np.ndarray:
    """Random arm deltas; the gripper opens (-1) and closes (+1) twice."""
    rng = np.random.default_rng(seed)
    grip = np.where((np.arange(STEPS) // 10) % 2 == 1, 1.0, -1.0)
    return np.concatenate([rng.uniform(-1, 1, (STEPS, 6)), grip[:, None]], axis=1).astype(np.float32)


def _snapshot(env, obs, success) -> dict:
    data = env.sim.data._data
    snap = {f: np.array(getattr(data, f)) for f in SIM_FIELDS}
    snap["time"] = np.array(data.time)
    snap["state"] = np.array(obs["state"])
    snap["success"] = np.array(success)
    snap["ee_forcetorque"] = np.array(env.libero_env.robots[0].recent_ee_forcetorques.current)
    for key, value in env.libero_env._get_observations().items():
        snap[f"raw/{key}"] = np.array(value)
    return snap


def _assert_bit_identical(fast: dict, slow: dict, where: str) -> None:
    assert fast.keys() == slow.keys(), where
    for key in slow:
        assert fast[key].dtype == slow[key].dtype and np.array_equal(fast[key], slow[key]), (
            f"{where}: {key} differs (max |diff| "
            f"{np.max(np.abs(fast[key].astype(float) - slow[key].astype(float))) if fast[key].shape == slow[key].shape else 'shape'})")


class _CallCounter:
    """Counts MuJoCo's forward/step entry points (module attributes, as both paths call them)."""

    NAMES = ("mj_forward", "mj_step", "mj_step1", "mj_step2")

    def __init__(self, monkeypatch) -> None:
        self.counts = dict.fromkeys(self.NAMES, 0)
        for name in self.NAMES:
            real = getattr(mujoco, name)
            monkeypatch.setattr(mujoco, name, self._counting(name, real))

    def _counting(self, name, real):
        def call(*args):
            self.counts[name] += 1
            return real(*args)
        return call

    def take(self) -> dict[str, int]:
        out, self.counts = self.counts, dict.fromkeys(self.NAMES, 0)
        return out


@pytest.mark.parametrize("suite,index", [("libero_spatial", 0), ("libero_goal", 0)])  # goal 0: open the drawer
def test_fast_physics_is_bit_identical_step_by_step(suite, index, monkeypatch):
    bench = get_benchmark("libero")
    task = find_task(bench, suite, index)
    fast = bench.make_env(task, render=False, action_space="native", fast_physics=True)
    slow = bench.make_env(task, render=False, action_space="native", fast_physics=False)
    try:
        snaps = {}
        for name, env in (("fast", fast), ("slow", slow)):
            obs, _ = env.reset(seed=41 + 3, options={"init_index": 3})
            snaps[name] = _snapshot(env, obs, False)
        _assert_bit_identical(snaps["fast"], snaps["slow"], f"{task.key} after reset")
        counter = _CallCounter(monkeypatch)
        substeps = int(fast.libero_env.control_timestep / fast.libero_env.model_timestep)
        for t, action in enumerate(_actions()):
            calls = {}
            for name, env in (("fast", fast), ("slow", slow)):
                obs, _, terminated, _, info = env.step(action)
                calls[name] = counter.take()
                snaps[name] = _snapshot(env, obs, (terminated, info["success"], env.check_success()))
            _assert_bit_identical(snaps["fast"], snaps["slow"], f"{task.key} step {t}")
            # the fast path ran: one full forward (the policy step's), then step1/step2 per substep
            assert calls["fast"] == {"mj_forward": 1, "mj_step": 0, "mj_step1": substeps - 1, "mj_step2": substeps}
            assert calls["slow"] == {"mj_forward": 2 * substeps, "mj_step": substeps, "mj_step1": 0, "mj_step2": 0}
        assert not np.array_equal(snaps["fast"]["qpos"], fast.libero_env.sim.model.qpos0)  # it moved
    finally:
        fast.close()
        slow.close()


def test_rk4_and_off_keep_the_default_path():
    bench = get_benchmark("libero")
    env = bench.make_env(find_task(bench, "libero_spatial", 0), render=False)
    try:
        env.reset(seed=41, options={"init_index": 0})
        rs_env = env.libero_env
        with split_substeps(rs_env, enabled=False) as active:
            assert active is False and "forward" not in vars(rs_env.sim)
        with split_substeps(rs_env) as active:
            assert active is True and "forward" in vars(rs_env.sim)
        assert "forward" not in vars(rs_env.sim) and "step" not in vars(rs_env.sim)  # restored
        rs_env.sim.model._model.opt.integrator = mujoco.mjtIntegrator.mjINT_RK4
        with split_substeps(rs_env) as active:
            assert active is False
    finally:
        env.close()


def test_episode_records_through_the_worker_are_the_same_and_say_which_path_ran(tmp_path, monkeypatch):
    specs = build_plan("libero", ["libero_goal"], [0], 1, policy="random", max_steps=24)
    records = {}
    for flag in ("1", "0"):
        monkeypatch.setenv(ENV_VAR, flag)  # env workers inherit it
        with EpisodeStore(tmp_path / flag) as store:
            run_episodes(specs, store, RandomPolicy(), progress=False, env_workers=EnvWorkerSettings())
        records[flag] = list(EpisodeStore(tmp_path / flag).records())
    assert [r["versions"]["libero_physics"] for r in records["1"] + records["0"]] == [
        "mj_step1/mj_step2", "mj_forward/mj_step"]
    outcome = {flag: [{k: r.get(k) for k in OUTCOME_FIELDS} for r in rs] for flag, rs in records.items()}
    assert outcome["1"] == outcome["0"]
    assert outcome["1"][0]["status"] == "failure" and outcome["1"][0]["steps"] == 24 and outcome["1"][0]["final_state_sha"]
