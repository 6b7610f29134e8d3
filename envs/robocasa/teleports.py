"""Teleported state changes that complete each paper task, for testing success predicates.

``TELEPORTS[name](kitchen)`` puts the simulator (a RoboCasa ``Kitchen`` env)
into a state in which the task is done: joints set through the fixture's own
setters, objects moved by their free joints, button-driven appliance states
set on the fixture. It is followed by ``SETTLE_STEPS`` no-op steps so objects
come to rest and fixtures update their state. Used by tests and
``envs.robocasa.selfcheck``; never by evaluation.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

SETTLE_STEPS = 15


def _place_object(k: Any, name: str, pos: np.ndarray) -> None:
    """Move object ``name`` (free joint) to ``pos``, upright and at rest."""
    obj = k.objects[name]
    joint = obj.joints[0]
    qpos = np.concatenate([np.asarray(pos, dtype=float), [1.0, 0.0, 0.0, 0.0]])
    k.sim.data.set_joint_qpos(joint, qpos)
    k.sim.data.set_joint_qvel(joint, np.zeros(6))
    k.sim.forward()


def _interior_floor(fixture: Any) -> tuple[np.ndarray, np.ndarray]:
    """Centre (xy) and floor height of a fixture's first interior region, world frame."""
    p0, px, py, pz = next(iter(fixture.get_int_sites(relative=False).values()))
    centre = p0 + (px - p0) / 2 + (py - p0) / 2
    return centre, p0


def _into_fixture(fixture_attr: str) -> Callable[[Any], None]:
    def teleport(k: Any) -> None:
        centre, p0 = _interior_floor(getattr(k, fixture_attr))
        obj = k.objects["obj"]
        z = p0[2] - obj.bottom_offset[2] + 0.01
        _place_object(k, "obj", np.array([centre[0], centre[1], z]))

    return teleport


def _onto_container(k: Any) -> None:
    container = k.objects["container"]
    cpos = np.array(k.sim.data.body_xpos[k.obj_body_id[container.name]])
    obj = k.objects["obj"]
    z = cpos[2] + container.top_offset[2] - obj.bottom_offset[2] + 0.005
    _place_object(k, "obj", np.array([cpos[0], cpos[1], z]))


def _onto_counter(ref_attr: str) -> Callable[[Any], None]:
    """Put ``obj`` on the counter near fixture ``ref_attr``: try spots of RoboCasa's own counter
    reset regions until one holds the object on the counter with the gripper away."""

    def teleport(k: Any) -> None:
        from robocasa.utils import object_utils as OU

        obj = k.objects["obj"]
        regions = k.counter.get_reset_regions(k, ref=getattr(k, ref_attr))
        for region in regions.values():
            offset = np.asarray(region["offset"], dtype=float)
            half = np.asarray(region["size"], dtype=float) / 2
            for fx in (0.0, -0.6, 0.6, -0.3, 0.3, -0.9, 0.9):
                for fy in (0.0, 0.5, -0.5):
                    local = offset + np.array([fx * half[0], fy * half[1], 0.0])
                    world = OU.get_pos_after_rel_offset(k.counter, local)
                    top = k.counter.pos[2] + k.counter.size[2] / 2
                    _place_object(k, "obj", np.array([world[0], world[1], top - obj.bottom_offset[2] + 0.005]))
                    for _ in range(100):
                        k.sim.step()
                    k.sim.forward()
                    if OU.check_obj_fixture_contact(k, "obj", k.counter) and OU.gripper_obj_far(k):
                        return

    return teleport


def _joint_fraction(fixture_attr: str, value: float) -> Callable[[Any], None]:
    """Set a fixture's door/drawer joints to ``value`` of their range (1 open, 0 closed)."""

    def teleport(k: Any) -> None:
        fixture = getattr(k, fixture_attr)
        fixture.set_joint_state(min=value, max=value, env=k, joint_names=fixture.door_joint_names)

    return teleport


def _drawer(value: float) -> Callable[[Any], None]:
    def teleport(k: Any) -> None:
        k.drawer.set_door_state(min=value, max=value, env=k)

    return teleport


def _faucet(on: bool) -> Callable[[Any], None]:
    def teleport(k: Any) -> None:
        k.sink.set_handle_state(env=k, rng=k.rng, mode="on" if on else "off")

    return teleport


def _spout(k: Any) -> None:
    target = -1.2 if k.behavior == "left" else 1.2
    k.sim.data.set_joint_qpos(f"{k.sink.naming_prefix}spout_joint", target)


def _stove(on: bool) -> Callable[[Any], None]:
    def teleport(k: Any) -> None:
        k.stove.set_knob_state(env=k, rng=k.rng, knob=k.knob, mode="on" if on else "off")

    return teleport


def _appliance_on(attr: str, on: bool) -> Callable[[Any], None]:
    """Button-driven appliances keep their on/off state on the fixture object."""

    def teleport(k: Any) -> None:
        getattr(k, attr)._turned_on = on

    return teleport


def _under_spout(k: Any) -> None:
    site = k.sim.model.site_name2id(f"{k.coffee_machine.naming_prefix}receptacle_place_site")
    pos = np.array(k.sim.data.site_xpos[site])
    obj = k.objects["obj"]
    _place_object(k, "obj", np.array([pos[0], pos[1], pos[2] - obj.bottom_offset[2] + 0.005]))


TELEPORTS: dict[str, Callable[[Any], None]] = {
    "PnPCounterToCab": _into_fixture("cab"),
    "PnPCabToCounter": _onto_counter("cab"),
    "PnPCounterToSink": _into_fixture("sink"),
    "PnPSinkToCounter": _onto_container,
    "PnPCounterToMicrowave": _onto_container,
    "PnPMicrowaveToCounter": _onto_container,
    "PnPCounterToStove": _onto_container,
    "PnPStoveToCounter": _onto_container,
    "OpenSingleDoor": _joint_fraction("fxtr", 1.0),
    "CloseSingleDoor": _joint_fraction("fxtr", 0.0),
    "OpenDoubleDoor": _joint_fraction("fxtr", 1.0),
    "CloseDoubleDoor": _joint_fraction("fxtr", 0.0),
    "OpenDrawer": _drawer(1.0),
    "CloseDrawer": _drawer(0.0),
    "TurnOnSinkFaucet": _faucet(True),
    "TurnOffSinkFaucet": _faucet(False),
    "TurnSinkSpout": _spout,
    "TurnOnStove": _stove(True),
    "TurnOffStove": _stove(False),
    "CoffeeSetupMug": _under_spout,
    "CoffeeServeMug": _onto_counter("coffee_machine"),
    "CoffeePressButton": _appliance_on("coffee_machine", True),
    "TurnOnMicrowave": _appliance_on("microwave", True),
    "TurnOffMicrowave": _appliance_on("microwave", False),
}
