"""Distractor objects as real free-joint bodies: what to add, where there is room, and the MJCF.

Shared by every benchmark that can rebuild its MuJoCo model (twins, RoboCasa).
Shape, size and colour are drawn from the episode's shift generator; the
severity sets the count, the size (relative to the task's own objects) and
how close the colours come to the task objects' colours (``levels.yaml``).
A spot is free when rays cast straight down at its centre and around its
footprint all land at the support height on a static geom (no object, no
robot part, no edge), away from every task object by a clearance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import mujoco
import numpy as np

from envs.shift.levels import ShiftError

PREFIX = "h05_distractor_"
SHAPES = ("box", "cylinder", "slab")  # slab: a flat elongated box; nothing that rolls
RAY_RING = 8  # rays around the footprint, besides the centre one
TRIES_PER_OBJECT = 400


@dataclass(frozen=True)
class Distractor:
    """One added object: MJCF geom type and size (half extents), colour, and where its centre rests."""

    name: str
    shape: str
    half: tuple[float, float, float]  # x, y, z half extents of its bounding box
    rgba: tuple[float, float, float, float]
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def footprint(self) -> float:
        """Radius of the circle around the centre that the object covers on the table."""
        return float(np.hypot(self.half[0], self.half[1]))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "shape": self.shape, "half": list(self.half), "rgba": list(self.rgba), "pos": list(self.pos)}


@dataclass(frozen=True)
class TableRegion:
    """Where distractors may go: a box in world xy on a support at height ``surface_z``.

    ``avoid`` lists (xy, radius) discs to keep clear (task objects and their
    goals, the robot's start); ``ray_from_z`` is where the downward rays start
    (below anything overhead, above the robot's hands at rest).
    """

    lo: np.ndarray  # xy
    hi: np.ndarray  # xy
    surface_z: float
    ray_from_z: float
    avoid: tuple[tuple[np.ndarray, float], ...]
    object_size: float  # edge of the task's typical object (m)
    task_rgba: tuple[tuple[float, float, float, float], ...] = ()
    geomgroup: tuple[int, ...] | None = None  # geom groups the rays see (None: all)
    tolerance: float = 0.003  # how far from surface_z a ray may land and still count as the support


def draw_distractors(rng: np.random.Generator, p: dict[str, float], region: TableRegion) -> list[Distractor]:
    """Shapes, sizes and colours of ``p['count']`` objects (positions come later)."""
    out = []
    for k in range(int(p["count"])):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        h = 0.5 * region.object_size * p["size_scale"] * float(rng.uniform(0.85, 1.15))
        half = {"box": (h, h, h), "cylinder": (h, h, h), "slab": (1.6 * h, h, 0.6 * h)}[shape]
        colour = rng.uniform(0.05, 0.95, 3)
        if region.task_rgba and p["colour_similarity"] > 0:
            ref = np.asarray(region.task_rgba[int(rng.integers(len(region.task_rgba)))][:3])
            colour = (1 - p["colour_similarity"]) * colour + p["colour_similarity"] * ref
        out.append(Distractor(f"{PREFIX}{k}", shape, half, (*(float(c) for c in colour), 1.0)))
    return out


def _ray_height(model: mujoco.MjModel, data: mujoco.MjData, xy: np.ndarray, region: TableRegion) -> float | None:
    """Height where a ray straight down at ``xy`` lands on a geom welded to the world (None: on anything else)."""
    geomid = np.zeros(1, np.int32)
    group = None if region.geomgroup is None else np.asarray(region.geomgroup, np.uint8)
    start = np.array([xy[0], xy[1], region.ray_from_z])
    dist = mujoco.mj_ray(model, data, start, np.array([0.0, 0.0, -1.0]), group, 1, -1, geomid)
    if dist < 0 or model.body_weldid[model.geom_bodyid[geomid[0]]] != 0:
        return None
    return region.ray_from_z - dist


def is_free(model: mujoco.MjModel, data: mujoco.MjData, xy: np.ndarray, radius: float, region: TableRegion) -> bool:
    """Rays at ``xy`` and on a ring of ``radius`` around it all land on the bare support."""
    angles = np.linspace(0, 2 * np.pi, RAY_RING, endpoint=False)
    pts = [xy] + [xy + radius * np.array([np.cos(a), np.sin(a)]) for a in angles]
    for q in pts:
        z = _ray_height(model, data, q, region)
        if z is None or abs(z - region.surface_z) > region.tolerance:
            return False
    return True


def place(model: mujoco.MjModel, data: mujoco.MjData, objects: Sequence[Distractor], region: TableRegion,
          rng: np.random.Generator) -> list[Distractor]:
    """Each object at a free spot of ``region``, clear of ``region.avoid`` and of the ones placed before it."""
    placed: list[Distractor] = []
    margin = 0.25 * region.object_size
    for obj in objects:
        for _ in range(TRIES_PER_OBJECT):
            xy = rng.uniform(region.lo, region.hi)
            if any(np.linalg.norm(xy - c) < r + obj.footprint for c, r in region.avoid):
                continue
            if any(np.linalg.norm(xy - np.asarray(o.pos[:2])) < o.footprint + obj.footprint + margin for o in placed):
                continue
            if is_free(model, data, xy, obj.footprint + margin, region):
                pos = (float(xy[0]), float(xy[1]), region.surface_z + obj.half[2])
                placed.append(Distractor(obj.name, obj.shape, obj.half, obj.rgba, pos))
                break
        else:
            raise ShiftError(
                f"no free table space for distractor {len(placed) + 1} of {len(objects)} "
                f"(region x {region.lo[0]:.3f}..{region.hi[0]:.3f}, y {region.lo[1]:.3f}..{region.hi[1]:.3f}); use a lower severity"
            )
    return placed


def bodies_xml(objects: Sequence[Distractor], collision: str, mass: float | None = None, visual_group: int | None = None) -> str:
    """MJCF ``<body>`` elements with a free joint each; ``collision`` holds the geom's contact attributes.

    ``visual_group``: also add a visual-only twin geom in that group (for scenes
    whose cameras hide the collision group, like RoboCasa).
    """
    parts = []
    for o in objects:
        if o.shape == "cylinder":
            geom = f'type="cylinder" size="{o.half[0]:.6g} {o.half[2]:.6g}"'
        else:
            geom = f'type="box" size="{o.half[0]:.6g} {o.half[1]:.6g} {o.half[2]:.6g}"'
        rgba = " ".join(f"{c:.4g}" for c in o.rgba)
        weight = f' mass="{mass:.6g}"' if mass is not None else ""
        visual = (f'<geom name="{o.name}_visual" {geom} rgba="{rgba}" contype="0" conaffinity="0" group="{visual_group}" mass="0"/>'
                  if visual_group is not None else "")
        parts.append(
            f'<body name="{o.name}" pos="{o.pos[0]:.6g} {o.pos[1]:.6g} {o.pos[2]:.6g}"><freejoint name="{o.name}"/>'
            f'<geom name="{o.name}" {geom} rgba="{rgba}" {collision}{weight}/>{visual}</body>'
        )
    return "".join(parts)


def append_to_worldbody(xml: str, bodies: str) -> str:
    """``xml`` with ``bodies`` as the last children of its worldbody (so their joints come last in qpos)."""
    end = xml.rfind("</worldbody>")
    if end < 0:
        raise ShiftError("scene XML has no </worldbody> to add distractor objects to")
    return xml[:end] + bodies + xml[end:]


def copy_state(src_model: mujoco.MjModel, src: mujoco.MjData, dst_model: mujoco.MjModel, dst: mujoco.MjData) -> None:
    """Copy the physics state of ``src`` into ``dst``, whose model is ``src_model`` plus bodies appended at the end.

    The added bodies keep the pose their XML gives them (qpos0) and rest.
    """
    nq, nv = src_model.nq, src_model.nv
    if dst_model.nu != src_model.nu or dst_model.nmocap != src_model.nmocap or dst_model.nq < nq:
        raise ShiftError("the rebuilt scene does not extend the original one (actuators, mocap bodies or joints differ)")
    dst.time = src.time
    dst.qpos[:nq] = src.qpos
    dst.qvel[:nv] = src.qvel
    dst.qacc_warmstart[:nv] = src.qacc_warmstart
    dst.act[:] = src.act
    dst.ctrl[:] = src.ctrl
    dst.mocap_pos[:] = src.mocap_pos
    dst.mocap_quat[:] = src.mocap_quat
    mujoco.mj_forward(dst_model, dst)
