"""The five twins' kinematics and settings, loaded from ``sim_assets/twins/embodiments.yaml``.

That YAML file is the one place joint axes, offsets, limits, gains, control
rates and workspaces are written; this module turns it into frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import yaml

ASSET_DIR = Path(__file__).resolve().parents[2] / "sim_assets" / "twins"
EMBODIMENTS_FILE = ASSET_DIR / "embodiments.yaml"

# Actuated degrees of freedom per robot (../shared/FACTS.md section 5).
FACTS_ACTUATED_DOF: Mapping[str, int] = {"adam_u": 31, "g1": 26, "fr3_inspire": 13, "d1": 14, "so101": 6}


class TwinSpecError(ValueError):
    """The embodiment table names something unknown or inconsistent."""


@dataclass(frozen=True)
class JointSpec:
    name: str
    pos: tuple[float, float, float]
    axis: tuple[float, float, float]
    range_deg: tuple[float, float]
    kp: float

    @property
    def range_rad(self) -> tuple[float, float]:
        return (float(np.deg2rad(self.range_deg[0])), float(np.deg2rad(self.range_deg[1])))


@dataclass(frozen=True)
class ChainSpec:
    """A serial chain (arm, head or waist) with its mount point and home posture."""

    name: str
    parent: str | None
    mount: tuple[float, float, float]
    joints: tuple[JointSpec, ...]
    home_deg: tuple[float, ...]
    radius: float = 0.03
    tool: tuple[float, float, float] = (0.0, 0.0, 0.0)
    hand_euler_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    hand: str | None = None


@dataclass(frozen=True)
class HandSpec:
    name: str
    kind: str  # "dexterous" or "jaw"
    params: Mapping[str, Any]

    @property
    def actuated(self) -> int:
        return 6 if self.kind == "dexterous" else 1

    @property
    def joint_count(self) -> int:
        if self.kind == "jaw":
            return 1
        return int(self.params["thumb_joints"]) + 8


@dataclass(frozen=True)
class EmbodimentSpec:
    name: str
    description: str
    control_hz: float
    table_height: float
    workspace_center: tuple[float, float]
    workspace_half: tuple[float, float]
    bimanual_center: tuple[float, float] | None
    bimanual_half: tuple[float, float] | None
    object_size: float
    carry_height: float
    cameras: tuple[str, ...]
    arms: Mapping[str, ChainSpec]
    head: ChainSpec | None
    waist: ChainSpec | None
    torso_offset: tuple[float, float, float] | None
    column: Mapping[str, float] | None
    head_camera: tuple[float, float, float] | None
    hands: Mapping[str, HandSpec]
    workspace_radius: tuple[float, float] | None = None  # reach annulus around the arm base (single-arm layouts)

    @property
    def bimanual(self) -> bool:
        return "left" in self.arms

    @property
    def on_table(self) -> bool:
        """Tabletop robots stand on the table; humanoids stand on the floor."""
        return self.column is None

    @property
    def actuated_dof(self) -> int:
        n = sum(len(a.joints) + self.hands[a.hand].actuated for a in self.arms.values())
        n += len(self.head.joints) if self.head else 0
        n += len(self.waist.joints) if self.waist else 0
        return n


def _vec(x: Any, n: int = 3) -> tuple[float, ...]:
    v = tuple(float(a) for a in x)
    if len(v) != n:
        raise TwinSpecError(f"expected {n} numbers, got {x!r}")
    return v


def _chain(name: str, raw: Mapping[str, Any]) -> ChainSpec:
    joints = tuple(
        JointSpec(j["name"], _vec(j["pos"]), _vec(j["axis"]), _vec(j["range"], 2), float(j["kp"])) for j in raw["joints"]
    )
    home = tuple(float(h) for h in raw.get("home", [0.0] * len(joints)))
    if len(home) != len(joints):
        raise TwinSpecError(f"chain {name!r}: home has {len(home)} values for {len(joints)} joints")
    for j, h in zip(joints, home):
        if not j.range_deg[0] <= h <= j.range_deg[1]:
            raise TwinSpecError(f"chain {name!r}: home {h} deg of joint {j.name!r} outside its range {j.range_deg}")
    return ChainSpec(
        name=name,
        parent=raw.get("parent"),
        mount=_vec(raw.get("mount", [0, 0, 0])),
        joints=joints,
        home_deg=home,
        radius=float(raw.get("radius", 0.03)),
        tool=_vec(raw.get("tool", [0, 0, 0])),
        hand_euler_deg=_vec(raw.get("hand_euler", [0, 0, 0])),
        hand=raw.get("hand"),
    )


@lru_cache(maxsize=1)
def load_table() -> dict[str, Any]:
    return yaml.safe_load(EMBODIMENTS_FILE.read_text())


@lru_cache(maxsize=None)
def load_embodiment(name: str) -> EmbodimentSpec:
    """The spec of twin ``name``; unknown names raise listing the known ones."""
    table = load_table()
    if name not in table["embodiments"]:
        raise TwinSpecError(f"unknown twin embodiment {name!r}; known: {', '.join(table['embodiments'])}")
    raw = table["embodiments"][name]
    arms = {side: _chain(side, a) for side, a in raw["arms"].items()}
    hands = {}
    for arm in arms.values():
        if arm.hand not in table["hands"]:
            raise TwinSpecError(f"{name}: arm {arm.name!r} uses unknown hand {arm.hand!r}")
        h = table["hands"][arm.hand]
        hands[arm.hand] = HandSpec(arm.hand, h["kind"], h)
    waist = raw.get("waist")
    ws, bws = raw["workspace"], raw.get("bimanual_workspace")
    torso = None
    if waist is not None:
        torso = _vec(waist["torso"])
    elif raw.get("torso_fixed") is not None:
        torso = _vec(raw["torso_fixed"])
    return EmbodimentSpec(
        name=name,
        description=raw["description"],
        control_hz=float(raw["control_hz"]),
        table_height=float(raw["table_height"]),
        workspace_center=_vec(ws["center"], 2),
        workspace_half=_vec(ws["half"], 2),
        bimanual_center=_vec(bws["center"], 2) if bws else None,
        bimanual_half=_vec(bws["half"], 2) if bws else None,
        object_size=float(raw["object_size"]),
        carry_height=float(raw["carry_height"]),
        cameras=tuple(raw["cameras"]),
        arms=arms,
        head=_chain("head", raw["head"]) if raw.get("head") else None,
        waist=_chain("waist", waist) if waist else None,
        torso_offset=torso,
        column=raw.get("column"),
        head_camera=_vec(raw["head_camera"]) if raw.get("head_camera") else None,
        hands=hands,
        workspace_radius=_vec(ws["radius"], 2) if ws.get("radius") else None,
    )


def embodiment_names() -> tuple[str, ...]:
    return tuple(load_table()["embodiments"])


def physics_settings() -> Mapping[str, Any]:
    return load_table()["physics"]
