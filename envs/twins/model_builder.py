"""MJCF for a twin and its task scene, generated from the embodiment table.

Geometry is our own: capsules for links, boxes for palms and fingers. Arm
links are visual only (no collision) to keep physics cheap; hands, objects
and the table collide. Collision bits: hand geoms contype 2 / conaffinity 1,
table and objects contype 1 / conaffinity 3, so hands touch the world but not
each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from envs.twins.embodiments import ChainSpec, EmbodimentSpec, HandSpec, physics_settings

HAND_GEOM = 'contype="2" conaffinity="1" condim="4" friction="1.5 0.02 0.001" rgba="0.85 0.75 0.65 1"'
WORLD_GEOM = 'contype="1" conaffinity="3" condim="4"'
VISUAL_GEOM = 'contype="0" conaffinity="0"'


@dataclass(frozen=True)
class ObjectSpec:
    """A scene item: a free rigid body or a fixed visual fixture (target pad)."""

    name: str
    shape: str  # box | cylinder
    half: tuple[float, ...]  # box: 3 half extents; cylinder: radius, half height
    rgba: tuple[float, float, float, float]
    mass: float = 0.05
    free: bool = True
    parts: tuple[tuple[tuple[float, float, float], tuple[float, float, float]], ...] = ()  # extra boxes (pos, half)


def _f(v: Sequence[float]) -> str:
    return " ".join(f"{x:.6g}" for x in v)


def _lookat_xyaxes(pos: np.ndarray, target: np.ndarray) -> str:
    z = pos - target
    z = z / np.linalg.norm(z)
    x = np.cross([0.0, 0.0, 1.0], z)
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    return _f(np.concatenate([x, y]))


def _extrinsic_xyz_quat(deg: Sequence[float]) -> np.ndarray:
    """Quaternion of rotations about the parent's x, then y, then z axes (degrees)."""
    out = np.array([1.0, 0.0, 0.0, 0.0])
    for axis, angle in zip(np.eye(3), np.deg2rad(deg)):
        q = np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])
        w1, v1, w2, v2 = q[0], q[1:], out[0], out[1:]
        out = np.concatenate([[w1 * w2 - v1 @ v2], w1 * v2 + w2 * v1 + np.cross(v1, v2)])
    return out


