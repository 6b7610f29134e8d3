"""One twin task on one embodiment as a gymnasium env with the LIBERO observation contract.

``reset(seed, options={"init_index": i})`` builds scene ``i`` (object poses
drawn from ``init_index``), puts the arms at their ready posture and returns
the first observation; ``info["noop_action"]`` holds still there. ``step``
takes a unified float32[200] action (absolute EEF targets in the table frame,
hand/gripper, head, waist) and runs ``1 / control_hz`` seconds of physics.
The episode terminates on success and truncates at ``max_steps``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from envs.benchmarks import TaskInfo
from envs.observation import check_action, make_observation, observation_space
from envs.rendering import configure_headless_rendering
from envs.twins.embodiments import EmbodimentSpec, load_embodiment
from envs.twins.model_builder import build_mjcf
from envs.twins.robot import R_DOWN, TwinRobot, mat_to_rotvec, rotvec_to_mat
from envs.twins.tasks import SceneView, TwinTask, twin_task
from envs.unified_space import UNIFIED_DIM, embodiment, slot_group

IMAGE_SIZE = 224


@lru_cache(maxsize=64)
def scene_xml(task_name: str, embodiment_name: str) -> str:
    spec = load_embodiment(embodiment_name)
    return build_mjcf(spec, twin_task(task_name).objects(spec), name=f"{task_name}@{embodiment_name}")


class TwinEnv(gym.Env):
    """A twin task x embodiment pair; images 224x224 upright when ``render``."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, task: TaskInfo, render: bool = True, max_steps: int | None = None) -> None:
        self.task = task
        self.twin: TwinTask = twin_task(task.extra["twin_task"])
        self.espec: EmbodimentSpec = load_embodiment(task.embodiment)
        if not self.twin.feasible(self.espec):
            raise ValueError(f"task {self.twin.name!r} needs two arms; {self.espec.name!r} has one")
        self.mapping = embodiment(task.embodiment)
        self.max_steps = int(max_steps if max_steps is not None else task.max_steps)
        self.render_images = bool(render)
        if render:
            configure_headless_rendering()
        self._renderer = None
        self._step_images = True  # set_step_images: whether step observations carry images
        self.robot: TwinRobot | None = None
        self.cameras = tuple(self.espec.cameras)
        self.objects = [o for o in self.twin.objects(self.espec)]
        self.scene_source = scene_xml(self.twin.name, self.espec.name)  # the task's own scene, no added objects
        self._xml = ""
        self._load(self.scene_source)
        self.substeps = max(1, int(round(1.0 / (self.espec.control_hz * self.model.opt.timestep))))
        self.action_space = gym.spaces.Box(-np.inf, np.inf, (UNIFIED_DIM,), np.float32)
        self.observation_space = observation_space(self.cameras if render else (), IMAGE_SIZE)
        self._state_mask = self.mapping.mask("state")
        self._steps = 0
        self._ever_held: dict[str, set[str]] = {}
        self._q_cmd: dict[str, np.ndarray] = {}
        self._noop = np.zeros(UNIFIED_DIM, np.float32)
        self.init_index = 0

    # -- scene ---------------------------------------------------------------
    def _load(self, xml: str) -> None:
        """Compile ``xml`` and bind robot, object ids and renderer to it."""
        self.model = mujoco.MjModel.from_xml_string(xml)
        self.data = mujoco.MjData(self.model)
        home = self.robot._home_cache if self.robot is not None else None
        self.robot = TwinRobot(self.espec, self.model)
        self.robot._home_cache = home  # same arms in every scene of this pair: keep the solved home posture
        if self.render_images:
            if self._renderer is not None:
                self._renderer.close()
            self._renderer = mujoco.Renderer(self.model, IMAGE_SIZE, IMAGE_SIZE)
        self._free = {o.name: self.model.joint(o.name).qposadr[0] for o in self.objects if o.free}
        self._mocap = {o.name: self.model.body(o.name).mocapid[0] for o in self.objects if not o.free}
        self._body = {o.name: self.model.body(o.name).id for o in self.objects}
        hand_geoms = np.flatnonzero(self.model.geom_contype == 2)
        self._hand_geoms = set(hand_geoms.tolist())
        body_names = [self.model.body(int(b)).name for b in self.model.geom_bodyid[hand_geoms]]
        self._side_geoms = {side: np.array([g for g, b in zip(hand_geoms, body_names) if b.startswith(f"{side}_")], int)
                            for side in self.robot.arms}
        self._geom_side = {int(g): side for side, gs in self._side_geoms.items() for g in gs}
        self._xml = xml

    def reload_scene(self, xml: str) -> None:
        """Rebuild the model from ``xml`` (the task's scene with bodies appended to its worldbody), keeping the state.

        Used to add distractor objects (``envs.shift``): they are real free bodies,
        but only the task's own objects enter ``scene_view`` and the success
        predicate. The next ``reset`` goes back to the task's own scene.
        """
        from envs.shift.distractors import copy_state

        old_model, old_data = self.model, self.data
        self._load(xml)
        copy_state(old_model, old_data, self.model, self.data)

    def _set_scene(self, init_index: int) -> None:
        mujoco.mj_resetData(self.model, self.data)
        layout = self.twin.sample_layout(self.espec, init_index).positions
        origin = self.robot.table_origin
        for name, pos in layout.items():
            world = np.asarray(pos, float) + origin
            if name in self._free:
                a = self._free[name]
                self.data.qpos[a : a + 3] = world
                self.data.qpos[a + 3 : a + 7] = (1, 0, 0, 0)
            else:
                self.data.mocap_pos[self._mocap[name]] = world
        home = self.robot.home(self.data)
        self._home = home
        for side, h in self.robot.arms.items():
            self.data.qpos[h.qpos] = home[side]
            self.data.ctrl[h.act] = home[side]
            self._q_cmd[side] = home[side].copy()
            open_cmd = np.ones(1) if h.hand_kind == "jaw" else np.array([1.0, 0, 0, 0, 0, 0])
            self.data.ctrl[h.hand_act] = self.robot.hand_targets(side, open_cmd)
        if self.espec.head is not None:
            self.data.qpos[self.robot.head_qpos] = np.deg2rad(self.espec.head.home_deg)
            self.data.ctrl[self.robot.head_act] = np.deg2rad(self.espec.head.home_deg)
        mujoco.mj_forward(self.model, self.data)

    def _touching(self) -> dict[int, set[str]]:
        """Body id -> arm sides whose hand geoms touch it now."""
        touching: dict[int, set[str]] = {}
        for c in self.data.contact[: self.data.ncon]:
            g1, g2 = int(c.geom1), int(c.geom2)
            for hand, other in ((g1, g2), (g2, g1)):
                if hand in self._hand_geoms:
                    touching.setdefault(int(self.model.geom_bodyid[other]), set()).add(self._geom_side.get(hand, "?"))
        return touching

    def scene_view(self) -> SceneView:
        """Privileged object poses (table frame), which hands touch each object now and this episode.

        Also the episode's hold history: ``step`` reads the view after every step (success check),
        and a second look at the same state adds nothing."""
        pos, rot, held_by = {}, {}, {}
        origin = self.robot.table_origin
        touching = self._touching()
        for name, bid in self._body.items():
            pos[name] = self.data.xpos[bid] - origin
            rot[name] = self.data.xmat[bid].reshape(3, 3)
            held_by[name] = frozenset(touching.get(bid, ()))
            self._ever_held.setdefault(name, set()).update(held_by[name])
        eef = {side: self.robot.eef_pose(self.data, side)[0].copy() for side in self.robot.arms}
        return SceneView(self.espec, pos, rot, held_by, {name: frozenset(v) for name, v in self._ever_held.items()},
                         eef, {side: self.hand_lowest(side) for side in self.robot.arms})

    def hand_lowest(self, side: str) -> float:
        """Height (table frame) of the lowest point of arm ``side``'s hand collision boxes."""
        g = self._side_geoms[side]
        mats = self.data.geom_xmat[g].reshape(-1, 3, 3)
        extent = np.einsum("gj,gj->g", np.abs(mats[:, 2, :]), self.model.geom_size[g])
        return float(np.min(self.data.geom_xpos[g, 2] - extent) - self.robot.table_origin[2])

    # -- adapter ---------------------------------------------------------------
    def native_state(self) -> dict[str, np.ndarray]:
        feats: dict[str, np.ndarray] = {}
        for side, h in self.robot.arms.items():
            p, r = self.robot.eef_pose(self.data, side)
            feats[f"{side}_eef_pos"] = p
            feats[f"{side}_eef_rot"] = mat_to_rotvec(r)
            feats[f"{side}_gripper" if h.hand_kind == "jaw" else f"{side}_hand"] = self.robot.hand_state(self.data, side)
            feats[f"{side}_arm_joints"] = self.data.qpos[h.qpos]
        feats["head"] = self.data.qpos[self.robot.head_qpos]
        feats["waist"] = self.data.qpos[self.robot.waist_qpos]
        return feats

    def state_vector(self) -> np.ndarray:
        feats = self.native_state()
        return self.mapping.features_to_unified("state", {k: feats[k] for k in self.mapping.state})

    def apply_action(self, action: np.ndarray) -> None:
        """Unified action -> actuator targets (IK for the EEF slots)."""
        for side, h in self.robot.arms.items():
            pos = action[slot_group(f"{side}_eef_pos").slice]
            rot = rotvec_to_mat(action[slot_group(f"{side}_eef_rot").slice])
            q = self.robot.solve_ik(self.data, side, self._q_cmd[side], pos, rot, posture=self._home[side])
            self._q_cmd[side] = q
            self.data.ctrl[h.act] = q
            key = f"{side}_gripper" if h.hand_kind == "jaw" else f"{side}_hand"
            self.data.ctrl[h.hand_act] = self.robot.hand_targets(side, action[slot_group(key).slice])
        if len(self.robot.head_act):
            self.data.ctrl[self.robot.head_act] = np.clip(action[slot_group("head").slice], *self.model.actuator_ctrlrange[self.robot.head_act].T)
        if len(self.robot.waist_act):
            self.data.ctrl[self.robot.waist_act] = np.clip(action[slot_group("waist").slice], *self.model.actuator_ctrlrange[self.robot.waist_act].T)

    def hold_action(self) -> np.ndarray:
        """The unified action that holds the robot where it is now (hands as commanded)."""
        out = np.zeros(UNIFIED_DIM, np.float32)
        for side, h in self.robot.arms.items():
            p, r = self.robot.eef_pose(self.data, side)
            out[slot_group(f"{side}_eef_pos").slice] = p
            out[slot_group(f"{side}_eef_rot").slice] = mat_to_rotvec(r)
            ctrl = self.data.ctrl[h.hand_act]
            if h.hand_kind == "jaw":
                out[slot_group(f"{side}_gripper").slice] = (ctrl - h.hand_closed) / (h.hand_open - h.hand_closed)
            else:
                out[slot_group(f"{side}_hand").slice] = (ctrl - h.hand_open) / (h.hand_closed - h.hand_open)
        if len(self.robot.head_act):
            out[slot_group("head").slice] = self.data.ctrl[self.robot.head_act]
        if len(self.robot.waist_act):
            out[slot_group("waist").slice] = self.data.ctrl[self.robot.waist_act]
        return out

    def set_step_images(self, on: bool) -> None:
        """Render images in the following steps' observations (``on``) or return state only.

        Reset observations are always rendered. Rendering reads the sim state only,
        so an image rendered after any number of image-less steps equals per-step rendering.
        """
        self._step_images = bool(on)

    def _observation(self, images_on: bool = True) -> dict[str, Any]:
        images = {}
        if self._renderer is not None and images_on:
            for cam in self.cameras:
                self._renderer.update_scene(self.data, camera=cam)
                images[cam] = self._renderer.render().copy()
        return make_observation(images, self.state_vector(), self._state_mask, self.task)

    # -- gymnasium API ------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        index = int((options or {}).get("init_index", 0))
        if not 0 <= index < self.task.num_init_states:
            raise ValueError(f"init_index {index} out of range: task {self.task.key!r} has {self.task.num_init_states} init states")
        self.init_index = index
        if self._xml != self.scene_source:  # last episode added objects: back to the task's own scene
            self._load(self.scene_source)
        self._set_scene(index)
        self._noop = self.hold_action()
        for _ in range(5):  # settle objects onto the table with the hold action
            self._physics(self._noop)
        self._steps = 0
        self._ever_held = {}
        return self._observation(), {"init_index": index, "success": False, "noop_action": self._noop.copy()}

    def _physics(self, action: np.ndarray) -> None:
        self.apply_action(action)
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)

    def step(self, action: np.ndarray):
        action = check_action(action, UNIFIED_DIM)
        self._physics(action)
        self._steps += 1
        if not np.all(np.isfinite(self.data.qpos)):
            raise FloatingPointError(f"{self.task.key}: simulation diverged at step {self._steps}")
        success = self.check_success()
        truncated = (not success) and self._steps >= self.max_steps
        obs = self._observation(self._step_images)
        return obs, float(success), success, truncated, {"success": success, "steps": self._steps}

    def check_success(self) -> bool:
        """The task's success predicate on the current simulator state."""
        return bool(self.twin.success(self.scene_view()))

    def render(self):
        if self._renderer is None:
            return None
        self._renderer.update_scene(self.data, camera="scene")
        return self._renderer.render().copy()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def ready_rotation() -> np.ndarray:
    return R_DOWN.copy()
