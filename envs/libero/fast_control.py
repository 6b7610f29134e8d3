"""Robosuite 1.4's per-substep arm control and observable timers for LIBERO in fewer Python calls, bit-identical.

One LIBERO control step is 25 physics substeps (20 Hz control, 500 Hz physics). On every substep
robosuite calls ``_pre_action`` and ``_update_observables``. On the 24 substeps after the first
(not robosuite's ``policy_step``), ``_pre_action`` re-checks the action's size (building the
robot's action limits three times), the OSC controller's ``update`` reads the end-effector site
through four ``get_site_jac*`` calls (four ``mj_jacSite`` calls and name lookups), and the torque
limits and gripper actuator ids are looked up again; ``_update_observables`` calls ``update`` on
every observable (~40 in a LIBERO scene), although each samples once per control step. This
Python costs about twice MuJoCo's own physics per step.

What runs instead, inside one ``env.step``:

* The policy step's ``_pre_action`` is robosuite's own (new goal, history buffers).
* Every other substep runs the same equations as ``OperationalSpaceController.run_controller``
  and ``SingleArm.control``: robosuite's own (numba-compiled) ``opspace_matrices``,
  ``nullspace_torques`` and ``orientation_error`` on arrays built by the same numpy expressions
  (same shapes, dtypes and memory layouts), the same elementwise gains, clipping and gripper
  scaling, with the lookups done once per control step and one ``mj_jacSite`` call giving both
  Jacobians (MuJoCo computes them independently, so each equals the single one). The controller,
  robot and gripper attributes end each substep as robosuite leaves them.
* Observables that share a timer state (same sampling period, no delay model, same time since the
  last sample, same sampled flag: in LIBERO all of them) advance one shared clock; on a substep
  where that clock samples or wraps, each member's own ``update`` runs, in the env's order (later
  sensors read earlier ones' cache entries), from the time it would have had. Observables with a
  delay model or a subclassed ``update`` run their own ``update`` every substep.

Anything outside that shape (several robots, other controllers or grippers, interpolators, a
subclass overriding these methods) keeps robosuite's path. ``tests/test_libero_fast_control.py``
compares the simulator state, controller and robot attributes and observations bit for bit with
robosuite's loop. Switch: ``H05_LIBERO_FAST_CONTROL`` (default on), recorded in episode records.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import mujoco
import numpy as np

from envs.libero.switches import switch_on

ENV_VAR = "H05_LIBERO_FAST_CONTROL"
PATH_NAMES = {True: "compact OSC substeps", False: "robosuite substeps"}


def fast_control_enabled() -> bool:
    """The switch: ``H05_LIBERO_FAST_CONTROL`` = 1 (default) or 0; anything else is an error."""
    return switch_on(ENV_VAR)


def control_path() -> str:
    """Which substep control path LIBERO envs of this process run, as recorded in episode records' versions."""
    return PATH_NAMES[fast_control_enabled()]


def unsupported_reason(env: Any) -> str | None:
    """Why ``env`` (a robosuite env) must keep robosuite's substep loop, or None if the compact one is exact for it."""
    from robosuite.controllers.base_controller import Controller
    from robosuite.controllers.osc import OperationalSpaceController
    from robosuite.environments.robot_env import RobotEnv
    from robosuite.robots.manipulator import Manipulator
    from robosuite.robots.single_arm import SingleArm

    if len(getattr(env, "robots", ())) != 1:
        return "not exactly one robot"
    robot = env.robots[0]
    ctrl = robot.controller
    if type(robot).control is not SingleArm.control or type(robot).grip_action is not Manipulator.grip_action:
        return f"robot class {type(robot).__name__} overrides control/grip_action"
    if not robot.has_gripper:
        return "robot has no gripper"
    if type(ctrl) is not OperationalSpaceController or type(ctrl).update is not Controller.update:
        return f"controller {type(ctrl).__name__} is not robosuite's OSC"
    if ctrl.interpolator_pos is not None or ctrl.interpolator_ori is not None:
        return "OSC with interpolators"
    pre_action = type(env)._pre_action
    if pre_action is not RobotEnv._pre_action and not _is_passthrough(pre_action):
        return f"env class {type(env).__name__} overrides _pre_action"
    return None


def _is_passthrough(method: Any) -> bool:
    """LIBERO's ``BDDLBaseDomain._pre_action`` only calls ``super()._pre_action``."""
    try:
        from libero.libero.envs.bddl_base_domain import BDDLBaseDomain
    except ImportError:
        return False
    return method is BDDLBaseDomain._pre_action


def _full_mass_matrix(model: Any, data: Any, out: np.ndarray) -> None:
    """``mj_fullM`` into ``out`` (MuJoCo >= 3.4 takes MjData; older versions the sparse ``qM``)."""
    try:
        mujoco.mj_fullM(model, data, out)
    except TypeError:
        mujoco.mj_fullM(model, out, data.qM)


