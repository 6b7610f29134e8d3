"""One primitive object model per RoboCasa object category (``objects/<registry>/<cat>/<Name>/model.xml``)."""

from __future__ import annotations

import hashlib

# Category-name fragments -> (shape, half sizes). First match wins; the default
# is a can-sized cylinder that the Panda gripper can close on.
SHAPES: tuple[tuple[str, str, tuple[float, ...]], ...] = (
    ("pan", "cylinder", (0.09, 0.025)),
    ("pot", "cylinder", (0.08, 0.05)),
    ("kettle", "cylinder", (0.07, 0.07)),
    ("plate", "cylinder", (0.09, 0.01)),
    ("bowl", "cylinder", (0.07, 0.03)),
    ("tray", "box", (0.10, 0.07, 0.015)),
    ("board", "box", (0.10, 0.07, 0.01)),
    ("mug", "cylinder", (0.035, 0.045)),
    ("cup", "cylinder", (0.032, 0.045)),
    ("bottle", "cylinder", (0.03, 0.09)),
    ("knife", "box", (0.09, 0.012, 0.01)),
    ("spoon", "box", (0.08, 0.015, 0.008)),
    ("fork", "box", (0.08, 0.015, 0.008)),
)
DEFAULT_SHAPE = ("box", (0.03, 0.03, 0.04))


def shape_for(category: str) -> tuple[str, tuple[float, ...]]:
    for fragment, kind, half in SHAPES:
        if fragment in category:
            return kind, half
    return DEFAULT_SHAPE


def object_xml(category: str) -> str:
    """A graspable primitive with a ``reg_bbox`` region; the loader adds the free joint and scale."""
    kind, half = shape_for(category)
    size = " ".join(f"{s:.4f}" for s in half)
    if kind == "cylinder":
        bbox = (half[0], half[0], half[1])
    else:
        bbox = half
    bsize = " ".join(f"{s:.4f}" for s in bbox)
    tint = hashlib.sha256(category.encode()).digest()
    rgba = " ".join(f"{0.3 + (b % 60) / 100:.2f}" for b in tint[:3]) + " 1"
    return (
        f'<mujoco model="{category}">\n<asset/>\n<worldbody>\n<body>\n<body name="object">\n'
        f'<geom name="collision" type="{kind}" pos="0 0 0" size="{size}" group="0" rgba="{rgba}"/>\n'
        f'<geom name="visual" type="{kind}" pos="0 0 0" size="{size}" group="1" contype="0" conaffinity="0" rgba="{rgba}"/>\n'
        f'<geom name="reg_bbox" type="box" pos="0 0 0" size="{bsize}" group="1" contype="0" conaffinity="0" rgba="0 1 0 0"/>\n'
        f"</body>\n</body>\n</worldbody>\n</mujoco>\n"
    )
