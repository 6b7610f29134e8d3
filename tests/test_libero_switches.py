"""The LIBERO fast-path switches: read from the environment, a bad value named, the path recorded in versions."""

from __future__ import annotations

import pytest

from envs.libero import fast_control, fast_physics, fast_reset
from envs.libero.benchmark import LiberoBenchmark

SWITCHES = [  # module, its switch, versions key, path names on / off
    (fast_physics, fast_physics.fast_physics_enabled, "libero_physics", "mj_step1/mj_step2", "mj_forward/mj_step"),
    (fast_reset, fast_reset.fast_reset_enabled, "libero_reset", "compiled-model cache", "compile per reset"),
    (fast_control, fast_control.fast_control_enabled, "libero_control", "compact OSC substeps", "robosuite substeps"),
]


@pytest.mark.parametrize("module,enabled,key,on,off", SWITCHES, ids=[s[2] for s in SWITCHES])
def test_switch_reads_the_env_var_names_a_bad_value_and_is_recorded(module, enabled, key, on, off, monkeypatch):
    monkeypatch.delenv(module.ENV_VAR, raising=False)
    assert enabled() is True and LiberoBenchmark().versions()[key] == on
    monkeypatch.setenv(module.ENV_VAR, "0")
    assert enabled() is False and LiberoBenchmark().versions()[key] == off
    monkeypatch.setenv(module.ENV_VAR, "sometimes")
    with pytest.raises(ValueError, match=rf"{module.ENV_VAR}='sometimes'"):
        enabled()