class _CompactArmSubsteps:
    """``_pre_action`` for the substeps of one control step of a one-arm OSC robosuite env."""

    def __init__(self, env: Any) -> None:
        from robosuite.controllers import osc

        self.env = env
        self.original = type(env)._pre_action.__get__(env)
        self.robot = env.robots[0]
        self.ctrl = self.robot.controller
        self.gripper = self.robot.gripper
        self.opspace_matrices, self.nullspace_torques, self.orientation_error = (
            osc.opspace_matrices, osc.nullspace_torques, osc.orientation_error)
        self.gripper_action: np.ndarray | None = None

    def _per_step_constants(self) -> None:
        """Lookups that robosuite repeats every substep and that cannot change within a control step."""
        from robosuite.models.grippers.panda_gripper import PandaGripper

        sim, robot, ctrl = self.env.sim, self.robot, self.ctrl
        self.model, self.data = sim.model._model, sim.data._data
        self.site = sim.model.site_name2id(ctrl.eef_name)
        self.nv = nv = self.model.nv
        self.jacp, self.jacr = np.zeros((3, nv)), np.zeros((3, nv))  # mj_jacSite overwrites them whole
        self.full_mass = np.ndarray(shape=(nv, nv), dtype=np.float64, order="C")  # and mj_fullM this
        # index arrays select the same elements, into the same layouts, as robosuite's index lists
        self.qpos_index, self.qvel_index = np.asarray(ctrl.qpos_index), np.asarray(ctrl.qvel_index)
        self.low, self.high = robot.torque_limits
        self.arm_actuators = np.asarray(robot._ref_joint_actuator_indexes)
        self.grip_actuators = np.asarray([sim.model.actuator_name2id(a) for a in self.gripper.actuators])
        ctrl_range = sim.model.actuator_ctrlrange[self.grip_actuators]
        self.grip_bias = 0.5 * (ctrl_range[:, 1] + ctrl_range[:, 0])
        self.grip_weight = 0.5 * (ctrl_range[:, 1] - ctrl_range[:, 0])
        # PandaGripper.format_action, a +-speed ramp clipped to [-1, 1], inlined below; other grippers: their own
        self.panda_ramp = (np.array([-1.0, 1.0]) * self.gripper.speed * np.sign(self.gripper_action)
                           if type(self.gripper).format_action is PandaGripper.format_action
                           and len(self.gripper_action) == self.gripper.dof else None)

    def __call__(self, action: np.ndarray, policy_step: bool = False) -> None:
        if policy_step or self.gripper_action is None:
            self.original(action, policy_step=policy_step)
            robot_action = action[: self.robot.action_dim]
            self.gripper_action = robot_action[self.ctrl.control_dim:]
            self._per_step_constants()
            return
        robot, data, gripper = self.robot, self.data, self.gripper
        # np.clip(x, lo, hi) is min(max(x, lo), hi) elementwise: the same values without np.clip's dispatch
        robot.torques = np.minimum(np.maximum(self._osc_torques(), self.low), self.high)
        if self.panda_ramp is not None:
            gripper.current_action = np.minimum(np.maximum(gripper.current_action + self.panda_ramp, -1.0), 1.0)
            gripper_action = gripper.current_action
        else:
            gripper_action = gripper.format_action(self.gripper_action)
        data.ctrl[self.grip_actuators] = self.grip_bias + self.grip_weight * gripper_action
        data.ctrl[self.arm_actuators] = robot.torques

    def _osc_torques(self) -> np.ndarray:
        """``OperationalSpaceController.run_controller`` (its ``update`` included) without interpolators."""
        ctrl, data, site, jacp, jacr = self.ctrl, self.data, self.site, self.jacp, self.jacr
        qvel_index = self.qvel_index
        # -- update(): the state the equations read
        ctrl.sim.forward()  # the controller's own forward (a no-op right after the split step's mj_step1)
        ctrl.ee_pos = data.site_xpos[site].copy()
        ctrl.ee_ori_mat = data.site_xmat[site].reshape([3, 3]).copy()
        mujoco.mj_jacSite(self.model, data, jacp, jacr, site)
        qvel = data.qvel
        ctrl.ee_pos_vel = np.dot(jacp, qvel)
        ctrl.ee_ori_vel = np.dot(jacr, qvel)
        ctrl.joint_pos = data.qpos[self.qpos_index]
        ctrl.joint_vel = qvel[qvel_index]
        ctrl.J_pos = np.array(jacp[:, qvel_index])
        ctrl.J_ori = np.array(jacr[:, qvel_index])
        ctrl.J_full = np.vstack([ctrl.J_pos, ctrl.J_ori])
        _full_mass_matrix(self.model, data, self.full_mass)
        ctrl.mass_matrix = self.full_mass[qvel_index, :][:, qvel_index]
        ctrl.new_update = False
        # -- run_controller(): operational-space torques, pose and orientation decoupled or not
        ori_error = self.orientation_error(ctrl.goal_ori, ctrl.ee_ori_mat)
        kp, kd = ctrl.kp, ctrl.kd
        desired_force = (ctrl.goal_pos - ctrl.ee_pos) * kp[0:3] + (-ctrl.ee_pos_vel) * kd[0:3]
        desired_torque = ori_error * kp[3:6] + (-ctrl.ee_ori_vel) * kd[3:6]
        lambda_full, lambda_pos, lambda_ori, nullspace = self.opspace_matrices(
            ctrl.mass_matrix, ctrl.J_full, ctrl.J_pos, ctrl.J_ori)
        if ctrl.uncoupling:
            wrench = np.concatenate([np.dot(lambda_pos, desired_force), np.dot(lambda_ori, desired_torque)])
        else:
            wrench = np.dot(lambda_full, np.concatenate([desired_force, desired_torque]))
        torques = np.dot(ctrl.J_full.T, wrench) + data.qfrc_bias[qvel_index]
        torques += self.nullspace_torques(ctrl.mass_matrix, nullspace, ctrl.initial_joint, ctrl.joint_pos,
                                          ctrl.joint_vel)
        ctrl.torques = torques
        ctrl.new_update = True
        return torques


