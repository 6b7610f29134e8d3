"""A LIBERO task as a gymnasium env with the suite's observation contract.

``reset(seed, options={"init_index": i})`` loads the benchmark's fixed init
state ``i``, runs the protocol's settle steps with the no-op action, and
returns the first observation. ``step`` takes a unified float32[200] action
(or LIBERO's native 7-D action with ``action_space="native"``); the episode
terminates on success and truncates at the suite's step limit. ``info``
carries ``success`` from the task's own success check.
"""

from __future__ import annotations

import contextlib
from typing import Any

import gymnasium as gym
import numpy as np

from envs.benchmarks import TaskInfo
from envs.camera_gate import CameraGate
from envs.libero.benchmark import bddl_path, init_states
from envs.libero.fast_control import compact_substeps, fast_control_enabled
from envs.libero.fast_physics import fast_physics_enabled, split_substeps
from envs.libero.fast_reset import blank_reset_renders, fast_reset_enabled, install_model_cache
from envs.libero.protocol import load_protocol
from envs.observation import check_action, make_observation, observation_space
from envs.rendering import configure_headless_rendering, resize_upright, warm_jit_before_gl
from envs.unified_space import UNIFIED_DIM, embodiment

def _blind_step(task: TaskInfo) -> None:
    from libero.libero.envs.env_wrapper import ControlEnv

    env = ControlEnv(bddl_file_name=bddl_path(task), use_camera_obs=False, has_offscreen_renderer=False)
    env.reset()
    env.step(np.zeros(7))
    env.close()


