"""A RoboCasa task as a gymnasium env with the observation contract (runs in .venv-robocasa).

``reset(seed, options={"trial": i})`` pins the trial's scene (layout, style)
with ``env.set_ep_meta`` and seeds RoboCasa's rng, so the same seed and trial
give the same kitchen, objects and robot pose. ``step`` takes a unified
float32[200] action (or the 12-D env action in unified order with
``action_space="native"``); the episode terminates on success and truncates
at the protocol's step limit. ``info["success"]`` is the task's own
``_check_success``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from envs.benchmarks import TaskInfo
from envs.camera_gate import CameraGate
from envs.observation import check_action, observation_space
from envs.robocasa.actions import unified_order_to_robosuite
from envs.robocasa.assets import RoboCasaAssetsMissing, check_assets, package_assets_root
from envs.robocasa.protocol import load_protocol
from envs.unified_space import UNIFIED_DIM, embodiment

NATIVE_DIM = 12


def _quat_xyzw_to_axis_angle(q: np.ndarray) -> np.ndarray:
    x, y, z, w = (float(v) for v in q)
    if w < 0:  # one hemisphere, so the axis-angle is continuous
        x, y, z, w = -x, -y, -z, -w
    s = np.sqrt(max(1.0 - w * w, 0.0))
    angle = 2.0 * np.arctan2(s, w)
    if s < 1e-8:
        return np.zeros(3, dtype=np.float32)
    return (np.array([x, y, z]) / s * angle).astype(np.float32)


def _make_robosuite_env(task: TaskInfo, render: bool, camera_size: int, seed: int | None):
    import robocasa  # noqa: F401  (registers the kitchen envs)
    import robosuite
    from robocasa.models.fixtures import FixtureType

    protocol = load_protocol()
    spec = protocol.task(task.name)
    kwargs = {k: getattr(FixtureType, v) if k == "fixture_id" else v for k, v in spec.kwargs}
    scene = protocol.scene_for_trial(task.name, 0)
    return robosuite.make(
        spec.cls,
        robots=protocol.robot,
        layout_ids=scene.layout,
        style_ids=scene.style,
        has_renderer=False,
        has_offscreen_renderer=render,
        use_camera_obs=render,
        camera_names=list(protocol.cameras),
        camera_heights=camera_size,
        camera_widths=camera_size,
        control_freq=protocol.control_freq,
        translucent_robot=False,
        seed=seed,
        **kwargs,
    )


def _blind_step(task: TaskInfo) -> None:
    env = _make_robosuite_env(task, render=False, camera_size=16, seed=0)
    env.reset()
    env.step(np.zeros(env.action_dim))
    env.close()


class RoboCasaEnv(gym.Env):
    """One paper task on RoboCasa v1.0 code; images upright ``image_size`` square, unified state."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        task: TaskInfo,
        render: bool = True,
        action_space: str = "unified",
        max_steps: int | None = None,
        camera_size: int | None = None,
        image_size: int | None = None,
        camera_every: int = 1,
    ) -> None:
        if action_space not in ("unified", "native"):
            raise ValueError(f"action_space must be 'unified' or 'native', got {action_space!r}")
        from envs.rendering import configure_headless_rendering, warm_jit_before_gl

        self.task = task
        self.protocol = load_protocol()
        self.spec_ = self.protocol.task(task.name)
        self.mapping = embodiment(task.embodiment)
        self.render_images = render
        self.action_mode = action_space
        self.max_steps = int(max_steps if max_steps is not None else task.max_steps)
        self.camera_size = int(camera_size or self.protocol.render_size)
        if int(camera_every) < 1:
            raise ValueError(f"camera_every must be >= 1, got {camera_every!r}")
        # render every k-th step (and at reset); between, observations repeat the last frames
        self.camera_every = int(camera_every)
        self._images: dict[str, np.ndarray] = {}
        self._gate = CameraGate()  # cameras render only for observations that carry images
        self._step_images = True  # set_step_images
        self.image_size = int(image_size or self.protocol.image_size)
        scenes = self.spec_.scenes or self.protocol.scenes
        self.asset_pack = check_assets([(s.layout, s.style) for s in scenes])
        if render:
            configure_headless_rendering()
            warm_jit_before_gl(lambda: _blind_step(task))
        self._env = _make_robosuite_env(task, render, self.camera_size, seed=self.protocol.base_seed)
        n = UNIFIED_DIM if action_space == "unified" else NATIVE_DIM
        self.action_space = gym.spaces.Box(-1.0 if n == NATIVE_DIM else -np.inf, 1.0 if n == NATIVE_DIM else np.inf, (n,), np.float32)
        self.observation_space = observation_space(self.protocol.cameras if render else (), self.image_size)
        self._state_mask = self.mapping.mask("state")
        self._steps = 0
        self._instruction = task.instruction
        self._raw: dict[str, Any] = {}

    # -- conversions -----------------------------------------------------
    def unified_to_native(self, action: np.ndarray) -> np.ndarray:
        """Unified [200] -> 12-D env action in unified order (eef pos, rot, gripper, base 4, mode)."""
        return self.mapping.from_unified("action", action)

    def noop_action(self) -> np.ndarray:
        """Hold still: zero deltas, gripper open (-1), arm control mode (-1)."""
        native = np.zeros(NATIVE_DIM, dtype=np.float32)
        native[6] = -1.0
        native[11] = -1.0
        return self.mapping.to_unified("action", native)

    def set_step_images(self, on: bool) -> None:
        """Render the cameras for the following steps' observations (``on``) or return state only
        (reset observations always carry images; ``envs.camera_gate`` keeps robosuite's sampling timers)."""
        self._step_images = bool(on)

    def _observation(self, raw: dict[str, Any], images_on: bool = True) -> dict[str, Any]:
        from envs.rendering import resize_upright

        base_quat = raw.get("robot0_base_quat", np.array([0, 0, 0, 1.0]))
        state = self.mapping.to_unified(
            "state",
            np.concatenate(
                [
                    raw["robot0_base_to_eef_pos"],
                    _quat_xyzw_to_axis_angle(raw["robot0_base_to_eef_quat"]),
                    raw["robot0_gripper_qpos"][:2],
                    raw["robot0_base_pos"],
                    _quat_xyzw_to_axis_angle(base_quat),
                ]
            ),
        )
        images = {}
        if self.render_images and images_on:
            for cam in self.protocol.cameras:
                if f"{cam}_image" in raw and raw[f"{cam}_image"].shape[:2] == (1, 1):
                    raise RuntimeError(f"camera {cam!r} was not rendered for this observation (its frame was taken "
                                       "during a step with images off)")
                if f"{cam}_image" in raw:
                    self._images[cam] = resize_upright(raw[f"{cam}_image"], self.image_size)
                images[cam] = self._images[cam]
        return {
            "images": images,
            "state": state,
            "state_mask": self._state_mask.copy(),
            "instruction": self._instruction,
            "embodiment": self.task.embodiment,
            "task": self.task.key,
        }

    # -- gymnasium API ---------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        trial = int(options.get("trial", options.get("init_index", 0)))
        if trial < 0:
            raise ValueError(f"trial must be >= 0, got {trial}")
        scene = self.protocol.scene_for_trial(self.task.name, trial)
        episode_seed = self.protocol.base_seed + trial if seed is None else int(seed)
        self._env.rng = np.random.default_rng(episode_seed)
        np.random.seed(episode_seed % 2**32)  # parts of robosuite/RoboCasa still draw from the global rng
        self._env.set_ep_meta({"layout_id": scene.layout, "style_id": scene.style})
        self._set_cameras(True)
        try:
            raw = self._env.reset()
        except FileNotFoundError as exc:
            raise RoboCasaAssetsMissing(exc.filename or str(exc), package_assets_root()) from exc
        except ValueError as exc:  # MuJoCo compile errors name the missing file
            if "resource not found" in str(exc).lower() or "could not open file" in str(exc).lower():
                raise RoboCasaAssetsMissing(str(exc), package_assets_root()) from exc
            raise
        self._raw = raw
        if self.render_images:  # observables may be rebuilt by the reset: gate them again
            self._gate.install(self._env, [f"{cam}_image" for cam in self.protocol.cameras])
        self._gate.open = True
        meta = self._env.get_ep_meta()
        self._instruction = str(meta.get("lang") or self.task.instruction)
        self._steps = 0
        info = {
            "trial": trial,
            "layout": scene.layout,
            "style": scene.style,
            "seed": episode_seed,
            "success": False,
            "asset_pack": self.asset_pack.get("pack"),
            "noop_action": self.noop_action(),
        }
        return self._observation(raw), info

    def _set_cameras(self, on: bool) -> None:
        if self.render_images and self.camera_every > 1:
            for cam in self.protocol.cameras:
                if f"{cam}_image" in self._env._observables:  # created at the first reset
                    self._env.modify_observable(f"{cam}_image", "enabled", on)

    def step(self, action: np.ndarray):
        self._set_cameras((self._steps + 1) % self.camera_every == 0)
        if self.action_mode == "unified":
            native = self.unified_to_native(check_action(action, UNIFIED_DIM))
        else:
            native = check_action(action, NATIVE_DIM, what="RoboCasa 12-D action")
        self._gate.open = self._step_images
        try:
            raw, _, _, _ = self._env.step(unified_order_to_robosuite(native).astype(np.float64))
        finally:
            self._gate.open = True
        self._raw = raw
        self._steps += 1
        success = self.check_success()
        truncated = (not success) and self._steps >= self.max_steps
        return self._observation(raw, self._step_images), float(success), success, truncated, {"success": success, "steps": self._steps}

    def check_success(self) -> bool:
        """The task's own success predicate on the current simulator state."""
        return bool(self._env._check_success())

    @property
    def sim(self):
        """The underlying MuJoCo sim (robosuite binding), for tests and perturbations."""
        return self._env.sim

    @property
    def robocasa_env(self):
        return self._env

    def render(self):
        if not self.render_images:
            return None
        return self._observation(self._raw)["images"].get(self.protocol.cameras[0]) if self._raw else None

    def close(self) -> None:
        env = getattr(self, "_env", None)
        if env is not None:
            try:
                env.close()
            except Exception:  # EGL teardown can raise on interpreter exit
                pass
            self._env = None
