"""Scene-space shifts: edits of the MuJoCo model (cameras, lights, added objects).

Edits are applied after the inner reset (LIBERO rebuilds its model at every
reset) and the observation is re-rendered. Each edit records the model fields
it touched so ``SceneEdits.restore`` puts them back bit for bit before the next
episode of an env that keeps its model. Distractor objects need a model
rebuild: LIBERO's scene XML gets static, visual-only bodies; the twins and
RoboCasa get real free-joint bodies (``distractors.py``) on free table space.
In every case the sim is rebuilt with the physics state kept. Other envs say
clearly that they cannot add objects.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from envs.shift import distractors as dist
from envs.shift.levels import ShiftError

DISTRACTOR_PREFIX = "h05_distractor_"
_SHAPES = ("box", "sphere", "cylinder", "capsule", "box", "cylinder")


def mujoco_model(env: gym.Env) -> mujoco.MjModel:
    """The raw ``MjModel`` behind an env (robosuite ``sim`` binding or a plain ``model``)."""
    base = env.unwrapped
    sim = getattr(base, "sim", None)
    model = getattr(getattr(sim, "model", None), "_model", None) if sim is not None else None
    if model is None:
        model = getattr(base, "model", None)
    if not isinstance(model, mujoco.MjModel):
        raise ShiftError(f"{type(base).__name__} exposes no MuJoCo model; scene shifts (camera, lighting, distractors) need one")
    return model


class SceneEdits:
    """Remembers original values of edited model fields; restores them exactly."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any, np.ndarray]] = []

    def set(self, owner: Any, field: str, index: Any, value: Any) -> None:
        arr = getattr(owner, field)
        self._saved.append((owner, field, index, np.array(arr[index], copy=True)))
        arr[index] = value

    def restore(self) -> None:
        for owner, field, index, old in reversed(self._saved):
            getattr(owner, field)[index] = old
        self._saved.clear()


def _random_unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def apply_camera_pose(model: mujoco.MjModel, cameras: list[str], p: dict[str, float], rng: np.random.Generator, edits: SceneEdits) -> dict[str, Any]:
    """Translate and rotate each named camera by at least half the level's magnitudes."""
    out = {}
    for name in cameras:
        cid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name)
        if cid < 0:
            raise ShiftError(f"camera {name!r} is not in the MuJoCo model")
        shift = _random_unit(rng) * p["translate_m"] * rng.uniform(0.5, 1.0)
        angle = np.deg2rad(p["rotate_deg"] * rng.uniform(0.5, 1.0)) * rng.choice([-1.0, 1.0])
        dq = np.zeros(4)
        mujoco.mju_axisAngle2Quat(dq, _random_unit(rng), angle)
        quat = np.zeros(4)
        mujoco.mju_mulQuat(quat, model.cam_quat[cid].copy(), dq)
        edits.set(model, "cam_pos", cid, model.cam_pos[cid] + shift)
        edits.set(model, "cam_quat", cid, quat)
        out[name] = {"translate_m": shift.tolist(), "rotate_rad": float(angle)}
    return out


def apply_lighting(model: mujoco.MjModel, p: dict[str, float], rng: np.random.Generator, edits: SceneEdits) -> dict[str, Any]:
    """Scale intensity (dimmer or brighter), tint the colour and move every light."""
    factor = 1 + rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0) * p["intensity"]
    tint = 1 + rng.uniform(-1.0, 1.0, 3) * p["tint"]
    move = _random_unit(rng) * p["move_m"]
    for i in range(model.nlight):
        for field in ("light_diffuse", "light_specular", "light_ambient"):
            edits.set(model, field, i, getattr(model, field)[i] * factor * tint)
        edits.set(model, "light_pos", i, model.light_pos[i] + move)
    hl = model.vis.headlight
    for field in ("diffuse", "ambient", "specular"):
        edits.set(hl, field, slice(None), getattr(hl, field) * factor * tint)
    return {"intensity": float(factor), "tint": tint.tolist(), "move_m": move.tolist()}


def add_distractors_to_xml(xml: str, objects: list[dict[str, Any]]) -> str:
    """The scene XML with static, visual-only distractor bodies appended to the worldbody."""
    root = ET.fromstring(xml)
    world = root.find("worldbody")
    if world is None:
        raise ShiftError("scene XML has no <worldbody>")
    for k, o in enumerate(objects):
        body = ET.SubElement(world, "body", name=f"{DISTRACTOR_PREFIX}{k}", pos=" ".join(f"{v:.6f}" for v in o["pos"]))
        ET.SubElement(
            body, "geom", name=f"{DISTRACTOR_PREFIX}{k}_g", type=o["shape"], size=" ".join([f"{o['size']:.6f}"] * 3),
            rgba=" ".join(f"{v:.6f}" for v in o["rgba"]), contype="0", conaffinity="0", group="1",
        )
    return ET.tostring(root, encoding="unicode")