def _hand_xml(prefix: str, hand: HandSpec) -> tuple[str, list[str], list[str]]:
    """Body XML of a hand (hand z from palm to fingertips), its actuators and couplings."""
    p = hand.params
    a = float(p["jaw_half_width"])
    hx, hy, hz = (float(v) for v in p["palm"])
    kp, force = float(p["kp"]), float(p["force"])
    acts: list[str] = []
    eqs: list[str] = []
    body = [f'<geom name="{prefix}palm" type="box" size="{_f((hx, hy, hz))}" pos="0 0 {hz:.6g}" {HAND_GEOM}/>']
    base_z = 2 * hz
    if hand.kind == "jaw":
        prox = float(p["proximal"])
        lo, hi = np.deg2rad(p["jaw_range"])
        body.append(
            f'<geom name="{prefix}static_jaw" type="box" size="0.0025 0.012 {prox / 2:.6g}" '
            f'pos="{-a + 0.0025:.6g} 0 {base_z + prox / 2:.6g}" {HAND_GEOM}/>'
        )
        body.append(
            f'<body name="{prefix}moving_jaw" pos="{a:.6g} 0 {base_z:.6g}">'
            f'<joint name="{prefix}gripper" type="hinge" axis="0 1 0" range="{lo:.6g} {hi:.6g}" damping="0.05" armature="0.001"/>'
            f'<geom type="box" size="0.0025 0.012 {prox / 2:.6g}" pos="-0.0025 0 {prox / 2:.6g}" {HAND_GEOM}/></body>'
        )
        acts.append(f'<position name="{prefix}gripper" joint="{prefix}gripper" kp="{kp}" forcerange="{-force} {force}" ctrlrange="{lo:.6g} {hi:.6g}"/>')
        site_z = base_z + prox * 0.8
    else:
        prox, dist = float(p["proximal"]), float(p["distal"])
        flo, fhi = np.deg2rad(p["finger_range"])
        tlo, thi = np.deg2rad(p["thumb_range"])
        ylo, yhi = np.deg2rad(p["thumb_yaw_range"])
        spacing = 2 * hy / 4
        fw = spacing * 0.45
        for i, finger in enumerate(("index", "middle", "ring", "pinky")):
            y = (i - 1.5) * spacing
            j1, j2 = f"{prefix}{finger}_proximal", f"{prefix}{finger}_distal"
            body.append(
                f'<body name="{j1}" pos="{a:.6g} {y:.6g} {base_z:.6g}">'
                f'<joint name="{j1}" type="hinge" axis="0 -1 0" range="{flo:.6g} {fhi:.6g}" damping="0.02" armature="0.0005"/>'
                f'<geom type="box" size="0.005 {fw:.6g} {prox / 2:.6g}" pos="0 0 {prox / 2:.6g}" {HAND_GEOM}/>'
                f'<body name="{j2}" pos="0 0 {prox:.6g}">'
                f'<joint name="{j2}" type="hinge" axis="0 -1 0" range="{flo:.6g} {fhi:.6g}" damping="0.02" armature="0.0005"/>'
                f'<geom type="box" size="0.005 {fw:.6g} {dist / 2:.6g}" pos="0 0 {dist / 2:.6g}" {HAND_GEOM}/></body></body>'
            )
            acts.append(f'<position name="{j1}" joint="{j1}" kp="{kp}" forcerange="{-force} {force}" ctrlrange="{flo:.6g} {fhi:.6g}"/>')
            eqs.append(f'<joint joint1="{j2}" joint2="{j1}" polycoef="0 1 0 0 0" solref="0.01 1"/>')
        # thumb: yaw (opposition, 0 = opposed), pitch (flex), then coupled segments
        n_thumb = int(p["thumb_joints"])
        seg = (prox + dist) / (n_thumb - 1)
        tw = 1.6 * fw
        names = [f"{prefix}thumb_yaw", f"{prefix}thumb_pitch"] + [f"{prefix}thumb_{k}" for k in ("intermediate", "distal")[: n_thumb - 2]]
        xml = (
            f'<body name="{names[0]}" pos="{-a:.6g} 0 {base_z:.6g}">'
            f'<joint name="{names[0]}" type="hinge" axis="0 0 1" range="{ylo:.6g} {yhi:.6g}" damping="0.02" armature="0.0005"/>'
            f'<geom type="sphere" size="0.008" {VISUAL_GEOM}/>'
            f'<body name="{names[1]}" pos="0 0 0">'
            f'<joint name="{names[1]}" type="hinge" axis="0 1 0" range="{tlo:.6g} {thi:.6g}" damping="0.02" armature="0.0005"/>'
            f'<geom type="box" size="0.005 {tw:.6g} {seg / 2:.6g}" pos="0 0 {seg / 2:.6g}" {HAND_GEOM}/>'
        )
        closing = ""
        for k, nm in enumerate(names[2:]):
            xml += (
                f'<body name="{nm}" pos="0 0 {seg:.6g}">'
                f'<joint name="{nm}" type="hinge" axis="0 1 0" range="{tlo:.6g} {thi:.6g}" damping="0.02" armature="0.0005"/>'
                f'<geom type="box" size="0.005 {tw:.6g} {seg / 2:.6g}" pos="0 0 {seg / 2:.6g}" {HAND_GEOM}/>'
            )
            closing += "</body>"
            eqs.append(f'<joint joint1="{nm}" joint2="{names[1]}" polycoef="0 {0.5 if k == 0 else 0.5} 0 0 0" solref="0.01 1"/>')
        xml += closing + "</body></body>"
        body.append(xml)
        acts.insert(0, f'<position name="{names[1]}" joint="{names[1]}" kp="{kp}" forcerange="{-force} {force}" ctrlrange="{tlo:.6g} {thi:.6g}"/>')
        acts.insert(0, f'<position name="{names[0]}" joint="{names[0]}" kp="{kp}" forcerange="{-force} {force}" ctrlrange="{ylo:.6g} {yhi:.6g}"/>')
        site_z = base_z + prox * 1.05
    body.append(f'<site name="{prefix}eef" pos="0 0 {site_z:.6g}" size="0.006" rgba="1 0 0 0.5"/>')
    body.append(
        f'<camera name="{prefix}wrist" pos="{-(a + 0.035):.6g} 0 {-0.01:.6g}" xyaxes="0 -1 0 0.6 0 0.8" fovy="80"/>'
    )
    return "".join(body), acts, eqs


