"""The ten twin tasks, each defined once as data plus a success predicate.

A task names its objects (sized from the robot's ``object_size``), how their
initial poses are drawn from ``init_index``, and what success means. Sizes and
positions scale with each embodiment's workspace, so one definition serves
every robot that can do it. Bimanual tasks need two arms.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from envs.twins.embodiments import EmbodimentSpec
from envs.twins.model_builder import ObjectSpec

RED, BLUE, GREEN, YELLOW = (0.85, 0.15, 0.12, 1.0), (0.15, 0.3, 0.85, 1.0), (0.15, 0.7, 0.25, 1.0), (0.9, 0.8, 0.1, 1.0)
PURPLE = (0.55, 0.2, 0.75, 1.0)  # held out: used only by the generalisation suite
PAD = (0.2, 0.75, 0.3, 0.6)
PAD_RED, PAD_BLUE = (0.85, 0.3, 0.3, 0.6), (0.3, 0.4, 0.9, 0.6)


@dataclass(frozen=True)
class SceneLayout:
    """Initial object positions (table frame, object centres) of one episode."""

    positions: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class TwinTask:
    """One task: suite, instruction, episode length, objects, layout sampler, success predicate."""

    name: str
    suite: str
    instruction: str
    seconds: float  # episode length; max_steps = seconds * control_hz
    bimanual: bool
    objects: Callable[[EmbodimentSpec], tuple[ObjectSpec, ...]]
    layout: Callable[[EmbodimentSpec, np.random.Generator], dict[str, np.ndarray]]
    success: Callable[["SceneView"], bool]

    def feasible(self, spec: EmbodimentSpec) -> bool:
        return spec.bimanual or not self.bimanual

    def max_steps(self, spec: EmbodimentSpec) -> int:
        return int(round(self.seconds * spec.control_hz))

    def sample_layout(self, spec: EmbodimentSpec, init_index: int) -> SceneLayout:
        """Object positions for ``init_index``: same index, same scene."""
        seed = [zlib.crc32(f"{self.name}@{spec.name}".encode()), int(init_index)]
        return SceneLayout(self.layout(spec, np.random.default_rng(seed)))


class SceneView:
    """Privileged read-only view of object poses used by predicates and experts."""

    def __init__(self, spec: EmbodimentSpec, pos: Mapping[str, np.ndarray], rot: Mapping[str, np.ndarray],
                 held_by: Mapping[str, frozenset[str]], ever_held_by: Mapping[str, frozenset[str]] | None = None,
                 eef: Mapping[str, np.ndarray] | None = None, hand_low: Mapping[str, float] | None = None):
        self.spec = spec
        self.pos = pos  # table frame
        self.rot = rot  # 3x3 world
        self.held_by = held_by  # object -> arm sides whose hand geoms touch it now
        self.held = {name: bool(sides) for name, sides in held_by.items()}  # touched by any hand
        self.ever_held_by = ever_held_by or {}  # object -> arm sides that touched it at any step this episode
        self.eef = eef or {}  # side -> EEF position (table frame); experts only, never predicates
        self.hand_low = hand_low or {}  # side -> lowest hand point (table frame); experts only

    @property
    def s(self) -> float:
        return self.spec.object_size

    def resting(self, name: str, z: float | None = None) -> bool:
        """On its support (``z`` = expected centre height), flat on a face, not held."""
        z = self.s / 2 if z is None else z
        upright = np.abs(self.rot[name][2]).max() > 0.95  # some body axis vertical
        return abs(self.pos[name][2] - z) < 0.012 and upright and not self.held[name]

    def in_both_hands(self, name: str) -> bool:
        """Touched by the left and the right hand at once (a bimanual hold, not a toss)."""
        return {"left", "right"} <= self.held_by.get(name, frozenset())

    def on_pad(self, name: str, pad: str, half: tuple[float, float]) -> bool:
        d = np.abs(self.pos[name][:2] - self.pos[pad][:2])
        return bool(d[0] <= half[0] and d[1] <= half[1])

    def stacked(self, top: str, bottom: str, level: int = 1) -> bool:
        d = np.linalg.norm(self.pos[top][:2] - self.pos[bottom][:2])
        return d < 0.45 * self.s and self.resting(top, z=self.s / 2 + level * self.s)


# -- sizes and layouts --------------------------------------------------------


def cube(name: str, spec: EmbodimentSpec, rgba) -> ObjectSpec:
    h = spec.object_size / 2
    return ObjectSpec(name, "box", (h, h, h), rgba)


def pad(name: str, spec: EmbodimentSpec, rgba, scale=(1.0, 1.0)) -> ObjectSpec:
    return ObjectSpec(name, "box", (spec.object_size * scale[0], spec.object_size * scale[1], 0.0008), rgba, free=False)


def pad_half(spec: EmbodimentSpec, scale=(1.0, 1.0)) -> tuple[float, float]:
    return (spec.object_size * scale[0], spec.object_size * scale[1])


def sample_points(
    spec: EmbodimentSpec, rng: np.random.Generator, names: tuple[str, ...], min_dist: float,
    regions: Mapping[str, tuple[float, float, float, float]] | None = None, bimanual: bool = False,
) -> dict[str, np.ndarray]:
    """Sample object xy in the workspace, each at least ``min_dist`` from the others (regions in
    normalised [-1, 1] coordinates; single-arm layouts also inside the arm's reach annulus where the
    embodiment has one). Objects are placed one at a time, each redrawn until it fits;
    a dead end restarts the scene, so crowded layouts (four items in a small humanoid workspace)
    are found where drawing all points at once and rejecting the set almost never succeeds."""
    center = np.array(spec.bimanual_center if bimanual else spec.workspace_center)
    half = np.array(spec.bimanual_half if bimanual else spec.workspace_half)
    regions = regions or {}
    order = sorted(names, key=lambda n: n not in regions)  # constrained items first, while there is room
    r_lo, r_hi = (0.0, np.inf) if bimanual or spec.workspace_radius is None else spec.workspace_radius
    for _ in range(1_000):
        pts: dict[str, np.ndarray] = {}
        for n in order:
            x0, x1, y0, y1 = regions.get(n, (-1, 1, -1, 1))
            for _ in range(200):
                p = center + np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)]) * half
                if r_lo <= np.linalg.norm(p) <= r_hi and all(np.linalg.norm(p - q) >= min_dist for q in pts.values()):
                    pts[n] = p
                    break
            else:
                break
        if len(pts) == len(names):
            return {n: pts[n] for n in names}
    raise RuntimeError(f"could not place {names} in {spec.name}'s workspace with spacing {min_dist}")


def _with_z(points: Mapping[str, np.ndarray], z: Mapping[str, float]) -> dict[str, np.ndarray]:
    return {n: np.array([p[0], p[1], z[n]]) for n, p in points.items()}


def _cube_z(spec: EmbodimentSpec) -> float:
    return spec.object_size / 2


def _layout(names_cubes: tuple[str, ...], names_pads: tuple[str, ...], spacing: float, regions=None, bimanual=False,
            reject: Callable[[EmbodimentSpec, Mapping[str, np.ndarray]], bool] | None = None):
    """Layout sampler; ``reject`` redraws scenes that already meet the goal (same rng, so deterministic)."""

    def fn(spec: EmbodimentSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
        z = {n: _cube_z(spec) for n in names_cubes} | {n: 0.0008 for n in names_pads}
        for _ in range(1_000):
            pts = _with_z(sample_points(spec, rng, names_cubes + names_pads, spacing * spec.object_size, regions, bimanual), z)
            if reject is None or not reject(spec, pts):
                return pts
        raise RuntimeError(f"every sampled scene already meets the goal on {spec.name}")

    return fn


def _left_of(spec: EmbodimentSpec, pos: Mapping[str, np.ndarray], obj: str, ref: str) -> bool:
    """``obj`` 1.2..4 sizes to the left of ``ref`` (+y) and within one size of it in x."""
    s = spec.object_size
    return bool(1.2 * s <= pos[obj][1] - pos[ref][1] <= 4.0 * s and abs(pos[obj][0] - pos[ref][0]) <= 1.0 * s)


# -- the ten tasks ----------------------------------------------------------------

TASKS: tuple[TwinTask, ...] = (
    TwinTask(
        name="place_on_pad", suite="spatial", instruction="put the red cube on the green pad", seconds=8, bimanual=False,
        objects=lambda s: (cube("red_cube", s, RED), pad("green_pad", s, PAD)),
        layout=_layout(("red_cube",), ("green_pad",), 3.0),
        success=lambda v: v.resting("red_cube") and v.on_pad("red_cube", "green_pad", pad_half(v.spec)),
    ),
    TwinTask(
        name="stack_blocks", suite="spatial", instruction="stack the red cube on the blue cube", seconds=8, bimanual=False,
        objects=lambda s: (cube("red_cube", s, RED), cube("blue_cube", s, BLUE)),
        layout=_layout(("red_cube", "blue_cube"), (), 2.5),
        success=lambda v: v.stacked("red_cube", "blue_cube"),
    ),
    TwinTask(
        name="place_left_of", suite="spatial", instruction="put the red cube to the left of the blue cube", seconds=8,
        bimanual=False,
        objects=lambda s: (cube("red_cube", s, RED), cube("blue_cube", s, BLUE)),
        layout=_layout(("red_cube", "blue_cube"), (), 2.5, regions={"blue_cube": (-1, 1, -1, -0.2)},
                       reject=lambda s, p: _left_of(s, p, "red_cube", "blue_cube")),  # never solved at the start
        success=lambda v: v.resting("red_cube") and _left_of(v.spec, v.pos, "red_cube", "blue_cube"),
    ),
    TwinTask(
        name="sort_cubes", suite="long_horizon", instruction="put the red cube on the red pad and the blue cube on the blue pad",
        seconds=14, bimanual=False,
        objects=lambda s: (cube("red_cube", s, RED), cube("blue_cube", s, BLUE), pad("red_pad", s, PAD_RED), pad("blue_pad", s, PAD_BLUE)),
        layout=_layout(("red_cube", "blue_cube"), ("red_pad", "blue_pad"), 2.3),
        success=lambda v: all(
            v.resting(c) and v.on_pad(c, p, pad_half(v.spec)) for c, p in (("red_cube", "red_pad"), ("blue_cube", "blue_pad"))
        ),
    ),
    TwinTask(
        name="stack_three", suite="long_horizon", instruction="stack the blue cube on the green cube, then the red cube on top",
        seconds=14, bimanual=False,
        objects=lambda s: (cube("red_cube", s, RED), cube("blue_cube", s, BLUE), cube("green_cube", s, GREEN)),
        layout=_layout(("red_cube", "blue_cube", "green_cube"), (), 2.3),
        success=lambda v: v.stacked("blue_cube", "green_cube") and v.stacked("red_cube", "blue_cube", level=2),
    ),
    TwinTask(
        name="clear_table", suite="long_horizon", instruction="put all the cubes on the yellow pad", seconds=20, bimanual=False,
        objects=lambda s: (cube("red_cube", s, RED), cube("blue_cube", s, BLUE), cube("green_cube", s, GREEN),
                           pad("yellow_pad", s, YELLOW[:3] + (0.6,), (1.0, 2.6))),
        layout=_layout(("red_cube", "blue_cube", "green_cube"), ("yellow_pad",), 2.4, regions={"yellow_pad": (-1, 1, -0.2, 0.2)}),
        success=lambda v: all(
            v.resting(c) and v.on_pad(c, "yellow_pad", pad_half(v.spec, (1.0, 2.6))) for c in ("red_cube", "blue_cube", "green_cube")
        ),
    ),
    TwinTask(
        name="handover", suite="bimanual",
        instruction="pick up the bar with the right hand, hand it to the left hand, and put it on the green pad", seconds=16,
        bimanual=True,
        objects=lambda s: (ObjectSpec("bar", "box", (s.object_size / 2, s.object_size * 2.2, s.object_size / 2), YELLOW, mass=0.08),
                           pad("green_pad", s, PAD, (1.2, 2.6))),
        layout=lambda s, rng: _bar_layout(s, rng),
        # on the pad after passing through both hands (random flailing can sweep the bar onto the pad)
        success=lambda v: v.resting("bar") and v.on_pad("bar", "green_pad", pad_half(v.spec, (1.2, 2.6)))
        and {"left", "right"} <= set(v.ever_held_by.get("bar", ())),
    ),
    TwinTask(
        name="lift_tray", suite="bimanual", instruction="lift the tray with both hands", seconds=10, bimanual=True,
        objects=lambda s: (_tray(s),),
        layout=lambda s, rng: _tray_layout(s, rng),
        # lifted, level, and held by both hands (a random policy's toss can lift it level for a step)
        success=lambda v: v.pos["tray"][2] > 0.08 + 0.006 and v.rot["tray"][2, 2] > np.cos(np.deg2rad(15))
        and v.in_both_hands("tray"),
    ),
    TwinTask(
        name="novel_colour", suite="generalisation", instruction="put the purple cube on the green pad", seconds=8, bimanual=False,
        objects=lambda s: (cube("purple_cube", s, PURPLE), cube("red_cube", s, RED), cube("blue_cube", s, BLUE), pad("green_pad", s, PAD)),
        layout=_layout(("purple_cube", "red_cube", "blue_cube"), ("green_pad",), 2.3),
        success=lambda v: v.resting("purple_cube") and v.on_pad("purple_cube", "green_pad", pad_half(v.spec)),
    ),
    TwinTask(
        name="novel_shape", suite="generalisation", instruction="put the cylinder on the green pad", seconds=8, bimanual=False,
        objects=lambda s: (ObjectSpec("cylinder", "cylinder", (s.object_size * 0.45, s.object_size * 0.5), PURPLE),
                           cube("red_cube", s, RED), cube("blue_cube", s, BLUE), pad("green_pad", s, PAD)),
        layout=lambda s, rng: _layout(("cylinder", "red_cube", "blue_cube"), ("green_pad",), 2.3)(s, rng),
        success=lambda v: v.resting("cylinder") and v.on_pad("cylinder", "green_pad", pad_half(v.spec)),
    ),
)


def _bar_layout(spec: EmbodimentSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The bar starts on the right, the pad waits on the left (mirror of the right workspace)."""
    cx, cy = spec.workspace_center
    hx, hy = spec.workspace_half
    s = spec.object_size
    bar = np.array([cx + rng.uniform(-hx, hx) * 0.5, cy + rng.uniform(-hy, hy) * 0.3, s / 2])
    pad_xy = np.array([cx + rng.uniform(-hx, hx) * 0.5, -cy + rng.uniform(-hy, hy) * 0.3, 0.0008])
    return {"bar": bar, "green_pad": pad_xy}


