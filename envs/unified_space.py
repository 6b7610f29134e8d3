"""The unified 200-D state/action space of Being-H0.5, as data.

One table of named slot ranges (``SLOT_GROUPS``) and one table of
per-embodiment mappings (``EMBODIMENTS``). Both ``envs`` and ``h05`` import
this module; it needs only numpy.

Ranges are half-open ``[start, stop)``. State and action share the 200 slots
but not always the meaning: where the released layout reuses a range with a
different meaning for actions (base position vs. base motion), the group says
which side it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping

import numpy as np

UNIFIED_DIM = 200

Side = Literal["state", "action", "both"]


@dataclass(frozen=True)
class SlotGroup:
    """A named range of unified slots."""

    name: str
    start: int
    stop: int
    side: Side
    meaning: str

    @property
    def width(self) -> int:
        return self.stop - self.start

    @property
    def slice(self) -> slice:
        return slice(self.start, self.stop)


SLOT_GROUPS: tuple[SlotGroup, ...] = (
    SlotGroup("right_eef_pos", 0, 3, "both", "right end-effector position xyz"),
    SlotGroup("right_eef_rot", 3, 6, "both", "right end-effector rotation, axis-angle"),
    SlotGroup("right_eef_reserved", 6, 9, "both", "reserved"),
    SlotGroup("left_eef_pos", 9, 12, "both", "left end-effector position xyz"),
    SlotGroup("left_eef_rot", 12, 15, "both", "left end-effector rotation, axis-angle"),
    SlotGroup("left_eef_reserved", 15, 18, "both", "reserved"),
    SlotGroup("right_gripper", 18, 19, "both", "right gripper (0 closed, 1 open)"),
    SlotGroup("left_gripper", 19, 20, "both", "left gripper (0 closed, 1 open)"),
    SlotGroup("right_hand", 20, 26, "both", "right dexterous hand joints"),
    SlotGroup("right_hand_ext", 26, 32, "both", "right dexterous hand extension"),
    SlotGroup("left_hand", 32, 38, "both", "left dexterous hand joints"),
    SlotGroup("left_hand_ext", 38, 44, "both", "left dexterous hand extension"),
    SlotGroup("gripper_qpos", 44, 46, "state", "parallel-gripper finger joint positions (LIBERO/RoboCasa)"),
    SlotGroup("right_arm_joints", 50, 57, "both", "right arm joint positions (7)"),
    SlotGroup("left_arm_joints", 57, 64, "both", "left arm joint positions (7)"),
    SlotGroup("head", 64, 66, "both", "head pan/tilt"),
    SlotGroup("waist", 66, 69, "both", "waist joints"),
    SlotGroup("base_pos", 70, 73, "state", "mobile base position"),
    SlotGroup("base_rot", 73, 76, "state", "mobile base rotation, axis-angle"),
    SlotGroup("base_motion", 70, 74, "action", "mobile base motion command"),
    SlotGroup("control_mode", 74, 75, "action", "arm/base control mode"),
    SlotGroup("mano_beta_right", 90, 100, "state", "MANO shape beta, right"),
    SlotGroup("mano_beta_left", 100, 110, "state", "MANO shape beta, left"),
    SlotGroup("mano_theta_right", 110, 155, "both", "MANO pose theta, right (45)"),
    SlotGroup("mano_theta_left", 155, 200, "both", "MANO pose theta, left (45)"),
)

GROUPS_BY_NAME: Mapping[str, SlotGroup] = {g.name: g for g in SLOT_GROUPS}


class UnifiedSpaceError(ValueError):
    """A value does not fit the unified space (bad name, width, or number)."""


def slot_group(name: str) -> SlotGroup:
    """Return the group called ``name`` or raise naming it and the known ones."""
    try:
        return GROUPS_BY_NAME[name]
    except KeyError:
        raise UnifiedSpaceError(
            f"unknown slot group {name!r}; known: {', '.join(GROUPS_BY_NAME)}"
        ) from None


def _check_table() -> None:
    for side in ("state", "action"):
        used = np.zeros(UNIFIED_DIM, dtype=int)
        for g in SLOT_GROUPS:
            if not (0 <= g.start < g.stop <= UNIFIED_DIM):
                raise AssertionError(f"slot group {g.name} out of range")
            if g.side in (side, "both"):
                used[g.slice] += 1
        if used.max() > 1:
            raise AssertionError(f"overlapping {side} slot groups at {np.flatnonzero(used > 1)}")


_check_table()


@dataclass(frozen=True)
class EmbodimentMapping:
    """How one embodiment's native state/action features sit in the 200 slots.

    ``state`` and ``action`` map a native feature name to a slot-group name;
    the feature's width is the group's width. Native vectors are the
    concatenation of the features in declaration order.
    """

    name: str
    state: Mapping[str, str]
    action: Mapping[str, str]
    description: str = ""
    notes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for side, features in (("state", self.state), ("action", self.action)):
            for feature, group_name in features.items():
                group = slot_group(group_name)
                if group.side not in (side, "both"):
                    raise UnifiedSpaceError(
                        f"embodiment {self.name!r}: {side} feature {feature!r} maps to "
                        f"{group_name!r}, which is an {group.side}-only group"
                    )

    def _groups(self, side: Side) -> list[tuple[str, SlotGroup]]:
        features = self.state if side == "state" else self.action
        return [(f, GROUPS_BY_NAME[g]) for f, g in features.items()]

    def native_dim(self, side: Side) -> int:
        return sum(g.width for _, g in self._groups(side))

    def mask(self, side: Side) -> np.ndarray:
        """Boolean [200] mask of the slots this embodiment uses on ``side``."""
        m = np.zeros(UNIFIED_DIM, dtype=bool)
        for _, g in self._groups(side):
            m[g.slice] = True
        return m

    def to_unified(self, side: Side, native: np.ndarray) -> np.ndarray:
        """Scatter a native vector ``[..., native_dim]`` into ``[..., 200]`` (zeros elsewhere)."""
        native = np.asarray(native, dtype=np.float32)
        n = self.native_dim(side)
        if native.shape[-1:] != (n,):
            raise UnifiedSpaceError(
                f"embodiment {self.name!r}: native {side} has shape {native.shape}, "
                f"expected last dimension {n}"
            )
        out = np.zeros(native.shape[:-1] + (UNIFIED_DIM,), dtype=np.float32)
        offset = 0
        for _, g in self._groups(side):
            out[..., g.slice] = native[..., offset : offset + g.width]
            offset += g.width
        return out

    def from_unified(self, side: Side, unified: np.ndarray) -> np.ndarray:
        """Gather this embodiment's slots from ``[..., 200]`` into ``[..., native_dim]``."""
        unified = np.asarray(unified, dtype=np.float32)
        if unified.shape[-1:] != (UNIFIED_DIM,):
            raise UnifiedSpaceError(
                f"embodiment {self.name!r}: unified {side} has shape {unified.shape}, "
                f"expected last dimension {UNIFIED_DIM}"
            )
        parts = [unified[..., g.slice] for _, g in self._groups(side)]
        return np.concatenate(parts, axis=-1)

    def features_to_unified(self, side: Side, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Scatter a dict of named native features into a [200] vector."""
        declared = self.state if side == "state" else self.action
        missing = set(declared) - set(features)
        extra = set(features) - set(declared)
        if missing or extra:
            raise UnifiedSpaceError(
                f"embodiment {self.name!r}: {side} features missing {sorted(missing)}, "
                f"unexpected {sorted(extra)}"
            )
        return self.to_unified(side, np.concatenate([np.ravel(features[f]) for f in declared]))


EMBODIMENTS: dict[str, EmbodimentMapping] = {}


def register_embodiment(mapping: EmbodimentMapping) -> EmbodimentMapping:
    """Add a mapping to ``EMBODIMENTS``; a second, different one of the same name is an error."""
    existing = EMBODIMENTS.get(mapping.name)
    if existing is not None and existing != mapping:
        raise UnifiedSpaceError(f"embodiment {mapping.name!r} is already registered differently")
    EMBODIMENTS[mapping.name] = mapping
    return mapping


def embodiment(name: str) -> EmbodimentMapping:
    """Return the mapping called ``name`` or raise naming it and the known ones."""
    try:
        return EMBODIMENTS[name]
    except KeyError:
        raise UnifiedSpaceError(
            f"unknown embodiment {name!r}; known: {', '.join(sorted(EMBODIMENTS))}"
        ) from None


# LIBERO's Panda, as in the released LIBERO configuration: world-frame EEF
# deltas (LIBERO's normalised OSC_POSE action) in 0-5, the raw LIBERO gripper
# command (-1 open, +1 close) in slot 18; state EEF pose in 0-5 and the two
# finger joints in 44-46. No normalisation.
register_embodiment(
    EmbodimentMapping(
        name="libero_panda",
        state={"eef_pos": "right_eef_pos", "eef_rot": "right_eef_rot", "gripper_qpos": "gripper_qpos"},
        action={"eef_delta_pos": "right_eef_pos", "eef_delta_rot": "right_eef_rot", "gripper": "right_gripper"},
        description="Franka Panda with parallel gripper in LIBERO (robosuite 1.4, OSC_POSE)",
        notes={"gripper": "raw LIBERO command, -1 open / +1 close, as the released LIBERO checkpoint expects"},
    )
)


# The five simulated twins (envs/twins; kinematics in sim_assets/twins/embodiments.yaml).
# Actions: absolute EEF targets in the table frame (origin on the table top below
# the robot base; x forward, z up) and axis-angle rotation in the world frame,
# turned into joint targets by IK. Dexterous hands: 6 actuators normalised
# 0 open .. 1 closed (thumb yaw, thumb pitch, index, middle, ring, pinky);
# the SO-101 jaw uses the gripper slot (0 closed, 1 open). Head and waist in
# radians. State adds arm joints for 7-DoF arms.
_TWIN_HAND_NOTE = {"hand": "6 actuators normalised 0 open .. 1 closed", "eef": "absolute table-frame targets, IK"}
register_embodiment(
    EmbodimentMapping(
        name="so101",
        state={"right_eef_pos": "right_eef_pos", "right_eef_rot": "right_eef_rot", "right_gripper": "right_gripper"},
        action={"right_eef_pos": "right_eef_pos", "right_eef_rot": "right_eef_rot", "right_gripper": "right_gripper"},
        description="twin of LeRobot SO-101 (5-DoF arm + jaw), 30 Hz",
        notes={"eef": _TWIN_HAND_NOTE["eef"], "gripper": "0 closed, 1 open"},
    )
)
register_embodiment(
    EmbodimentMapping(
        name="fr3_inspire",
        state={"right_eef_pos": "right_eef_pos", "right_eef_rot": "right_eef_rot", "right_hand": "right_hand",
               "right_arm_joints": "right_arm_joints"},
        action={"right_eef_pos": "right_eef_pos", "right_eef_rot": "right_eef_rot", "right_hand": "right_hand"},
        description="twin of Franka FR3 + Inspire-style 6-actuated hand, 20 Hz",
        notes=_TWIN_HAND_NOTE,
    )
)
register_embodiment(
    EmbodimentMapping(
        name="d1",
        state={"right_eef_pos": "right_eef_pos", "right_eef_rot": "right_eef_rot", "right_hand": "right_hand", "head": "head"},
        action={"right_eef_pos": "right_eef_pos", "right_eef_rot": "right_eef_rot", "right_hand": "right_hand", "head": "head"},
        description="twin of BeingBeyond D1 (6-DoF arm, pan/tilt head camera, 6-actuated hand), 15 Hz",
        notes=_TWIN_HAND_NOTE,
    )
)
register_embodiment(
    EmbodimentMapping(
        name="adam_u",
        state={"right_eef_pos": "right_eef_pos", "right_eef_rot": "right_eef_rot", "left_eef_pos": "left_eef_pos",
               "left_eef_rot": "left_eef_rot", "right_hand": "right_hand", "left_hand": "left_hand",
               "right_arm_joints": "right_arm_joints", "left_arm_joints": "left_arm_joints", "head": "head", "waist": "waist"},
        action={"right_eef_pos": "right_eef_pos", "right_eef_rot": "right_eef_rot", "left_eef_pos": "left_eef_pos",
                "left_eef_rot": "left_eef_rot", "right_hand": "right_hand", "left_hand": "left_hand", "head": "head",
                "waist": "waist"},
        description="twin of PND Adam-U (waist 3, neck 2, two 7-DoF arms, two 6-actuated hands), 25 Hz",
        notes=_TWIN_HAND_NOTE,
    )
)
register_embodiment(
    EmbodimentMapping(
        name="g1",
        state={"right_eef_pos": "right_eef_pos", "right_eef_rot": "right_eef_rot", "left_eef_pos": "left_eef_pos",
               "left_eef_rot": "left_eef_rot", "right_hand": "right_hand", "left_hand": "left_hand",
               "right_arm_joints": "right_arm_joints", "left_arm_joints": "left_arm_joints"},
        action={"right_eef_pos": "right_eef_pos", "right_eef_rot": "right_eef_rot", "left_eef_pos": "left_eef_pos",
                "left_eef_rot": "left_eef_rot", "right_hand": "right_hand", "left_hand": "left_hand"},
        description="twin of Unitree G1 (pelvis welded, waist locked, two 7-DoF arms, two 6-DoF hands), 25 Hz",
        notes=_TWIN_HAND_NOTE,
    )
)

# RoboCasa's PandaOmron (mobile base), as in the released RoboCasa
# configuration. The 12-D env action in unified order is eef position (3),
# eef rotation (3), gripper (1), base motion (4: base x, y, yaw and torso
# lift), control mode (1); envs.robocasa.actions permutes it to robosuite's
# native order. Gripper and control mode keep robosuite's values (-1/+1).
register_embodiment(
    EmbodimentMapping(
        name="robocasa_panda_omron",
        state={
            "eef_pos": "right_eef_pos",
            "eef_rot": "right_eef_rot",
            "gripper_qpos": "gripper_qpos",
            "base_pos": "base_pos",
            "base_rot": "base_rot",
        },
        action={
            "eef_position": "right_eef_pos",
            "eef_rotation": "right_eef_rot",
            "gripper": "right_gripper",
            "base_motion": "base_motion",
            "control_mode": "control_mode",
        },
        description="Franka Panda on the Omron mobile base in RoboCasa (robosuite 1.5, HybridMobileBase)",
        notes={
            "gripper": "robosuite command, -1 open / +1 close",
            "control_mode": "robosuite HybridMobileBase mode, > 0 drives the base",
        },
    )
)
