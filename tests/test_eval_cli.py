"""`h05 eval` end to end on real LIBERO: tables, resume after a kill, determinism, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evaluators.runner import OUTCOME_FIELDS
from evaluators.store import EpisodeStore

ROOT = Path(__file__).resolve().parents[1]


def h05(*args: str, cwd: Path, check: bool = True, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "evaluators.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"h05 {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def outcomes(run_dir: Path) -> dict[str, dict]:
    return {r["episode_id"]: {k: r.get(k) for k in OUTCOME_FIELDS} for r in EpisodeStore(run_dir).records()}


def test_noop_gets_zero_successes_on_libero_spatial(tmp_path):
    proc = h05("eval", "name=noop", "policy=noop", "trials_per_task=1", "progress=false", cwd=tmp_path)
    recs = EpisodeStore(tmp_path / "runs" / "noop").records()
    assert len(recs) == 10 and {r["spec"]["suite"] for r in recs} == {"libero_spatial"}
    assert all(r["status"] == "failure" and r["steps"] == 220 for r in recs), [r["status"] for r in recs]
    assert "| libero_spatial | **all** | 0.0 | [0.0, 27.8] | 0/10 | 0 |" in proc.stdout
    table = (tmp_path / "runs" / "noop" / "table.md").read_text()
    assert table in proc.stdout
    r = recs[0]
    assert r["versions"]["robosuite"] == "1.4.0" and r["versions"]["mujoco"]
    assert r["spec"]["init_index"] == r["spec"]["trial"] == 0 and r["spec"]["seed"] == 41


def test_same_seed_and_config_give_identical_records(tmp_path):
    args = ["policy=random", "tasks=[3]", "trials_per_task=2", "max_steps=60", "progress=false"]
    h05("eval", "name=a", *args, cwd=tmp_path)
    h05("eval", "name=b", *args, cwd=tmp_path)
    a, b = outcomes(tmp_path / "runs" / "a"), outcomes(tmp_path / "runs" / "b")
    assert len(a) == 2 and a == b
    assert len({o["final_state_sha"] for o in a.values()}) == 2  # the two trials really differ
    h05("eval", "name=c", *args[:-1], "seed=7", "progress=false", cwd=tmp_path)
    c = outcomes(tmp_path / "runs" / "c")
    assert {o["final_state_sha"] for o in c.values()} != {o["final_state_sha"] for o in a.values()}


def test_kill_mid_run_then_resume_runs_each_episode_once(tmp_path):
    args = ["eval", "name=k", "policy=noop", "tasks=[1]", "trials_per_task=4", "max_steps=40"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "evaluators.cli", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = tmp_path / "runs" / "k" / "records" / "shard-0000.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (records.exists() and records.read_bytes().count(b"\n") >= 1):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = [json.loads(x) for x in records.read_text().splitlines()]
    assert 1 <= len(first) < 4
    done = h05(*args, cwd=tmp_path)
    assert f"resuming: {len(first)}/4" in done.stderr
    lines = [json.loads(x) for x in records.read_text().splitlines()]
    assert len(lines) == 4 and len({r["episode_id"] for r in lines}) == 4
    assert lines[: len(first)] == first  # finished episodes are kept untouched
    again = h05(*args, cwd=tmp_path)
    assert len(records.read_text().splitlines()) == 4 and "0/4" in again.stdout


@pytest.mark.parametrize(
    "override,message",
    [
        ("benchmark=liberoo", "unknown benchmark 'liberoo' (did you mean 'libero'?)"),
        ("suites=[libero_spatail]", "unknown suite 'libero_spatail'"),
        ("tasks=[pick_up_the_bowl]", "unknown task 'pick_up_the_bowl'"),
        ("tasks=[12]", "task index 12 out of range"),
        ("trails_per_task=3", "unknown config key 'trails_per_task' (did you mean trials_per_task?)"),
        ("trials_per_task=51", "trials_per_task=51 is out of range"),
        ("policy=oracle", "oracle"),
        ("workers=abc", "workers must be a whole number >= 1, got 'abc'"),
        ("render=maybe", "render must be auto, true or false, got 'maybe'"),
        ("executor.name=warp", "unknown executor 'warp'"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, override, message):
    proc = h05("eval", override, cwd=tmp_path, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_a_different_plan_in_the_same_run_folder_is_refused(tmp_path):
    h05("eval", "name=p", "policy=noop", "tasks=[0]", "trials_per_task=1", "max_steps=5", cwd=tmp_path)
    proc = h05("eval", "name=p", "policy=noop", "tasks=[0]", "trials_per_task=2", "max_steps=5", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "holds a different plan" in proc.stderr
    assert len(EpisodeStore(tmp_path / "runs" / "p").records()) == 1


def test_list_commands(tmp_path):
    out = h05("list", "tasks", "--benchmark", "libero", cwd=tmp_path).stdout.splitlines()
    assert len(out) == 130
    assert h05("list", "embodiments", cwd=tmp_path).stdout.startswith("")
    assert "libero_panda" in h05("list", "embodiments", cwd=tmp_path).stdout
    assert "libero_spatial" in h05("list", "benchmarks", cwd=tmp_path).stdout
