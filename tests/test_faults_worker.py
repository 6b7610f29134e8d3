"""Env worker boundary: protocol round trip and the env faults a run must survive.

One small LIBERO plan (blind noop policy, 12 steps, no rendering) runs through
env workers with fault injectors armed on chosen init states: a SIGKILL, a
hang past the step deadline, a NaN velocity (MuJoCo instability), and an
episode past its wall-clock budget. The surrounding episodes must finish, the
faulted ones must be env errors with their reason (retried once, the fault
hits the retry too: two attempts recorded), and a rerun must find the plan
complete with no episode run again.
"""

from __future__ import annotations

import collections
import os

import numpy as np
import pytest

from envs.benchmarks import UnknownNameError, find_task, get_benchmark
from envs.observation import ActionError
from envs.worker_client import RemoteEnv, WorkerReportedError, WorkerTimeouts
from evaluators.baselines import NoOpPolicy
from evaluators.env_pool import EnvWorkerConfigError, EnvWorkerSettings
from evaluators.plan import build_plan
from evaluators.runner import run_episodes
from evaluators.store import EpisodeStore

pytestmark = pytest.mark.faults

SUITE = "libero_spatial"


def _plan(trials: int, max_steps: int = 12):
    return build_plan(benchmark="libero", suites=[SUITE], tasks=[0], trials_per_task=trials, policy="noop-test",
                      seed=None, executor="sync", execute_steps=8, max_steps=max_steps)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def test_remote_env_matches_in_process_env_and_validates_at_the_boundary():
    bench = get_benchmark("libero")
    task = find_task(bench, SUITE, 0)
    local = bench.make_env(task, render=False, max_steps=12)
    remote = RemoteEnv("libero", SUITE, task.name, render=False, max_steps=12)
    try:
        assert remote.task == task
        lo, linfo = local.reset(seed=41, options={"init_index": 3})
        ro, rinfo = remote.reset(seed=41, options={"init_index": 3})
        np.testing.assert_array_equal(lo["state"], ro["state"])
        np.testing.assert_array_equal(linfo["noop_action"], rinfo["noop_action"])
        assert ro["state"].dtype == np.float32 and ro["state_mask"].dtype == np.bool_
        rng = np.random.default_rng(0)
        for _ in range(5):
            a = np.zeros(200, np.float32)
            a[:6] = rng.uniform(-1, 1, 6)
            a[18] = 1.0
            lo, lr, lt, ltr, _ = local.step(a)
            ro, rr, rt, rtr, rinf = remote.step(a)
            np.testing.assert_array_equal(lo["state"], ro["state"])
            assert (lr, lt, ltr) == (rr, rt, rtr)
        assert rinf["steps"] == 5
        assert remote.check_success() is False
        with pytest.raises(ActionError, match=r"shape \(200,\)"):
            remote.step(np.zeros(7))
        with pytest.raises(ActionError, match="non-finite"):
            remote.step(np.full(200, np.nan))
        with pytest.raises(WorkerReportedError, match="init_index 999 out of range"):
            remote.reset(seed=0, options={"init_index": 999})
        # the worker survives errors the env reports and keeps serving
        ro, _ = remote.reset(seed=41, options={"init_index": 3})
        assert np.isfinite(ro["state"]).all()
        pid = remote.pid
    finally:
        local.close()
        remote.close()
    assert not _pid_alive(pid), "close() must stop the worker process"


def test_bad_ids_and_bad_worker_settings_fail_clearly():
    with pytest.raises(WorkerReportedError, match="unknown task 'no_such_task'"):
        RemoteEnv("libero", SUITE, "no_such_task", render=False)
    with pytest.raises(UnknownNameError, match="unknown benchmark 'liberoo'.*did you mean 'libero'"):
        get_benchmark("liberoo")
    with pytest.raises(ValueError, match="worker timeout step_s must be a positive number.*-1"):
        WorkerTimeouts(step_s=-1)
    with pytest.raises(EnvWorkerConfigError, match=r"unknown env_workers keys \['step_timeout'\]"):
        EnvWorkerSettings.from_config({"step_timeout": 3})
    with pytest.raises(EnvWorkerConfigError, match="enabled must be true or false, got 'yes'"):
        EnvWorkerSettings.from_config({"enabled": "yes"})
    with pytest.raises(EnvWorkerConfigError, match="step_s must be a positive number.*'fast'"):
        EnvWorkerSettings.from_config({"step_s": "fast"})
    with pytest.raises(ValueError, match="worker interpreter for 'libero' not found: '/nonexistent/python'"):
        RemoteEnv("libero", SUITE, "0", render=False, python_overrides={"libero": "/nonexistent/python"})


