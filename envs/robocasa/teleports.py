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
    z = cpos[2] + container.bottom_offset[2] + 0.02 - obj.bottom_offset[2]
    _place_object(k, "obj", np.array([cpos[0], cpos[1], z]))


def _drop_below(fixture_attr: str, sideways: float = 0.0, depth: float = 0.0) -> Callable[[Any], None]:
    """Drop ``obj`` from just under a fixture (upper cabinet, machine spout) so it lands on the counter below."""

    def teleport(k: Any) -> None:
        fixture = getattr(k, fixture_attr)
        centre, p0 = _interior_floor(fixture)
        rot = np.array(k.sim.data.body_xmat[k.sim.model.body_name2id(fixture.root_body)]).reshape(3, 3)
        offset = rot @ np.array([sideways, depth, 0.0])
        _place_object(k, "obj", np.array([centre[0] + offset[0], centre[1] + offset[1], p0[2] - 0.12]))

    return teleport


def _door(open_: bool) -> Callable[[Any], None]:
    def teleport(k: Any) -> None:
        value = 1.0 if open_ else 0.0
        k.fxtr.set_door_state(min=value, max=value, env=k)

    return teleport


def _drawer(open_: bool) -> Callable[[Any], None]:
    def teleport(k: Any) -> None:
        value = 1.0 if open_ else 0.0
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
    "PnPCabToCounter": _drop_below("cab", depth=0.05),
    "PnPCounterToSink": _into_fixture("sink"),
    "PnPSinkToCounter": _onto_container,
    "PnPCounterToMicrowave": _onto_container,
    "PnPMicrowaveToCounter": _onto_container,
    "PnPCounterToStove": _onto_container,
    "PnPStoveToCounter": _onto_container,
    "OpenSingleDoor": _door(True),
    "CloseSingleDoor": _door(False),
    "OpenDoubleDoor": _door(True),
    "CloseDoubleDoor": _door(False),
    "OpenDrawer": _drawer(True),
    "CloseDrawer": _drawer(False),
    "TurnOnSinkFaucet": _faucet(True),
    "TurnOffSinkFaucet": _faucet(False),
    "TurnSinkSpout": _spout,
    "TurnOnStove": _stove(True),
    "TurnOffStove": _stove(False),
    "CoffeeSetupMug": _under_spout,
    "CoffeeServeMug": _drop_below("coffee_machine", sideways=0.3),
    "CoffeePressButton": _appliance_on("coffee_machine", True),
    "TurnOnMicrowave": _appliance_on("microwave", True),
    "TurnOffMicrowave": _appliance_on("microwave", False),
}
