"""`h05 eval launcher=slurm|local` against a REAL single-node Slurm cluster (slurm/cluster.sh).

Blind LIBERO policies, one task, a few short episodes: what is under test is the
sharding, the job array, requeue/cancel/crash handling and the merged store.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from evaluators.eval_command import run_eval
from evaluators.launchers import LaunchError, append_submission, read_submissions, wait_for, write_shards
from evaluators.status import format_status, run_status, status_main
from evaluators.store import EpisodeStore, StoreMismatchError

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "slurm" / "cluster.sh"
# One LIBERO task, 3 episodes per shard: enough to hit a task mid-run.
PLAN = ["policy=random", "tasks=[0]", "trials_per_task=12", "max_steps=100", "progress=false"]
# Episodes long enough (~1-2 s each) that a cancel sent after the first record lands mid-shard.
CRASH_SHARD = 2
# A real resource failure in one array task: its address space is too small to load the simulator.
CRASH_SETUP = f"launcher.setup=['if [ \"$SLURM_ARRAY_TASK_ID\" = {CRASH_SHARD} ]; then ulimit -v 60000; fi']"


# slurm_cluster: the fixture in tests/conftest.py (shared with tests/test_training_launch.py).


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")


def _outcomes(run_dir: Path) -> dict[str, tuple]:
    return {
        r["episode_id"]: (r["status"], r["success"], r["steps"], r["reward"], r["truncated"], r.get("final_state_sha"))
        for r in EpisodeStore(run_dir).records()
    }


def _raw_ids(run_dir: Path) -> Counter:
    ids: Counter = Counter()
    for f in (run_dir / "records").glob("*.jsonl"):
        ids.update(json.loads(line)["episode_id"] for line in f.read_text().splitlines() if line.strip())
    return ids


def _lines(run_dir: Path, shard: int) -> int:
    path = run_dir / "records" / f"shard-{shard:04d}.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _job_ids() -> set[str]:
    return set(subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i"], capture_output=True, text=True).stdout.split())


@pytest.fixture(scope="module")
def reference(runs) -> Path:
    """The plan run in this process (the default launcher)."""
    return run_eval([*PLAN, f"runs_dir={runs}", "name=reference"])


def test_local_launcher_matches_the_local_run(reference, runs):
    run_dir = run_eval([*PLAN, f"runs_dir={runs}", "name=local", "launcher=local", "launcher.shards=2", "launcher.poll_s=0.5"])
    assert _outcomes(run_dir) == _outcomes(reference)
    assert [s.task.state for s in run_status(run_dir).shards] == ["COMPLETED"] * 2
    assert sorted(p.name for p in (run_dir / "records").glob("*.jsonl")) == ["shard-0000.jsonl", "shard-0001.jsonl"]


def _preempt(task: str) -> subprocess.Popen:
    """Send the preemption / time-limit signal (USR2) to the task's processes, once, without waiting.

    scancel retries 5 s later when the job is mid-transition, which it is once
    submitit requeues it: a late copy would hit the restarted task, so the
    caller cuts the retry off after 3 s (``_reap``). Not waiting here keeps the
    poll loop free to cancel task 1 before it runs out of episodes.
    """
    return subprocess.Popen(["scancel", "--signal=USR2", task])


def _reap(proc: subprocess.Popen, started: float, now: float) -> bool:
    """True once the signalling scancel has ended (killed if it is still retrying after 3 s)."""
    if proc.poll() is None and now - started > 3:
        proc.kill()
    return proc.poll() is not None


@pytest.fixture(scope="module")
def chaos(slurm_cluster, runs):
    """One array of 4: task 0 gets the preemption signal, task 1 is cancelled mid-run, task 2 crashes.

    Then the same command is submitted again (without the injected crash).
    """
    run_dir = runs / "chaos"
    base = [*PLAN, f"runs_dir={runs}", "name=chaos", "launcher=slurm", "launcher.shards=4", "launcher.poll_s=1"]
    assert run_eval([*base, "launcher.wait=false", CRASH_SETUP]) == run_dir
    job = read_submissions(run_dir)[0]["job_id"]
    hit: dict[int, int] = {}
    signal: tuple[subprocess.Popen, float] | None = None
    deadline = time.monotonic() + 120
    while len(hit) < 2 or (signal and not _reap(*signal, time.monotonic())):
        assert time.monotonic() < deadline, f"tasks 0/1 never recorded an episode:\n{format_status(run_status(run_dir))}"
        counts = {i: _lines(run_dir, i) for i in (0, 1)}
        if 1 not in hit and counts[1] >= 1:
            subprocess.run(["scancel", f"{job}_1"], check=True)
            hit[1] = counts[1]
        if 0 not in hit and counts[0] >= 1:
            signal = (_preempt(f"{job}_0"), time.monotonic())
            hit[0] = counts[0]
        time.sleep(0.1)
    wait_for(run_dir, poll_s=1)
    before = run_status(run_dir)
    before_text = format_status(before)
    after_dir = run_eval(base)  # the same command again: resumes what is missing
    return {"job": job, "hit": hit, "before": before, "before_text": before_text, "after": run_status(after_dir), "run_dir": run_dir}


def test_array_of_four_tasks_ends_with_exactly_the_records_of_the_local_run(chaos, reference):
    first = chaos["before"].submissions[0]
    assert first["shards"] == [0, 1, 2, 3] and first["count"] == 4  # one array of 4 tasks
    ref = _outcomes(reference)
    assert len(ref) == 12
    assert _outcomes(chaos["run_dir"]) == ref  # same ids, same outcomes, same final sim state
    assert sorted(p.name for p in (chaos["run_dir"] / "records").glob("*.jsonl")) == [f"shard-000{i}.jsonl" for i in range(4)]
    assert (chaos["run_dir"] / "table.md").exists()


def test_preempted_task_is_requeued_and_finishes(chaos):
    shard0 = chaos["before"].shards[0]
    assert chaos["hit"][0] < shard0.planned  # the signal arrived mid-run
    assert shard0.task.state == "COMPLETED"
    assert shard0.task.restarts >= 1  # submitit checkpointed and requeued it
    assert shard0.recorded == shard0.planned and shard0.errors == 0
    log = Path(chaos["before"].submissions[0]["folder"]) / f"{chaos['job']}_0_0_log.err"
    assert "preempted" in log.read_text()


def test_cancelled_task_is_detected_and_resubmission_completes_without_duplicates(chaos):
    shard1 = chaos["before"].shards[1]
    assert shard1.task.state.startswith("CANCELLED")
    assert shard1.recorded < shard1.planned
    after = chaos["after"]
    subs = after.submissions
    assert len(subs) == 2 and subs[1]["shards"] == [1, CRASH_SHARD]  # only the incomplete shards went again
    assert after.recorded == after.planned == 12
    counts = _raw_ids(chaos["run_dir"])
    assert len(counts) == 12 and max(counts.values()) == 1  # no episode recorded twice, in any file
    assert all(s.task.state == "COMPLETED" for s in after.shards)
    assert after.errors == 0  # killing a task mid-episode records nothing for that episode


def test_crashed_shard_leaves_the_others_untouched_and_shows_its_error(chaos, capsys):
    before = chaos["before"]
    crashed = before.shards[CRASH_SHARD]
    assert crashed.task.state == "FAILED"
    assert crashed.recorded == 0
    assert "failed to map segment" in crashed.task.error  # numpy cannot load: the address-space limit
    assert crashed.task.error in chaos["before_text"]
    untouched = before.shards[3]
    assert untouched.task.state == "COMPLETED" and untouched.recorded == untouched.planned and untouched.errors == 0
    # The command-line view of the finished run.
    assert status_main([str(chaos["run_dir"])]) == 0
    out = capsys.readouterr().out
    assert "12/12 episodes recorded" in out


# -- bad input: a clear error, nothing submitted ------------------------------


def test_unknown_partition_is_refused_before_submitting(slurm_cluster, runs):
    jobs = _job_ids()
    with pytest.raises(LaunchError, match="unknown Slurm partition 'nope'.*debug"):
        run_eval([*PLAN, f"runs_dir={runs}", "name=badpart", "launcher=slurm", "launcher.partition=nope"])
    assert _job_ids() == jobs
    assert read_submissions(runs / "badpart") == []


def test_missing_slurm_is_refused_before_submitting(runs, monkeypatch):
    monkeypatch.setenv("PATH", str(ROOT / ".venv" / "bin"))
    with pytest.raises(LaunchError, match="needs Slurm's 'sbatch' on PATH"):
        run_eval([*PLAN, f"runs_dir={runs}", "name=noslurm", "launcher=slurm"])
    assert read_submissions(runs / "noslurm") == []


def test_store_of_a_different_plan_is_refused_before_submitting(slurm_cluster, runs):
    EpisodeStore(runs / "other").bind_plan("0123456789abcdef0123", {"episodes": 3})
    jobs = _job_ids()
    with pytest.raises(StoreMismatchError, match="different plan"):
        run_eval([*PLAN, f"runs_dir={runs}", "name=other", "launcher=slurm"])
    assert _job_ids() == jobs
    assert not (runs / "other" / "launch").exists()


def test_resuming_with_another_shard_count_is_refused(runs):
    run_dir = runs / "reshard"
    write_shards(run_dir, [], 4)  # what an earlier launch with 4 shards left behind
    append_submission(run_dir, {"launcher": "local", "folder": str(run_dir), "shards": [0, 1, 2, 3], "count": 4, "pids": {}})
    with pytest.raises(LaunchError, match="was launched with 4 shards; resume it with launcher.shards=4"):
        run_eval([*PLAN, f"runs_dir={runs}", "name=reshard", "launcher=local", "launcher.shards=3"])
    assert len(read_submissions(run_dir)) == 1


def test_bad_launcher_settings_are_clear_errors(runs):
    with pytest.raises(LaunchError, match="launcher.shards must be a positive integer, got 0"):
        run_eval([*PLAN, f"runs_dir={runs}", "name=badshards", "launcher=local", "launcher.shards=0"])
    with pytest.raises(LaunchError, match="use launcher.shards=N"):
        run_eval([*PLAN, f"runs_dir={runs}", "name=badshards2", "launcher=local", "shard.count=2"])


@pytest.mark.slow
def test_hydra_multirun_sweep_is_one_array_through_submitit(slurm_cluster, runs):
    sweep_dir = runs / "sweep-multirun"
    cmd = [
        str(ROOT / ".venv" / "bin" / "python"), "-m", "evaluators.launchers_sweep", "-m",
        "hydra/launcher=submitit_slurm", "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1",
        "policy=noop,random", "tasks=[0]", "trials_per_task=1", "max_steps=5", "progress=false",
        f"runs_dir={runs}", "name=grid", f"hydra.sweep.dir={sweep_dir}",
    ]
    subprocess.run(cmd, check=True, cwd=runs, timeout=600, capture_output=True)
    points = sorted(p.name for p in (runs / "grid").iterdir())
    assert points == ["max_steps_5_policy_noop_tasks_0_trials_per_task_1", "max_steps_5_policy_random_tasks_0_trials_per_task_1"]
    for p in points:
        assert len(EpisodeStore(runs / "grid" / p).records()) == 1
    task_dirs = sorted(p.name for p in (sweep_dir / ".submitit").iterdir() if p.is_dir() and "_" in p.name)
    assert len(task_dirs) == 2 and len({d.split("_")[0] for d in task_dirs}) == 1  # one array job, two tasks