def _chain_xml(prefix: str, chain: ChainSpec, inner: str, radius: float, tool: bool) -> tuple[str, str, list[str]]:
    """Opening XML of nested chain bodies, the closing tags, and the position actuators."""
    opened, acts = [], []
    joints = chain.joints
    for i, j in enumerate(joints):
        lo, hi = j.range_rad
        nxt = np.array(joints[i + 1].pos if i + 1 < len(joints) else (chain.tool if tool else (0, 0, 0)))
        damping = 0.08 * j.kp
        geom = (
            f'<geom type="capsule" fromto="0 0 0 {_f(nxt)}" size="{radius:.6g}" {VISUAL_GEOM} rgba="0.3 0.3 0.35 1"/>'
            if np.linalg.norm(nxt) > 1e-6
            else f'<geom type="sphere" size="{radius:.6g}" {VISUAL_GEOM} rgba="0.3 0.3 0.35 1"/>'
        )
        opened.append(
            f'<body name="{prefix}{j.name}_link" pos="{_f(j.pos)}" gravcomp="1">'
            f'<joint name="{prefix}{j.name}" type="hinge" axis="{_f(j.axis)}" range="{lo:.6g} {hi:.6g}" '
            f'damping="{damping:.6g}" armature="0.05"/>{geom}'
        )
        acts.append(
            f'<position name="{prefix}{j.name}" joint="{prefix}{j.name}" kp="{j.kp:.6g}" ctrlrange="{lo:.6g} {hi:.6g}"/>'
        )
    return "".join(opened) + inner, "</body>" * len(joints), acts


