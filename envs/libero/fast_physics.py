"""One MuJoCo forward pass per physics substep in a robosuite 1.4 control step, bit-identical to the default loop.

robosuite 1.4's ``MujocoEnv.step`` runs, per substep: ``sim.forward()``; ``_pre_action`` (the arm
controller's ``update()`` calls ``sim.forward()`` again on the unchanged state, then ``ctrl`` is
written); ``sim.step()`` = ``mj_step``, which runs a third full forward before integrating.
MuJoCo splits ``mj_step`` into ``mj_step1`` (position and velocity stages) and ``mj_step2``
(actuation, acceleration, constraint, integration) so that a controller can run in between.

Why the result is exact (for the Euler, implicit and implicitfast integrators; RK4 is left alone
because ``mj_step2`` replaces it with Euler):

* ``mj_step``'s own forward recomputes every derived quantity from the state (qpos, qvel, act,
  ctrl, qacc_warmstart, ...). The two earlier forwards write only derived quantities, never
  the integrator's inputs (``qacc_warmstart`` is written by the integrator alone), so dropping
  them leaves the next state unchanged.
* ``mj_step1`` computes the position and velocity stages exactly as that forward would; the
  controller reads only these (site poses and velocities, Jacobians, ``qM``, ``qfrc_bias``),
  and ``mj_step2`` then computes the rest with the new ``ctrl``, as ``mj_step`` does.
* On the control step's first substep (robosuite's ``policy_step``) the robot also records the
  wrist force-torque sensors, acceleration-stage values that the first forward computed with
  the old ``ctrl``: that forward stays a full ``mj_forward`` (``mj_step2`` after it is as exact).
  ``mj_step1`` checks qpos/qvel for bad values (warning + reset) as ``mj_step`` does; on the first
  substep those checks run before ``mj_step2`` (and a reset state is forwarded again), so an
  unstable simulation is reported with the same warning as by the default loop.

Only the substep loop of one ``env.step`` is changed; any ``forward`` after its last substep
(observations, success checks) is the normal full forward. ``tests/test_libero_fast_physics.py``
checks qpos, qvel, act, time and observations bit for bit against the default loop.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import mujoco

from envs.libero.switches import switch_on

ENV_VAR = "H05_LIBERO_FAST_PHYSICS"
EXACT_INTEGRATORS = frozenset(
    {int(mujoco.mjtIntegrator.mjINT_EULER), int(mujoco.mjtIntegrator.mjINT_IMPLICIT),
     int(mujoco.mjtIntegrator.mjINT_IMPLICITFAST)}
)
PATH_NAMES = {True: "mj_step1/mj_step2", False: "mj_forward/mj_step"}


def fast_physics_enabled() -> bool:
    """The switch: ``H05_LIBERO_FAST_PHYSICS`` = 1 (default) or 0; anything else is an error."""
    return switch_on(ENV_VAR)


def physics_path() -> str:
    """Which physics path LIBERO envs of this process run, as recorded in episode records' versions."""
    return PATH_NAMES[fast_physics_enabled()]


class _SplitSubsteps:
    """Stands in for ``sim.forward`` / ``sim.step`` during the ``substeps`` substeps of one control step."""

    def __init__(self, sim: Any, substeps: int) -> None:
        self.model, self.data = sim.model._model, sim.data._data
        self.left = substeps  # substeps not yet integrated
        self.first = True  # the policy step's forward stays a full forward (module docstring)
        self.fresh = False  # position/velocity stages computed for the current state, not yet integrated
        self.first_checked = False  # mj_step1 checks qpos/qvel itself; the first substep's full forward does not

    def _state_reset_by_checks(self) -> bool:
        """``mj_checkPos`` and ``mj_checkVel`` (bad values: warning + reset, as in ``mj_step``); True if they reset."""
        warnings = self.data.warning
        before = (warnings[mujoco.mjtWarning.mjWARN_BADQPOS].number, warnings[mujoco.mjtWarning.mjWARN_BADQVEL].number)
        mujoco.mj_checkPos(self.model, self.data)
        mujoco.mj_checkVel(self.model, self.data)
        return (warnings[mujoco.mjtWarning.mjWARN_BADQPOS].number, warnings[mujoco.mjtWarning.mjWARN_BADQVEL].number) != before

    def forward(self) -> None:
        if self.fresh:  # the controller's forward on the state step1 was just run on
            return
        if self.left <= 0:  # after the loop: callers get the normal full forward
            mujoco.mj_forward(self.model, self.data)
            return
        if self.first:
            mujoco.mj_forward(self.model, self.data)
            self.first = False
        else:
            mujoco.mj_step1(self.model, self.data)
        self.fresh = True

    def step(self, with_udd: bool = True) -> None:
        if self.fresh:
            if not self.first_checked:  # the full forward skipped mj_step's state checks: run them as it would
                self.first_checked = True
                if self._state_reset_by_checks():
                    mujoco.mj_forward(self.model, self.data)  # mj_step forwards after its checks, on the reset state
            mujoco.mj_step2(self.model, self.data)
            self.fresh = False
            self.left -= 1
        else:
            mujoco.mj_step(self.model, self.data)


@contextlib.contextmanager
def split_substeps(robosuite_env: Any, enabled: bool = True) -> Iterator[bool]:
    """Around one ``robosuite_env.step(...)``: run its substeps as step1 -> controller -> step2.

    Yields whether the fast path is active (off when ``enabled`` is false or the model's
    integrator is RK4). The sim's own ``forward``/``step`` are restored on exit, also on error.
    """
    sim = robosuite_env.sim
    if not enabled or int(sim.model._model.opt.integrator) not in EXACT_INTEGRATORS:
        yield False
        return
    substeps = int(robosuite_env.control_timestep / robosuite_env.model_timestep)  # as robosuite's loop counts
    split = _SplitSubsteps(sim, substeps)
    sim.forward, sim.step = split.forward, split.step  # instance attributes shadow the class's methods
    try:
        yield True
    finally:
        del sim.forward, sim.step
