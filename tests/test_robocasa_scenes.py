"""Every paper task resets in each of the protocol's five held-out scenes (lite pack). Long: marked slow."""

from __future__ import annotations

import pytest

from envs.robocasa.protocol import load_protocol
from tests.test_robocasa_tasks import _run_selfcheck


@pytest.mark.slow
@pytest.mark.parametrize("trial", [1, 2, 3, 4])  # trial 0's scene is covered by the default sweep
def test_all_tasks_reset_in_the_trials_scene(trial):
    names = [t.name for t in load_protocol().tasks]
    results = _run_selfcheck([names[0::2], names[1::2]], extra=["--trial", str(trial), "--steps", "2"])
    protocol = load_protocol()
    failed = {n: r["error"] for n, r in results.items() if "error" in r}
    assert not failed, failed
    assert len(results) == 24
    for name, r in results.items():
        scene = protocol.scene_for_trial(name, trial)  # per-task scenes where the protocol lists them
        assert (r["layout"], r["style"]) == (scene.layout, scene.style), name