def build_mjcf(spec: EmbodimentSpec, objects: Sequence[ObjectSpec], name: str = "twin") -> str:
    """The full scene (floor, table, robot, objects, cameras) as an MJCF string."""
    phys = physics_settings()
    th = spec.table_height
    cx, cy = spec.workspace_center
    acts: list[str] = []
    eqs: list[str] = []
    root_z = th if spec.on_table else 0.0

    def arm_xml(side: str) -> str:
        arm = spec.arms[side]
        hand_body, hand_acts, hand_eqs = _hand_xml(f"{side}_", spec.hands[arm.hand])
        quat = _f(_extrinsic_xyz_quat(arm.hand_euler_deg))
        hand = f'<body name="{side}_hand" pos="{_f(arm.tool)}" quat="{quat}" gravcomp="1">{hand_body}</body>'
        opened, closing, chain_acts = _chain_xml("", arm, hand, arm.radius, tool=True)
        acts.extend(chain_acts)
        acts.extend(hand_acts)
        eqs.extend(hand_eqs)
        return f'<body name="{side}_arm_mount" pos="{_f(arm.mount)}">{opened}{closing}</body>'

    def head_xml() -> str:
        head = spec.head
        cam = '<camera name="head" pos="0.05 0 0" xyaxes="0 -1 0 0 0 1" fovy="70"/>'
        opened, closing, head_acts = _chain_xml("", head, cam, 0.025, tool=False)
        acts.extend(head_acts)
        return f'<body name="head_mount" pos="{_f(head.mount)}">{opened}{closing}</body>'

    torso_children = "".join(arm_xml(s) for s in spec.arms if spec.arms[s].parent == "torso")
    root_children = "".join(arm_xml(s) for s in spec.arms if spec.arms[s].parent != "torso")
    if spec.head is not None and spec.head.parent == "torso":
        torso_children += head_xml()
    elif spec.head is not None:
        root_children += head_xml()
    if spec.head_camera is not None:
        torso_children += (
            f'<body name="head_link" pos="{_f(spec.head_camera)}"><geom type="sphere" size="0.06" {VISUAL_GEOM} rgba="0.2 0.2 0.2 1"/>'
            f'<camera name="head" pos="0.06 0 0" xyaxes="0 -1 0 0.7071 0 0.7071" fovy="70"/></body>'
        )
    if spec.torso_offset is not None:
        torso = (
            f'<body name="torso" pos="{_f(spec.torso_offset)}" gravcomp="1">'
            f'<geom type="capsule" fromto="0 0 -0.35 0 0 -0.02" size="0.1" {VISUAL_GEOM} rgba="0.8 0.8 0.85 1"/>'
            f"{torso_children}</body>"
        )
        if spec.waist is not None:
            w = spec.waist
            opened, closing, waist_acts = _chain_xml("", w, torso, 0.08, tool=False)
            acts[:0] = waist_acts
            root_children += f'<body name="waist_mount" pos="{_f(w.mount)}">{opened}{closing}</body>'
        else:
            root_children += torso
    column = ""
    if spec.column is not None:
        h, r = float(spec.column["height"]), float(spec.column["radius"])
        column = f'<geom type="cylinder" size="{r} {h / 2}" pos="0 0 {h / 2}" {VISUAL_GEOM} rgba="0.5 0.5 0.55 1"/>'
    else:
        column = f'<geom type="cylinder" size="0.05 0.01" pos="0 0 0.01" {VISUAL_GEOM} rgba="0.2 0.2 0.2 1"/>'
    robot = f'<body name="robot" pos="0 0 {root_z:.6g}">{column}{root_children}</body>'

    # table: from behind a tabletop robot's base (or just in front of a humanoid) past the workspace
    x0 = -0.15 if spec.on_table else 0.12
    x1 = cx + max(spec.workspace_half[0], 0.05) + 0.25
    half_y = max(abs(cy) + spec.workspace_half[1] + 0.25, 0.35)
    table = (
        f'<geom name="table" type="box" size="{(x1 - x0) / 2:.6g} {half_y:.6g} 0.02" '
        f'pos="{(x0 + x1) / 2:.6g} 0 {th - 0.02:.6g}" {WORLD_GEOM} friction="1 0.01 0.001" rgba="0.62 0.5 0.38 1"/>'
    )
    reach = max(cx, 0.25)
    cam_pos = np.array([cx + 1.2 * reach, 0.0, th + 1.0 * reach])
    cam_target = np.array([cx * 0.7, 0.0, th])
    scene_cam = f'<camera name="scene" pos="{_f(cam_pos)}" xyaxes="{_lookat_xyaxes(cam_pos, cam_target)}" fovy="65"/>'

    bodies = []
    for obj in objects:
        if obj.shape == "box":
            g = f'type="box" size="{_f(obj.half)}"'
        elif obj.shape == "cylinder":
            g = f'type="cylinder" size="{_f(obj.half)}"'
        else:
            raise ValueError(f"object {obj.name!r}: unknown shape {obj.shape!r} (box, cylinder)")
        rgba = _f(obj.rgba)
        if obj.free:
            parts = "".join(
                f'<geom type="box" size="{_f(h)}" pos="{_f(pp)}" {WORLD_GEOM} friction="1.5 0.02 0.001" rgba="{rgba}" mass="{obj.mass / 4:.6g}"/>'
                for pp, h in obj.parts
            )
            bodies.append(
                f'<body name="{obj.name}" pos="0 0 {th + 0.5:.6g}"><freejoint name="{obj.name}"/>'
                f'<geom name="{obj.name}" {g} {WORLD_GEOM} friction="1.5 0.02 0.001" rgba="{rgba}" mass="{obj.mass:.6g}"/>{parts}</body>'
            )
        else:
            bodies.append(
                f'<body name="{obj.name}" pos="0 0 {th + obj.half[-1]:.6g}" mocap="true">'
                f'<geom name="{obj.name}" {g} {VISUAL_GEOM} rgba="{rgba}"/></body>'
            )
    return f"""<mujoco model="{name}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{phys['timestep']}" integrator="{phys['integrator']}" cone="elliptic" impratio="10"/>
  <visual><global offwidth="640" offheight="480"/><quality shadowsize="0"/></visual>
  <asset>
    <texture name="grid" type="2d" builtin="checker" rgb1="0.35 0.38 0.42" rgb2="0.3 0.33 0.37" width="64" height="64"/>
    <material name="grid" texture="grid" texrepeat="8 8"/>
  </asset>
  <worldbody>
    <light pos="0.5 0 3" dir="0 0 -1" diffuse="0.8 0.8 0.8"/>
    <light pos="1.5 1.5 2.5" dir="-0.5 -0.5 -1" diffuse="0.3 0.3 0.3"/>
    <geom name="floor" type="plane" size="3 3 0.1" material="grid" {VISUAL_GEOM}/>
    {table}
    {scene_cam}
    {robot}
    {''.join(bodies)}
  </worldbody>
  <equality>{''.join(eqs)}</equality>
  <actuator>{''.join(acts)}</actuator>
</mujoco>"""