def robosuite_env(env: gym.Env) -> Any:
    inner = getattr(env.unwrapped, "libero_env", None)
    return inner if inner is not None and hasattr(inner, "reset_from_xml_string") else None


def reload_keeping_state(rs_env: Any, xml: str) -> None:
    """Rebuild a robosuite sim from ``xml`` and put the physics state back (static bodies only: same qpos)."""
    sim = rs_env.sim
    flat = sim.get_state().flatten()
    warm = np.array(sim.data._data.qacc_warmstart, copy=True)
    rs_env.reset_from_xml_string(xml)
    sim = rs_env.sim
    sim.set_state_from_flattened(flat)
    sim.data._data.qacc_warmstart[:] = warm
    sim.forward()


def place_distractors(env: gym.Env, p: dict[str, float], rng: np.random.Generator) -> list[dict[str, Any]]:
    """Add the level's distractor objects to the live scene (twins, RoboCasa: free bodies; LIBERO: visual only)."""
    base = env.unwrapped
    if callable(getattr(base, "reload_scene", None)) and hasattr(base, "scene_view"):
        return _twins_distractors(base, p, rng)
    if getattr(base, "robocasa_env", None) is not None:
        return _robocasa_distractors(base, p, rng)
    rs_env = robosuite_env(env)
    if rs_env is None:
        raise ShiftError(
            f"{type(env.unwrapped).__name__} cannot add objects to its scene (distractors need the twins, RoboCasa or a "
            "robosuite-based env that can reload its MJCF); use camera_pose, lighting or an image shift instead"
        )
    count = int(p["count"])
    sim = rs_env.sim
    objs = getattr(rs_env, "objects_dict", {}) or {}
    pts = np.array([sim.data.body_xpos[sim.model.body_name2id(o.root_body)] for o in objs.values()])
    if not len(pts):
        raise ShiftError("the scene has no task objects to place distractors around")
    centre, table_z = pts[:, :2].mean(0), float(pts[:, 2].min())
    placed = []
    for k in range(int(count)):
        size = float(rng.uniform(0.015, 0.035))
        radius, angle = rng.uniform(0.12, 0.3), rng.uniform(0, 2 * np.pi)
        xy = centre + radius * np.array([np.cos(angle), np.sin(angle)])
        rgba = np.append(rng.uniform(0.05, 0.95, 3), 1.0)
        placed.append({"shape": _SHAPES[k % len(_SHAPES)], "pos": [float(xy[0]), float(xy[1]), table_z + size], "size": size, "rgba": rgba.tolist()})
    reload_keeping_state(rs_env, add_distractors_to_xml(rs_env.model.get_xml(), placed))
    return placed


def _body_footprint(model: mujoco.MjModel, body: int) -> float:
    """Radius in xy of a body's geoms around its centre (bounding circle of their bounding boxes)."""
    geoms = np.flatnonzero(model.geom_bodyid == body)
    return max((float(np.hypot(*model.geom_size[g][:2])) + float(np.hypot(*model.geom_pos[g][:2])) for g in geoms), default=0.0)


def _twins_distractors(base: Any, p: dict[str, float], rng: np.random.Generator) -> list[dict[str, Any]]:
    """Free bodies on the twins' table, clear of the task objects (and their goals) and the resting hands."""
    from envs.twins.model_builder import WORLD_GEOM

    model, data, spec = base.model, base.data, base.espec
    s, th = spec.object_size, spec.table_height
    view = base.scene_view()
    avoid = []
    task_rgba = []
    for name, bid in base._body.items():
        xy = data.xpos[bid][:2].copy()
        avoid.append((xy, _body_footprint(model, bid) + 1.5 * s))
        task_rgba.extend(tuple(model.geom_rgba[g]) for g in np.flatnonzero(model.geom_bodyid == bid))
    for eef in view.eef.values():
        avoid.append(((eef + base.robot.table_origin)[:2], 1.5 * s))
    avoid.append((data.xpos[model.body("robot").id][:2].copy(), 4 * s))  # the robot's base
    pts = np.array([a[0] for a in avoid])
    table = model.geom("table")
    t_lo = data.geom_xpos[table.id][:2] - model.geom_size[table.id][:2] + s
    t_hi = data.geom_xpos[table.id][:2] + model.geom_size[table.id][:2] - s
    region = dist.TableRegion(
        lo=np.maximum(pts.min(0) - 5 * s, t_lo), hi=np.minimum(pts.max(0) + 5 * s, t_hi), surface_z=th, ray_from_z=th + 3 * s,
        avoid=tuple(avoid), object_size=s, task_rgba=tuple(task_rgba),
    )
    placed = dist.place(model, data, dist.draw_distractors(rng, p, region), region, rng)
    collision = f'{WORLD_GEOM} friction="1.5 0.02 0.001"'
    base.reload_scene(dist.append_to_worldbody(base.scene_source, dist.bodies_xml(placed, collision, mass=0.05)))
    return [o.describe() for o in placed]