class LiberoEnv(gym.Env):
    """One LIBERO task; images upright, ``image_size`` square, unified state."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        task: TaskInfo,
        render: bool = True,
        action_space: str = "unified",
        max_steps: int | None = None,
        fast_physics: bool | None = None,
        fast_reset: bool | None = None,
        fast_control: bool | None = None,
    ) -> None:
        if action_space not in ("unified", "native"):
            raise ValueError(f"action_space must be 'unified' or 'native', got {action_space!r}")
        self.task = task
        self.protocol = load_protocol()
        self.mapping = embodiment(task.embodiment)
        self.render_images = render
        # one forward pass per physics substep, bit-identical (envs.libero.fast_physics); None: H05_LIBERO_FAST_PHYSICS
        self.fast_physics = fast_physics_enabled() if fast_physics is None else bool(fast_physics)
        # hard resets reuse the compiled model of the same MJCF, bit-identical (envs.libero.fast_reset); None: H05_LIBERO_FAST_RESET
        self.fast_reset = fast_reset_enabled() if fast_reset is None else bool(fast_reset)
        # substeps' arm control and observable timers in fewer Python calls, bit-identical (envs.libero.fast_control)
        self.fast_control = fast_control_enabled() if fast_control is None else bool(fast_control)
        self._gate = CameraGate()  # cameras render only for observations that carry images
        self._step_images = True  # set_step_images
        self.action_mode = action_space
        self.max_steps = int(max_steps if max_steps is not None else task.max_steps)
        self._init_states = init_states(task)
        if render:
            configure_headless_rendering()
            warm_jit_before_gl(lambda: _blind_step(task))
        from libero.libero.envs.env_wrapper import ControlEnv

        size = self.protocol.render_size
        self._env = ControlEnv(
            bddl_file_name=bddl_path(task),
            use_camera_obs=render,
            has_offscreen_renderer=render,
            camera_names=list(self.protocol.cameras),
            camera_heights=size,
            camera_widths=size,
            control_freq=self.protocol.control_freq,
            # Rebuild the sim at every reset, as the published evaluation does: a
            # reused sim starts episodes from a slightly different robot state
            # (~2e-3 rad after settling) than a fresh one, which would make
            # outcomes depend on how episodes are grouped into processes.
            hard_reset=True,
        )
        if self.fast_reset:
            install_model_cache(self._env.env)
        n = UNIFIED_DIM if action_space == "unified" else 7
        self.action_space = gym.spaces.Box(-np.inf, np.inf, (n,), np.float32)
        self.observation_space = observation_space(self.protocol.cameras if render else (), self.protocol.image_size)
        self._steps = 0
        self._state_mask = self.mapping.mask("state")
        self._noop = self.native_to_unified(np.asarray(self.protocol.settle_action, dtype=np.float32))

    # -- conversions -----------------------------------------------------
    def native_to_unified(self, native: np.ndarray) -> np.ndarray:
        return self.mapping.to_unified("action", native)

    def unified_to_native(self, action: np.ndarray) -> np.ndarray:
        return self.mapping.from_unified("action", action)

    def noop_action(self) -> np.ndarray:
        """The protocol's hold-still action (zero deltas, gripper open) in unified space."""
        return self._noop.copy()

    def set_step_images(self, on: bool) -> None:
        """Render the cameras for the following steps' observations (``on``) or return state only.

        Reset observations are always rendered. The cameras' sampling timers run
        either way (``envs.camera_gate``), so images equal per-step rendering.
        """
        self._step_images = bool(on)

    def _observation(self, raw: dict[str, Any], images_on: bool = True) -> dict[str, Any]:
        from robosuite.utils.transform_utils import quat2axisangle

        state = self.mapping.to_unified(
            "state",
            np.concatenate([raw["robot0_eef_pos"], quat2axisangle(raw["robot0_eef_quat"]), raw["robot0_gripper_qpos"]]),
        )
        images = {}
        if self.render_images and images_on:
            for cam in self.protocol.cameras:
                if raw[f"{cam}_image"].shape[:2] == (1, 1):
                    raise RuntimeError(f"camera {cam!r} was not rendered for this observation (its frame was taken "
                                       "during a step with images off)")
                images[cam] = resize_upright(raw[f"{cam}_image"], self.protocol.image_size, rotate_180=True)
        return make_observation(images, state, self._state_mask, self.task)

    # -- gymnasium API ---------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        index = int(options.get("init_index", 0))
        if not 0 <= index < len(self._init_states):
            raise ValueError(
                f"init_index {index} out of range: task {self.task.key!r} has {len(self._init_states)} init states"
            )
        # LIBERO samples fixture placements (cabinets, stoves: bodies without joints,
        # so not in the init state) from numpy's global RNG at every reset. Seed it
        # from the episode so the scene depends on (seed, init_index) only, never on
        # the order episodes ran in; restore the caller's RNG afterwards.
        episode_seed = self.protocol.base_seed + index if seed is None else int(seed)
        saved = np.random.get_state()
        np.random.seed(episode_seed % 2**32)
        try:
            with blank_reset_renders(self._env.env, self.fast_reset):  # frames robosuite takes while rebuilding
                self._env.reset()
        finally:
            np.random.set_state(saved)
        n_settle = self.protocol.settle_steps
        if self.render_images:  # observables are rebuilt by the hard reset: gate them again
            self._gate.install(self._env.env, [f"{cam}_image" for cam in self.protocol.cameras])
        self._gate.open = n_settle == 0
        raw = self._env.set_init_state(self._init_states[index])
        settle = np.asarray(self.protocol.settle_action, dtype=np.float64)
        for i in range(n_settle):
            self._gate.open = i == n_settle - 1  # only the first observation's frames are looked at
            with self._fast_step():
                raw, _, _, _ = self._env.step(settle)
        self._gate.open = True
        self._steps = 0
        obs = self._observation(raw)
        info = {"init_index": index, "seed": episode_seed, "success": False, "noop_action": self.noop_action()}
        return obs, info

    def _fast_step(self) -> contextlib.ExitStack:
        """Around one robosuite step: the switched-on fast paths (each bit-identical to robosuite's loop)."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(split_substeps(self._env.env, self.fast_physics))
            stack.enter_context(compact_substeps(self._env.env, self.fast_control))
            return stack.pop_all()

    def step(self, action: np.ndarray):
        if self.action_mode == "unified":
            native = self.unified_to_native(check_action(action, UNIFIED_DIM))
        else:
            native = check_action(action, 7, what="native LIBERO action")
        self._gate.open = self._step_images
        try:
            with self._fast_step():
                raw, _, _, _ = self._env.step(native.astype(np.float64))
        finally:
            self._gate.open = True
        self._steps += 1
        success = bool(self._env.check_success())
        obs = self._observation(raw, self._step_images)
        truncated = (not success) and self._steps >= self.max_steps
        return obs, float(success), success, truncated, {"success": success, "steps": self._steps}

    def check_success(self) -> bool:
        """The task's own success predicate on the current simulator state."""
        return bool(self._env.check_success())

    @property
    def sim(self):
        """The underlying MuJoCo sim (robosuite binding), for tests and perturbations."""
        return self._env.sim

    @property
    def libero_env(self):
        return self._env.env

    def render(self):
        if not self.render_images:
            return None
        return self._observation(self._env.env._get_observations())["images"][self.protocol.cameras[0]]

    def close(self) -> None:
        env = getattr(self, "_env", None)
        if env is not None:
            try:
                env.close()
            except Exception:  # robosuite's EGL teardown can raise on interpreter exit
                pass
            self._env = None
