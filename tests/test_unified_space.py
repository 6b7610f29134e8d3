"""The unified 200-D slot table and per-embodiment mappings."""

import numpy as np
import pytest

from envs.unified_space import (
    EMBODIMENTS,
    SLOT_GROUPS,
    UNIFIED_DIM,
    EmbodimentMapping,
    UnifiedSpaceError,
    embodiment,
    slot_group,
)


def test_table_matches_released_layout():
    g = {x.name: (x.start, x.stop) for x in SLOT_GROUPS}
    assert g["right_eef_pos"] == (0, 3) and g["right_eef_rot"] == (3, 6)
    assert g["left_eef_pos"] == (9, 12)
    assert g["right_gripper"] == (18, 19) and g["left_gripper"] == (19, 20)
    assert g["gripper_qpos"] == (44, 46)
    assert g["right_arm_joints"] == (50, 57) and g["left_arm_joints"] == (57, 64)
    assert g["head"] == (64, 66) and g["waist"] == (66, 69)
    assert g["base_motion"] == (70, 74) and g["control_mode"] == (74, 75)
    assert g["mano_theta_left"] == (155, 200)
    assert all(0 <= x.start < x.stop <= UNIFIED_DIM for x in SLOT_GROUPS)


def test_libero_mapping_round_trip():
    m = embodiment("libero_panda")
    native_state = np.arange(8, dtype=np.float32) + 1
    u = m.to_unified("state", native_state)
    assert u.shape == (200,)
    assert np.array_equal(u[0:6], native_state[:6]) and np.array_equal(u[44:46], native_state[6:])
    assert np.count_nonzero(u) == 8
    assert np.array_equal(m.from_unified("state", u), native_state)
    assert m.mask("state").sum() == 8 and m.mask("action").sum() == 7
    action = np.array([0.1, -0.2, 0.3, 0.0, 0.05, -0.05, -1.0], dtype=np.float32)
    ua = m.to_unified("action", action)
    assert ua[18] == -1.0 and np.array_equal(m.from_unified("action", ua), action)


def test_bad_inputs_name_the_value():
    with pytest.raises(UnifiedSpaceError, match="libero_pandaa"):
        embodiment("libero_pandaa")
    with pytest.raises(UnifiedSpaceError, match="right_hnd"):
        slot_group("right_hnd")
    with pytest.raises(UnifiedSpaceError, match=r"\(7,\)"):
        embodiment("libero_panda").to_unified("state", np.zeros(7))
    with pytest.raises(UnifiedSpaceError, match="action-only"):
        EmbodimentMapping(name="x", state={"b": "base_motion"}, action={})


def test_envs_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, envs.unified_space, envs.benchmarks, envs.observation; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert "libero_panda" in EMBODIMENTS