def _tray(spec: EmbodimentSpec) -> ObjectSpec:
    s = spec.object_size
    half_w = abs(spec.workspace_center[1]) + 0.4 * s  # handles sit under each hand's workspace
    handle = (s / 2, s / 2, s / 2)
    parts = (((0.0, half_w, s / 2 + 0.006), handle), ((0.0, -half_w, s / 2 + 0.006), handle))
    return ObjectSpec("tray", "box", (1.2 * s, half_w + s / 2, 0.006), (0.6, 0.45, 0.3, 1.0), mass=0.15, parts=parts)


def _tray_layout(spec: EmbodimentSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    cx = spec.bimanual_center[0] if spec.bimanual_center else spec.workspace_center[0]
    hx = spec.bimanual_half[0] if spec.bimanual_half else 0.02
    return {"tray": np.array([cx + rng.uniform(-hx, hx), rng.uniform(-0.01, 0.01), 0.006])}


TASKS_BY_NAME: Mapping[str, TwinTask] = {t.name: t for t in TASKS}
SUITES: tuple[str, ...] = ("spatial", "long_horizon", "bimanual", "generalisation")


def twin_task(name: str) -> TwinTask:
    """The task called ``name``; unknown names raise listing the known ones."""
    try:
        return TASKS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown twin task {name!r}; known: {', '.join(TASKS_BY_NAME)}") from None