# init index -> the fault armed on it (None: a clean episode that must finish)
FAULTS = {
    0: None,
    1: ("envs.worker_faults:CrashAfter", "killed by SIGKILL during 'run_actions'"),
    2: None,  # after the crash: must get a fresh worker and finish
    3: ("envs.worker_faults:HangAfter", "did not answer 'run_actions' within 4 s"),
    4: ("envs.worker_faults:NanStateAfter", "simulation unstable at step 3: MuJoCo reported mjWARN_BADQVEL"),
}


@pytest.fixture(scope="module")
def faulted_run(tmp_path_factory):
    """One run over five episodes with a crash, a hang and a NaN state armed on three of them."""
    wrappers = [{"entry": entry, "kwargs": {"steps": 2, "init_index": i}} for i, f in FAULTS.items() if f for entry in [f[0]]]
    settings = EnvWorkerSettings.from_config({"enabled": True, "step_s": 0.5, "wrappers": wrappers})
    specs = _plan(trials=len(FAULTS))
    root = tmp_path_factory.mktemp("faulted-run")
    with EpisodeStore(root) as store:
        written = run_episodes(specs, store, NoOpPolicy(), render=False, progress=False, env_workers=settings)
    with EpisodeStore(root, writer="rerun") as store:
        rerun = run_episodes(specs, store, NoOpPolicy(), render=False, progress=False, env_workers=settings)
    return specs, root, written, rerun


def test_each_env_fault_costs_exactly_its_episode(faulted_run):
    specs, root, written, _ = faulted_run
    by_init = collections.defaultdict(list)
    for r in written:
        by_init[r["spec"]["init_index"]].append(r)
    assert sorted(by_init) == sorted(FAULTS)
    for index, fault in FAULTS.items():
        if fault is None:
            (rec,) = by_init[index]
            assert rec["status"] == "failure" and rec["error"] is None, rec  # noop never succeeds; it finished
            assert rec["steps"] == 12 and rec["attempt"] == 1
        else:
            assert [r["attempt"] for r in by_init[index]] == [1, 2], "an env error is retried once"
            for rec in by_init[index]:
                assert rec["status"] == "error" and rec["error_kind"] == "env", rec
                assert fault[1] in rec["error"], rec["error"]
                assert rec["success"] is False


def test_rerun_after_faults_finds_the_plan_complete_with_each_episode_once(faulted_run):
    specs, root, written, rerun = faulted_run
    assert rerun == []
    ids = [r["episode_id"] for r in EpisodeStore(root).records()]
    assert sorted(ids) == sorted(s.episode_id for s in specs)
    lines = collections.Counter()
    for path in (root / "records").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            lines[line.split('"episode_id": "')[1][:20]] += 1
    faulted = {s.episode_id[:20] for s in specs if FAULTS[s.init_index]}
    assert {e: n for e, n in lines.items()} == {s.episode_id[:20]: 2 if s.episode_id[:20] in faulted else 1 for s in specs}


def test_episode_budget_kills_a_slow_episode(tmp_path):
    settings = EnvWorkerSettings.from_config(
        {"step_s": 30, "episode_s": 2, "wrappers": [{"entry": "envs.worker_faults:HangAfter", "kwargs": {"steps": 1}}]}
    )
    specs = _plan(trials=1)
    with EpisodeStore(tmp_path) as store:
        records = run_episodes(specs, store, NoOpPolicy(), render=False, progress=False, env_workers=settings)
    assert [r["attempt"] for r in records] == [1, 2]  # the hang meets the retry too
    for rec in records:
        assert rec["status"] == "error" and rec["error_kind"] == "env"
        assert "episode exceeded its 2 s budget" in rec["error"]
