"""``SensoryShift``: a gymnasium wrapper that applies one shift per episode.

``reset(seed=s, options={"shift": {"kind": k, "severity": n}, ...})`` picks the
episode's shift (the constructor's kind/severity are the default); all random
choices come from ``shift_rng(s, k, n)``, so the same seed gives the same
shifted episode. Scene shifts edit the MuJoCo model after the inner reset
and re-render the first observation; they are undone before the next episode; image shifts
transform ``obs["images"]``. Severity 0 touches nothing: observations are the
inner env's own objects.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from envs.shift import image_ops, scene
from envs.shift.levels import NO_SHIFT, ShiftError, check_shift, level_params, shift_rng


class SensoryShift(gym.Wrapper):
    """Per-episode sensory shift (camera pose, lighting, distractors, colour, noise, blur, occlusion)."""

    def __init__(self, env: gym.Env, kind: str = NO_SHIFT, severity: int = 0, cameras: list[str] | None = None) -> None:
        super().__init__(env)
        self.default = check_shift(kind, severity)
        self.cameras = cameras
        self.current: tuple[str, int] = (NO_SHIFT, 0)
        self._edits = scene.SceneEdits()
        self._edited_model: Any = None  # a model that got distractors, if the env keeps it across resets
        self._clean_xml: str | None = None
        self._image_params: dict[str, Any] = {}
        self._rng: np.random.Generator | None = None
        self._frame_shapes: list[tuple[int, ...]] = []  # the episode's rendered frames, for image-less steps

    def _reload_original_if_kept(self) -> None:
        """An env that does not rebuild its model at reset would keep last episode's distractors."""
        if self._edited_model is not None and self._edited_model is scene.mujoco_model(self) and self._clean_xml:
            scene.reload_keeping_state(scene.robosuite_env(self.env), self._clean_xml)
        self._edited_model = None

    def _camera_names(self) -> list[str]:
        if self.cameras is not None:
            return list(self.cameras)
        protocol = getattr(self.env.unwrapped, "protocol", None)
        base = self.env.unwrapped
        names = getattr(protocol, "cameras", None) or getattr(base, "camera_names", None) or getattr(base, "cameras", None)
        if not names:
            raise ShiftError("camera_pose needs camera names: pass cameras=[...] to SensoryShift")
        return list(names)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        options = dict(options or {})
        requested = options.pop("shift", None)
        if requested is None:
            kind, severity = self.default
        elif isinstance(requested, dict):
            kind, severity = check_shift(requested.get("kind", NO_SHIFT), requested.get("severity", 0))
        else:
            raise ShiftError(f"reset option 'shift' must be a dict with kind and severity, got {requested!r}")
        self._edits.restore()
        self._reload_original_if_kept()
        self._image_params = {}
        self.current = (kind, severity)
        self._rng = shift_rng(seed, kind, severity) if severity > 0 else None
        obs, info = self.env.reset(seed=seed, options=options)
        applied: dict[str, Any] = {}
        if severity > 0:
            p = level_params(kind, severity)
            if kind in ("camera_pose", "lighting", "distractors"):
                if kind == "camera_pose":
                    applied = scene.apply_camera_pose(scene.mujoco_model(self), self._camera_names(), p, self._rng, self._edits)
                elif kind == "lighting":
                    applied = scene.apply_lighting(scene.mujoco_model(self), p, self._rng, self._edits)
                else:
                    self._clean_xml = scene.robosuite_env(self.env).model.get_xml() if scene.robosuite_env(self.env) else None
                    applied = {"objects": scene.place_distractors(self.env, p, self._rng)}
                    self._edited_model = scene.mujoco_model(self)
                obs = scene.rerender(self.env, obs)
            elif kind in ("color_jitter", "occlusion"):
                for cam, img in obs["images"].items():
                    self._image_params[cam] = (
                        image_ops.draw_color_jitter(self._rng, p) if kind == "color_jitter" else image_ops.draw_occlusion(self._rng, p, img.shape)
                    )
                applied = dict(self._image_params)
        self._frame_shapes = [np.shape(img) for img in obs.get("images", {}).values()]
        info = dict(info)
        info["shift"] = {"kind": kind, "severity": severity, "applied": applied}
        return self._shift_images(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._shift_images(obs), reward, terminated, truncated, info

    def _shift_images(self, obs: dict[str, Any]) -> dict[str, Any]:
        kind, severity = self.current
        if severity > 0 and kind == "noise" and not obs.get("images"):
            # a step rendered without images (envs.action_slices): draw the noise it would have had,
            # so the next rendered frame gets the same noise as under per-step rendering
            sigma = level_params(kind, severity)["sigma"]
            for shape in self._frame_shapes:
                self._rng.normal(0.0, sigma, shape)
            return obs
        if severity == 0 or kind not in ("color_jitter", "noise", "blur", "occlusion") or not obs.get("images"):
            return obs
        p = level_params(kind, severity)
        images = {}
        for cam, img in obs["images"].items():
            if kind == "color_jitter":
                images[cam] = image_ops.color_jitter(img, self._image_params[cam])
            elif kind == "noise":
                images[cam] = image_ops.gaussian_noise(img, p["sigma"], self._rng)
            elif kind == "blur":
                images[cam] = image_ops.blur(img, p["sigma_px"])
            else:
                images[cam] = image_ops.occlude(img, self._image_params[cam])
        return {**obs, "images": images}

    def close(self) -> None:
        self._edits.restore()
        super().close()
