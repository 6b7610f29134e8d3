"""Primitive MJCF stand-ins for RoboCasa's model-based fixtures.

Each builder returns the text of a ``model.xml`` that follows the rules RoboCasa's
fixture classes rely on (``<body><body name="object">``, geoms in group 0/1,
a ``reg_main`` box giving the size, the joints/sites/regions the class reads,
every joint with a range). Fronts face -y, +z is up. Collision geoms get
group-1 visual twins because appliance classes do not duplicate them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

GREY = "0.55 0.56 0.58 1"
DARK = "0.15 0.15 0.16 1"
STEEL = "0.72 0.73 0.75 1"
GLASS = "0.25 0.3 0.35 1"


@dataclass
class Part:
    """A primitive geom; ``collide`` adds a group-0 geom plus its group-1 visual twin."""

    name: str
    type: str
    size: tuple[float, ...]
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rgba: str = GREY
    collide: bool = True
    quat: str | None = None

    def xml(self) -> str:
        size = " ".join(f"{s:.4f}" for s in self.size)
        pos = " ".join(f"{p:.4f}" for p in self.pos)
        quat = f' quat="{self.quat}"' if self.quat else ""
        out = []
        if self.collide:
            out.append(
                f'<geom name="{self.name}" type="{self.type}" size="{size}" pos="{pos}"{quat} group="0" rgba="{self.rgba}"/>'
            )
        out.append(
            f'<geom name="{self.name}_visual" type="{self.type}" size="{size}" pos="{pos}"{quat} group="1" '
            f'contype="0" conaffinity="0" rgba="{self.rgba}"/>'
        )
        return "\n".join(out)


@dataclass
class Moving:
    """A body directly under ``object`` carrying one hinge/slide joint and its parts."""

    name: str
    pos: tuple[float, float, float]
    joint: str
    axis: str
    range: tuple[float, float]
    parts: list[Part] = field(default_factory=list)
    kind: str = "hinge"
    extra: str = ""  # sites etc. that must sit on this body

    def xml(self) -> str:
        pos = " ".join(f"{p:.4f}" for p in self.pos)
        inner = "\n".join(p.xml() for p in self.parts)
        return (
            f'<body name="{self.name}" pos="{pos}">\n'
            f'<joint name="{self.joint}" type="{self.kind}" axis="{self.axis}" range="{self.range[0]:.4f} {self.range[1]:.4f}" '
            f'limited="true" damping="1" frictionloss="0.1" armature="0.01"/>\n'
            f'<inertial pos="0 0 0" mass="0.1" diaginertia="0.002 0.002 0.002"/>\n{inner}\n{self.extra}\n</body>'
        )


def region(name: str, half: tuple[float, float, float], pos: tuple[float, float, float] = (0, 0, 0)) -> str:
    size = " ".join(f"{s:.4f}" for s in half)
    p = " ".join(f"{x:.4f}" for x in pos)
    return f'<geom name="{name}" type="box" size="{size}" pos="{p}" group="1" contype="0" conaffinity="0" rgba="0 1 0 0"/>'


def site(name: str, pos: tuple[float, float, float], size: str = "0.02", type_: str = "sphere", rgba: str = "1 0 0 0") -> str:
    p = " ".join(f"{x:.4f}" for x in pos)
    return f'<site name="{name}" type="{type_}" pos="{p}" size="{size}" rgba="{rgba}"/>'


def model_xml(name: str, body: str) -> str:
    """Wrap the contents of ``object`` in the fixture file layout RoboCasa expects."""
    return (
        f'<mujoco model="{name}">\n<compiler angle="radian"/>\n<worldbody>\n<body>\n'
        f'<body name="object">\n{body}\n</body>\n</body>\n</worldbody>\n</mujoco>\n'
    )


def box_shell(w: float, d: float, h: float, rgba: str = GREY) -> list[Part]:
    """A solid box of full size w x d x h centred at the origin."""
    return [Part("body_main", "box", (w / 2, d / 2, h / 2), rgba=rgba)]


def plain(w: float, d: float, h: float, rgba: str = GREY) -> Callable[[str], str]:
    def build(name: str) -> str:
        parts = "\n".join(p.xml() for p in box_shell(w, d, h, rgba))
        return model_xml(name, parts + "\n" + region("reg_main", (w / 2, d / 2, h / 2)))

    return build


def sink(name: str) -> str:
    """Basin flush with the counter top; faucet handle, temperature handle, swivelling spout."""
    w, d, h = 0.60, 0.45, 0.20
    t = 0.015
    basin = [
        Part("basin_bottom", "box", (w / 2, d / 2, t), (0, 0, -h / 2 + t), STEEL),
        Part("basin_front", "box", (w / 2, t, h / 2), (0, -d / 2 + t, 0), STEEL),
        Part("basin_back", "box", (w / 2, t, h / 2), (0, d / 2 - t, 0), STEEL),
        Part("basin_left", "box", (t, d / 2, h / 2), (-w / 2 + t, 0, 0), STEEL),
        Part("basin_right", "box", (t, d / 2, h / 2), (w / 2 - t, 0, 0), STEEL),
    ]
    top = h / 2
    back = d / 2 - 0.05  # faucet stands on the basin's back rim, inside reg_main (behind it is the wall)
    handle = Moving(
        "handle", (0.12, back, top + 0.05), "handle_joint", "1 0 0", (0.0, 1.57),
        [Part("handle_lever", "box", (0.01, 0.06, 0.01), (0, -0.06, 0.0), STEEL)],
    )
    temp = Moving(
        "handle_temp", (0.12, back, top + 0.02), "handle_temp_joint", "0 0 1", (-1.0, 1.0),
        [Part("temp_knob", "cylinder", (0.015, 0.01), (0, 0, 0), STEEL, collide=False)],
    )
    spout = Moving(
        "spout", (0.0, back, top + 0.01), "spout_joint", "0 0 1", (-1.57, 1.57),
        [
            Part("spout_column", "cylinder", (0.015, 0.12), (0, 0, 0.12), STEEL, collide=False),
            Part("spout_arm", "box", (0.012, 0.10, 0.012), (0, -0.10, 0.23), STEEL, collide=False),
        ],
        # the water column hangs from the spout's mouth (RoboCasa finds it on a body under object)
        extra=site("water", (0.0, -0.19, 0.10), size="0.01 0.10", type_="cylinder", rgba="0.5 0.7 1 0"),
    )
    body = "\n".join(
        [*(p.xml() for p in basin), handle.xml(), temp.xml(), spout.xml(),
         region("reg_main", (w / 2, d / 2, h / 2)),
         region("reg_basin", (w / 2 - 2 * t, d / 2 - 2 * t, h / 2 - t), (0, 0, t))]
    )
    return model_xml(name, body)


STOVE_KNOBS = ("front_left", "front_right", "rear_left", "rear_right")


def _burners_and_knobs(w: float, d: float, h: float, knob_y: float, knob_z: float) -> list[str]:
    out = []
    for i, loc in enumerate(STOVE_KNOBS):
        x = (-1 if "left" in loc else 1) * w / 4
        y = (-1 if "front" in loc else 1) * d / 4
        out.append(site(f"burner_on_{loc}", (x, y, h / 2 + 0.005), size="0.07 0.003", type_="cylinder", rgba="1 0.3 0 0"))
        out.append(site(f"burner_{loc}_place_site", (x, y, h / 2 + 0.01)))
        kx = -w / 2 + w * (i + 1) / (len(STOVE_KNOBS) + 1)  # knobs spaced apart: overlap breaks the solver
        knob = Moving(
            f"knob_{loc}", (kx, knob_y, knob_z), f"knob_{loc}_joint", "0 1 0", (0.0, 5.9),
            [Part(f"knob_{loc}_main", "cylinder", (0.02, 0.012), (0, -0.012, 0), DARK, quat="0.7071 0.7071 0 0")],
        )
        out.append(knob.xml())
    return out


def stove(name: str) -> str:
    w, d, h = 0.76, 0.66, 0.92
    parts = [*(p.xml() for p in box_shell(w, d, h))]
    parts += _burners_and_knobs(w, d, h, -d / 2 - 0.005, h / 2 - 0.06)
    parts.append(region("reg_main", (w / 2, d / 2, h / 2)))
    return model_xml(name, "\n".join(parts))


def stovetop(name: str) -> str:
    w, d, h = 0.76, 0.52, 0.04
    parts = [*(p.xml() for p in box_shell(w, d, h, DARK))]
    parts += _burners_and_knobs(w, d, h, -d / 2 + 0.03, h / 2 + 0.012)
    parts.append(region("reg_main", (w / 2, d / 2, h / 2)))
    return model_xml(name, "\n".join(parts))


def microwave(name: str) -> str:
    """Open-front box with a hinged door (``microjoint``) and start/stop buttons."""
    w, d, h, t = 0.60, 0.40, 0.34, 0.015
    shell = [
        Part("mw_bottom", "box", (w / 2, d / 2, t), (0, 0, -h / 2 + t)),
        Part("mw_top", "box", (w / 2, d / 2, t), (0, 0, h / 2 - t)),
        Part("mw_back", "box", (w / 2, t, h / 2), (0, d / 2 - t, 0)),
        Part("mw_left", "box", (t, d / 2, h / 2), (-w / 2 + t, 0, 0)),
        Part("mw_right", "box", (0.08, d / 2, h / 2), (w / 2 - 0.08, 0, 0)),
    ]
    panel_x = w / 2 - 0.08
    buttons = [
        f'<geom name="start_button" type="box" size="0.025 0.006 0.015" pos="{panel_x:.4f} {-d / 2 - 0.006:.4f} -0.03" group="0" rgba="0.1 0.6 0.1 1"/>',
        f'<geom name="stop_button" type="box" size="0.025 0.006 0.015" pos="{panel_x:.4f} {-d / 2 - 0.006:.4f} -0.08" group="0" rgba="0.6 0.1 0.1 1"/>',
        f'<geom name="start_button_visual" type="box" size="0.025 0.006 0.015" pos="{panel_x:.4f} {-d / 2 - 0.006:.4f} -0.03" group="1" contype="0" conaffinity="0" rgba="0.1 0.6 0.1 1"/>',
        f'<geom name="stop_button_visual" type="box" size="0.025 0.006 0.015" pos="{panel_x:.4f} {-d / 2 - 0.006:.4f} -0.08" group="1" contype="0" conaffinity="0" rgba="0.6 0.1 0.1 1"/>',
    ]
    door_w = w - 0.16
    door = Moving(
        "door", (-w / 2, -d / 2, 0), "microjoint", "0 0 -1", (0.0, 1.7),
        [
            Part("door_panel", "box", (door_w / 2, 0.01, h / 2 - 0.01), (door_w / 2, -0.01, 0), GLASS),
            Part("door_handle", "box", (0.01, 0.02, 0.10), (door_w - 0.03, -0.04, 0), DARK),
        ],
    )
    body = "\n".join(
        [*(p.xml() for p in shell), *buttons, door.xml(),
         region("reg_main", (w / 2, d / 2, h / 2)),
         region("reg_tray", ((w - 0.2) / 2 - 0.02, d / 2 - 0.04, 0.05), (-0.08, 0, -h / 2 + 2 * t + 0.05))]
    )
    return model_xml(name, body)


def coffee_machine(name: str) -> str:
    """Tower with a spout overhang, a start button and the mug place site under the spout."""
    w, d, h = 0.28, 0.36, 0.40
    parts = [
        Part("cm_base", "box", (w / 2, d / 2, 0.015), (0, 0, -h / 2 + 0.015)),
        Part("cm_tower", "box", (w / 2, 0.08, h / 2), (0, d / 2 - 0.08, 0)),
        Part("cm_head", "box", (w / 2, d / 2 - 0.08, 0.05), (0, -0.08, h / 2 - 0.05)),
    ]
    place_z = -h / 2 + 0.03 + 0.05
    body = "\n".join(
        [*(p.xml() for p in parts),
         f'<geom name="start_button" type="box" size="0.03 0.008 0.02" pos="0 {-d / 2 + 0.0:.4f} {h / 2 - 0.05:.4f}" group="0" rgba="0.1 0.6 0.1 1"/>',
         f'<geom name="start_button_visual" type="box" size="0.03 0.008 0.02" pos="0 {-d / 2:.4f} {h / 2 - 0.05:.4f}" group="1" contype="0" conaffinity="0" rgba="0.1 0.6 0.1 1"/>',
         site("receptacle_place_site", (0.0, -0.06, place_z)),
         site("coffee_liquid", (0.0, -0.06, place_z + 0.12), size="0.006 0.05", type_="cylinder", rgba="0.3 0.15 0.05 0"),
         region("reg_main", (w / 2, d / 2, h / 2))]
    )
    return model_xml(name, body)


def toaster_oven(name: str) -> str:
    w, d, h = 0.46, 0.36, 0.26
    shell = [
        Part("to_bottom", "box", (w / 2, d / 2, 0.01), (0, 0, -h / 2 + 0.01)),
        Part("to_top", "box", (w / 2, d / 2, 0.01), (0, 0, h / 2 - 0.01)),
        Part("to_back", "box", (w / 2, 0.01, h / 2), (0, d / 2 - 0.01, 0)),
        Part("to_left", "box", (0.01, d / 2, h / 2), (-w / 2 + 0.01, 0, 0)),
        Part("to_right", "box", (0.01, d / 2, h / 2), (w / 2 - 0.01, 0, 0)),
    ]
    door = Moving(
        "door", (0, -d / 2, -h / 2), "door_joint", "1 0 0", (0.0, 1.5),
        [Part("to_door", "box", (w / 2 - 0.01, 0.008, h / 2 - 0.01), (0, -0.008, h / 2), GLASS)],
    )
    return model_xml(name, "\n".join([*(p.xml() for p in shell), door.xml(), region("reg_main", (w / 2, d / 2, h / 2))]))


def window(name: str) -> str:
    w, d, h = 0.9, 0.05, 1.0
    return model_xml(name, Part("window_pane", "box", (w / 2, d / 2, h / 2), rgba="0.7 0.85 1 1").xml() + "\n" + region("reg_main", (w / 2, d / 2, h / 2)))


# registry folder under fixtures/ -> builder of one model
FIXTURE_BUILDERS: dict[str, Callable[[str], str]] = {
    "sinks": sink,
    "stoves": stove,
    "stovetops": stovetop,
    "microwaves": microwave,
    "coffee_machines": coffee_machine,
    "toaster_ovens": toaster_oven,
    "windows": window,
    "ovens": plain(0.76, 0.66, 0.92),
    "hoods": plain(0.76, 0.50, 0.30, STEEL),
    "fridges": plain(0.90, 0.75, 1.80, STEEL),
    "dishwashers": plain(0.60, 0.60, 0.86),
    "toasters": plain(0.28, 0.18, 0.20, STEEL),
    "blenders": plain(0.16, 0.16, 0.38, DARK),
    "stand_mixers": plain(0.22, 0.35, 0.36),
    "electric_kettles": plain(0.20, 0.16, 0.26, STEEL),
}


def panel_or_handle(name: str, half: tuple[float, float, float]) -> str:
    """Stand-in for a mesh cabinet door panel or handle: texture ``tex``, material ``mat``, one geom."""
    size = " ".join(f"{s:.4f}" for s in half)
    return (
        f'<mujoco model="{name}">\n<compiler angle="radian"/>\n<asset>\n'
        f'<texture name="tex" type="cube" builtin="flat" width="8" height="8" rgb1="0.6 0.6 0.6"/>\n'
        f'<material name="mat" texture="tex"/>\n</asset>\n<worldbody>\n<body>\n<body name="object">\n'
        f'<geom name="main" type="box" pos="0 0 0" size="{size}" material="mat" group="0" density="10"/>\n'
        f"{region('reg_main', half)}\n</body>\n</body>\n</worldbody>\n</mujoco>\n"
    )
