"""RoboCasa protocol as data, the unified mapping of PandaOmron, and the 12-D action order (main interpreter)."""

from __future__ import annotations

import numpy as np
import pytest

from envs.benchmarks import UnknownNameError, find_task, get_benchmark
from envs.robocasa.actions import robosuite_to_unified_order, unified_order_to_robosuite
from envs.robocasa.protocol import load_protocol
from envs.unified_space import embodiment

PAPER_TASKS = {
    "PnPCounterToCab", "PnPCabToCounter", "PnPCounterToSink", "PnPSinkToCounter", "PnPCounterToMicrowave",
    "PnPMicrowaveToCounter", "PnPCounterToStove", "PnPStoveToCounter", "OpenSingleDoor", "CloseSingleDoor",
    "OpenDoubleDoor", "CloseDoubleDoor", "OpenDrawer", "CloseDrawer", "TurnOnSinkFaucet", "TurnOffSinkFaucet",
    "TurnSinkSpout", "TurnOnStove", "TurnOffStove", "CoffeeSetupMug", "CoffeeServeMug", "CoffeePressButton",
    "TurnOnMicrowave", "TurnOffMicrowave",
}


def test_the_24_paper_tasks_under_v01_names_with_v10_classes():
    p = load_protocol()
    assert {t.name for t in p.tasks} == PAPER_TASKS
    by_name = {t.name: t for t in p.tasks}
    assert by_name["PnPCounterToCab"].cls == "PickPlaceCounterToCabinet"
    assert by_name["CoffeePressButton"].cls == "StartCoffeeMachine"
    assert by_name["OpenSingleDoor"].cls == "OpenCabinet"
    assert dict(by_name["OpenSingleDoor"].kwargs) == {"fixture_id": "CABINET_SINGLE_DOOR"}
    assert dict(by_name["CloseDoubleDoor"].kwargs) == {"fixture_id": "CABINET_DOUBLE_DOOR"}
    groups = [t.group for t in p.tasks]
    assert (groups.count("pick_and_place"), groups.count("doors_drawers"), groups.count("others")) == (8, 6, 10)


def test_protocol_numbers_and_scene_pinning():
    p = load_protocol()
    assert p.robot == "PandaOmron"
    assert p.cameras == ("robot0_agentview_left", "robot0_agentview_right", "robot0_eye_in_hand")
    assert (p.max_steps, p.trials_per_task, len(p.scenes)) == (720, 50, 5)
    scenes = [p.scene_for_trial("OpenDrawer", i) for i in range(p.trials_per_task)]
    assert all(scenes[i] == p.scenes[i % 5] for i in range(50))
    assert {scenes.count(s) for s in p.scenes} == {10}  # 50 trials over 5 held-out scenes
    single = [p.scene_for_trial("OpenSingleDoor", i) for i in range(5)]
    assert len(set(single)) == 5 and single != list(p.scenes)  # per-task held-out scenes
    with pytest.raises(KeyError, match="NoSuchTask"):
        p.scene_for_trial("NoSuchTask", 0)


def test_registry_lists_tasks_without_robocasa_and_labels_lite():
    bench = get_benchmark("robocasa")
    tasks = bench.tasks()
    assert len(tasks) == 24 and all("lite" in t.suite for t in tasks)
    assert {t.extra["asset_pack"] for t in tasks} == {"lite"}
    assert {t.extra["asset_pack"] for t in bench.tasks("robocasa_atomic24")} == {"official"}
    t = find_task(bench, "robocasa_lite_atomic24", "TurnOnStove")
    assert (t.embodiment, t.max_steps, t.num_init_states) == ("robocasa_panda_omron", 720, 50)
    with pytest.raises(UnknownNameError, match="TurnOnStov'"):
        find_task(bench, "robocasa_lite_atomic24", "TurnOnStov")
    with pytest.raises(UnknownNameError, match="robocasa_lite"):
        bench.tasks("robocasa_lite")


def test_unified_mapping_slots_of_panda_omron():
    m = embodiment("robocasa_panda_omron")
    assert m.native_dim("state") == 14 and m.native_dim("action") == 12
    native = np.arange(1, 13, dtype=np.float32)  # eef pos 3, rot 3, gripper, base motion 4, mode
    u = m.to_unified("action", native)
    assert np.array_equal(u[0:6], native[0:6]) and u[18] == 7
    assert np.array_equal(u[70:74], native[7:11]) and u[74] == 12
    assert np.count_nonzero(u) == 12
    np.testing.assert_array_equal(m.from_unified("action", u), native)
    state_slots = np.flatnonzero(m.mask("state"))
    assert state_slots.tolist() == [*range(0, 6), 44, 45, *range(70, 76)]


def test_12d_action_permutes_to_robosuite_order_and_back():
    unified = np.array([1, 2, 3, 4, 5, 6, 70, 81, 82, 83, 84, 99], dtype=np.float32)
    native = unified_order_to_robosuite(unified)
    # robosuite HybridMobileBase: arm 0-6, torso 6, base 7-10, gripper 10, mode 11
    assert native.tolist() == [1, 2, 3, 4, 5, 6, 84, 81, 82, 83, 70, 99]
    np.testing.assert_array_equal(robosuite_to_unified_order(native), unified)
