"""LIBERO with the compact substep control (envs.libero.fast_control) is bit-identical to robosuite's loop.

Envs of the same task with every harness fast path on and with all of them off (robosuite's own
loop), reset from the same init state and stepped with one fixed random action sequence that
opens and closes the gripper: simulator state, controller and robot attributes, every
observable's timer, raw and harness observations (images too, where rendered) and success must
be equal bit for bit after every step, and the compact path must really have run (robosuite's
controller and observable updates counted).
"""

from __future__ import annotations

import numpy as np
import pytest

from envs.benchmarks import find_task, get_benchmark
from envs.libero.fast_control import compact_substeps, unsupported_reason

SIM_FIELDS = ("qpos", "qvel", "act", "ctrl", "qacc", "qacc_warmstart", "sensordata")
CONTROLLER_FIELDS = ("ee_pos", "ee_ori_mat", "ee_pos_vel", "ee_ori_vel", "joint_pos", "joint_vel", "J_pos", "J_ori",
                     "J_full", "mass_matrix", "torques", "goal_pos", "goal_ori", "new_update")


def _actions(steps: int, seed: int = 11) -> np.ndarray:
    """Random arm deltas; the gripper alternates open (-1) and closed (+1) every 8 steps."""
    rng = np.random.default_rng(seed)
    grip = np.where((np.arange(steps) // 8) % 2 == 1, 1.0, -1.0)
    return np.concatenate([rng.uniform(-1, 1, (steps, 6)), grip[:, None]], axis=1).astype(np.float32)


def _snapshot(env, obs, success) -> dict:
    rs_env = env.libero_env
    robot = rs_env.robots[0]
    data = env.sim.data._data
    snap = {f"sim/{f}": np.array(getattr(data, f)) for f in SIM_FIELDS}
    snap["sim/time"] = np.array(data.time)
    snap.update({f"controller/{f}": np.array(getattr(robot.controller, f)) for f in CONTROLLER_FIELDS})
    snap["robot/torques"] = np.array(robot.torques)
    snap["robot/ee_forcetorque"] = np.array(robot.recent_ee_forcetorques.current)
    snap["gripper/current_action"] = np.array(robot.gripper.current_action)
    for name, o in rs_env._observables.items():
        snap[f"timer/{name}"] = np.array([o._time_since_last_sample, o._sampled, o._current_delay])
    for key, value in rs_env._get_observations().items():
        snap[f"raw/{key}"] = np.array(value)
    snap["obs/state"] = np.array(obs["state"])
    for cam, image in obs.get("images", {}).items():
        snap[f"obs/image/{cam}"] = np.array(image)
    snap["success"] = np.array(success)
    return snap


def _assert_bit_identical(fast: dict, slow: dict, where: str) -> None:
    assert fast.keys() == slow.keys(), where
    for key in slow:
        same = fast[key].dtype == slow[key].dtype and np.array_equal(fast[key], slow[key])
        assert same, f"{where}: {key} differs: {fast[key].ravel()[:6]} vs {slow[key].ravel()[:6]}"


class _Counter:
    """Counts calls of robosuite's OSC ``run_controller`` and ``Observable.update`` (class attributes)."""

    def __init__(self, monkeypatch) -> None:
        from robosuite.controllers.osc import OperationalSpaceController
        from robosuite.utils.observables import Observable

        self.counts = {"run_controller": 0, "observable_update": 0}
        for cls, attr, key in ((OperationalSpaceController, "run_controller", "run_controller"),
                               (Observable, "update", "observable_update")):
            monkeypatch.setattr(cls, attr, self._counting(key, getattr(cls, attr)))

    def _counting(self, key, real):
        def call(*args, **kwargs):
            self.counts[key] += 1
            return real(*args, **kwargs)
        return call

    def take(self) -> dict[str, int]:
        out, self.counts = self.counts, dict.fromkeys(self.counts, 0)
        return out


@pytest.mark.parametrize("suite,index,render,steps", [
    ("libero_spatial", 0, False, 40),
    ("libero_goal", 0, False, 40),  # open the drawer: articulated fixture, contacts
    ("libero_10", 0, True, 6),  # two objects' observables and both cameras
])
def test_compact_control_is_bit_identical_step_by_step(suite, index, render, steps):
    bench = get_benchmark("libero")
    task = find_task(bench, suite, index)
    fast = bench.make_env(task, render=render, action_space="native", fast_physics=True, fast_control=True)
    slow = bench.make_env(task, render=render, action_space="native", fast_physics=False, fast_control=False)
    try:
        snaps = {}
        for name, env in (("fast", fast), ("slow", slow)):
            obs, _ = env.reset(seed=44, options={"init_index": 3})
            snaps[name] = _snapshot(env, obs, False)
        _assert_bit_identical(snaps["fast"], snaps["slow"], f"{task.key} after reset")
        for t, action in enumerate(_actions(steps)):
            for name, env in (("fast", fast), ("slow", slow)):
                obs, _, terminated, _, info = env.step(action)
                snaps[name] = _snapshot(env, obs, (terminated, info["success"]))
            _assert_bit_identical(snaps["fast"], snaps["slow"], f"{task.key} step {t}")
        assert not np.array_equal(snaps["fast"]["sim/qpos"], fast.libero_env.sim.model.qpos0)  # it moved
        assert np.any(snaps["fast"]["gripper/current_action"] != 0)  # the gripper ramp ran
    finally:
        fast.close()
        slow.close()


def test_the_compact_path_runs_robosuites_controller_once_per_step(monkeypatch):
    bench = get_benchmark("libero")
    task = find_task(bench, "libero_spatial", 0)
    fast = bench.make_env(task, render=False, action_space="native", fast_control=True)
    slow = bench.make_env(task, render=False, action_space="native", fast_control=False)
    try:
        for env in (fast, slow):
            env.reset(seed=41, options={"init_index": 0})
        substeps = int(fast.libero_env.control_timestep / fast.libero_env.model_timestep)
        observables = len(fast.libero_env._observables)
        counter = _Counter(monkeypatch)
        for action in _actions(3):
            calls = {}
            for name, env in (("fast", fast), ("slow", slow)):
                env.step(action)
                calls[name] = counter.take()
            assert calls["slow"] == {"run_controller": substeps, "observable_update": substeps * observables}
            # robosuite's run_controller on the policy step only; observables' own update when they sample
            assert calls["fast"] == {"run_controller": 1, "observable_update": observables}
    finally:
        fast.close()
        slow.close()


def test_shapes_outside_the_compact_path_keep_robosuites_loop():
    bench = get_benchmark("libero")
    env = bench.make_env(find_task(bench, "libero_spatial", 0), render=False)
    try:
        env.reset(seed=41, options={"init_index": 0})
        rs_env = env.libero_env
        assert unsupported_reason(rs_env) is None
        with compact_substeps(rs_env, enabled=False) as active:
            assert active is False and "_pre_action" not in vars(rs_env)
        with compact_substeps(rs_env) as active:
            assert active is True and "_pre_action" in vars(rs_env) and "_update_observables" in vars(rs_env)
        assert "_pre_action" not in vars(rs_env) and "_update_observables" not in vars(rs_env)  # restored
        ctrl = rs_env.robots[0].controller
        ctrl.interpolator_pos = object()
        assert unsupported_reason(rs_env) == "OSC with interpolators"
        with compact_substeps(rs_env) as active:
            assert active is False
    finally:
        env.close()