class _SharedObservableClocks:
    """``_update_observables`` with one timer per group of observables whose timers are in the same state.

    Members of a group stay in the same state: ``Observable.update`` changes a timer only from its
    own state, the substep and (with no delay model) the constant delay 0.
    """

    def __init__(self, env: Any) -> None:
        from robosuite.utils.observables import NO_DELAY, Observable

        self.env = env
        self.original = type(env)._update_observables.__get__(env)
        # enabled observables in the env's order (a disabled one's update does nothing), each with its
        # shared clock, or None: its own update every substep
        self.order: list[tuple[Any, _Clock | None]] = []
        clocks: dict[tuple, _Clock] = {}
        for o in env._observables.values():
            if not o._enabled:
                continue
            clock = None
            if type(o).update is Observable.update and o._delayer is NO_DELAY:
                key = (o._sampling_timestep, o._current_delay, o._time_since_last_sample, o._sampled)
                clock = clocks.get(key)
                if clock is None:
                    clock = clocks[key] = _Clock(*key)
                clock.members.append(o)
            self.order.append((o, clock))
        self.clocks = list(clocks.values())
        self.every_substep = any(clock is None for _, clock in self.order)

    def __call__(self, force: bool = False) -> None:
        if force:
            self.sync()
            self.original(force=True)
            for c in self.clocks:
                c.take_state_from_members()
            return
        timestep = self.env.model_timestep
        events = [c for c in self.clocks if c.ticks(timestep)]  # the same float additions each member's update makes
        if not events and not self.every_substep:
            return
        cache = self.env._obs_cache
        for o, clock in self.order:
            if clock is None:
                o.update(timestep=timestep, obs_cache=cache)
            elif clock.event:
                # the timer it would have had; its update adds the substep itself
                o._time_since_last_sample, o._sampled = clock.time, clock.sampled
                o.update(timestep=timestep, obs_cache=cache)
        for c in events:
            c.take_state_from_members()

    def sync(self) -> None:
        """Write each group's clock back into its members (at the end of the step, before any own update)."""
        for c in self.clocks:
            for o in c.members:
                o._time_since_last_sample, o._sampled = c.time, c.sampled


class _Clock:
    """The timer state that robosuite's ``Observable.update`` keeps, shared by identical members."""

    def __init__(self, period: float, delay: float, time: float, sampled: bool) -> None:
        self.period, self.delay, self.time, self.sampled = period, delay, time, sampled
        self.members: list[Any] = []
        self.event = False

    def ticks(self, timestep: float) -> bool:
        """Advance one substep; True if it samples (then the members' own updates run, from ``time``).

        A substep that only wraps an already sampled timer is done here, as ``Observable.update``
        does it: the time modulo the period, the sampled flag cleared.
        """
        t = self.time + timestep
        self.event = not self.sampled and (self.period - self.delay >= t or t >= self.period)
        if not self.event:
            if t >= self.period:
                t %= self.period
                self.sampled = False
            self.time = t
        return self.event

    def take_state_from_members(self) -> None:
        first = self.members[0]
        self.time, self.sampled, self.delay = first._time_since_last_sample, first._sampled, first._current_delay
        self.event = False


@contextlib.contextmanager
def compact_substeps(robosuite_env: Any, enabled: bool = True) -> Iterator[bool]:
    """Around one ``robosuite_env.step(...)``: the compact ``_pre_action`` and observable clocks.

    Yields whether they are active (off when ``enabled`` is false or the env is outside the
    supported shape, see ``unsupported_reason``). The env's own methods are restored on exit,
    also on error, and every observable's timer holds what robosuite's loop would have left.
    """
    if not enabled or unsupported_reason(robosuite_env) is not None:
        yield False
        return
    arm = _CompactArmSubsteps(robosuite_env)
    clocks = _SharedObservableClocks(robosuite_env)
    robosuite_env._pre_action, robosuite_env._update_observables = arm, clocks
    try:
        yield True
    finally:
        del robosuite_env._pre_action, robosuite_env._update_observables
        clocks.sync()
