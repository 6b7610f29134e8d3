"""One `h05 eval` run over a LIBERO task and a RoboCasa task, each env in its own interpreter."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_h05_eval_mixes_libero_and_robocasa_in_their_own_interpreters(tmp_path):
    cmd = [
        str(ROOT / ".venv" / "bin" / "h05"), "eval", "name=mixed", f"runs_dir={tmp_path}",
        "benchmark=[libero,robocasa]", "suites=[libero_spatial,robocasa_lite_atomic24]", "tasks=[0]",
        "trials_per_task=1", "max_steps=2", "policy=noop", "progress=false", "env_workers.enabled=true",
    ]
    done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "MUJOCO_GL": "egl"}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for f in sorted((tmp_path / "mixed" / "records").glob("*.jsonl")) for line in f.read_text().splitlines()]
    by_bench = {r["spec"]["benchmark"]: r for r in records}
    assert set(by_bench) == {"libero", "robocasa"}
    for r in records:
        assert r["error"] is None and r["steps"] >= 1, r
        assert r["success"] is False, r  # the no-op policy completes nothing
    # LIBERO runs on robosuite 1.4 in the main venv; RoboCasa on its own pinned stack
    assert by_bench["libero"]["versions"]["robosuite"] == "1.4.0"
    rc = by_bench["robocasa"]["versions"]
    assert (rc["mujoco"], rc["numpy"], rc["praxis-robocasa"]) == ("3.3.1", "2.2.5", "1.0.0")
    assert rc["robocasa_assets"].startswith("lite") and by_bench["robocasa"]["spec"]["suite"] == "robocasa_lite_atomic24"
    assert "robocasa_lite_atomic24" in done.stdout and "libero_spatial" in done.stdout


def test_robocasa_is_not_importable_in_the_main_interpreter():
    """So a RoboCasa episode that ran (above) can only have run in the worker's own interpreter."""
    import importlib.util

    assert importlib.util.find_spec("robocasa") is None