def _robocasa_distractors(base: Any, p: dict[str, float], rng: np.random.Generator) -> list[dict[str, Any]]:
    """Free bodies on the counter in front of the robot, clear of the task's objects and the robot."""
    rs = base.robocasa_env
    model, data = rs.sim.model._model, rs.sim.data._data
    eef = np.array(data.site_xpos[model.site(rs.robots[0].eef_site_id["right"]).id], copy=True)
    robot_base = np.array(data.xpos[model.body(rs.robots[0].robot_model.root_body).id], copy=True)
    avoid = [(robot_base[:2], 0.35), (eef[:2], 0.1)]
    task_rgba = []
    for obj in getattr(rs, "objects", {}).values():
        bid = model.body(obj.root_body).id
        avoid.append((data.xpos[bid][:2].copy(), _body_footprint(model, bid) + 0.05))
        task_rgba.extend(tuple(model.geom_rgba[g]) for g in np.flatnonzero(model.geom_bodyid == bid) if model.geom_group[g] == 1)
    surface = _counter_height(model, data, eef)
    region = dist.TableRegion(
        lo=eef[:2] - 0.45, hi=eef[:2] + 0.45, surface_z=surface, ray_from_z=eef[2] + 0.05, avoid=tuple(avoid),
        object_size=0.05, task_rgba=tuple(task_rgba), geomgroup=(1, 0, 0, 0, 0, 0),
    )
    placed = dist.place(model, data, dist.draw_distractors(rng, p, region), region, rng)
    bodies = dist.bodies_xml(placed, 'group="0" friction="1 0.005 0.0001"', visual_group=1)
    old_model, old_data = model, data
    rs.reset_from_xml_string(dist.append_to_worldbody(rs.model.get_xml(), bodies))
    dist.copy_state(old_model, old_data, rs.sim.model._model, rs.sim.data._data)
    return [o.describe() for o in placed]


def _counter_height(model: mujoco.MjModel, data: mujoco.MjData, eef: np.ndarray) -> float:
    """The most common height that rays around the gripper land at on fixed geoms: the counter it faces."""
    probe = dist.TableRegion(lo=eef[:2], hi=eef[:2], surface_z=0.0, ray_from_z=eef[2] + 0.05, avoid=(), object_size=0.05,
                             geomgroup=(1, 0, 0, 0, 0, 0))
    probe_rng = np.random.default_rng(0)  # fixed probe pattern: does not use the episode's draws
    heights = []
    for _ in range(64):
        z = dist._ray_height(model, data, eef[:2] + probe_rng.uniform(-0.3, 0.3, 2), probe)
        if z is not None and eef[2] - 0.6 < z < eef[2]:
            heights.append(round(z, 3))
    if not heights:
        raise ShiftError("found no counter under the robot's gripper to put distractor objects on")
    values, counts = np.unique(heights, return_counts=True)
    return float(values[np.argmax(counts)])


def rerender(env: gym.Env, obs: dict[str, Any]) -> dict[str, Any]:
    """``obs`` with its images rendered again after a scene edit, without stepping.

    Only the images are replaced: the rest of the observation stays the inner
    env's own, so a shifted episode reports the same state as its clean twin.
    """
    if not obs.get("images"):
        return obs  # a blind run: nothing rendered, the model edit is all there is
    return {**obs, "images": _render_fresh(env)["images"]}


def _render_fresh(env: gym.Env) -> dict[str, Any]:
    base = env.unwrapped
    sim = getattr(base, "sim", None)
    if sim is not None:  # camera and body poses are derived quantities: recompute kinematics
        sim.forward()
    elif isinstance(getattr(base, "model", None), mujoco.MjModel) and getattr(base, "data", None) is not None:
        mujoco.mj_forward(base.model, base.data)
    observe = getattr(base, "observe", None)
    if callable(observe):
        return observe()
    robocasa = getattr(base, "robocasa_env", None)
    if robocasa is not None:  # RoboCasa: robosuite observables -> contract
        base._raw = robocasa._get_observations(force_update=True)
        return base._observation(base._raw)
    inner = getattr(getattr(base, "_env", None), "env", None)
    if inner is not None and hasattr(base, "_observation"):  # LIBERO: robosuite observables -> contract
        return base._observation(inner._get_observations(force_update=True))
    if callable(getattr(base, "_observation", None)):  # twins: renders the current data
        return base._observation()
    raise ShiftError(f"{type(base).__name__} has no observe() to re-render after a scene shift")
