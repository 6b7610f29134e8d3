"""Chunk slices run in one call (envs.action_slices, worker op run_actions): the same records as
per-step execution, images rendered only where the policy looks, bit-identical to per-step rendering."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest

from envs.action_slices import run_actions, step_actions
from envs.benchmarks import find_task, get_benchmark
from envs.env_stack import make_env_stack
from envs.twins.expert import ScriptedExpert
from envs.worker_client import RemoteEnv
from evaluators.baselines import RandomPolicy
from evaluators.env_pool import EnvWorkerSettings
from evaluators.executors import EpisodeResult, check_execute_steps, state_digest
from evaluators.plan import build_plan
from evaluators.policy import PolicyInput, check_chunks
from evaluators.runner import OUTCOME_FIELDS, run_episodes
from evaluators.store import EpisodeStore


class PerStepSync:
    """Reference: the sync protocol stepping the env one request per action (every step rendered)."""

    name = "sync"

    def run(self, env, policy, episode_id, first_obs, execute_steps):
        check_execute_steps(execute_steps, policy)
        obs, steps, reward, queries = first_obs, 0, 0.0, 0
        while True:
            chunk = check_chunks(policy.infer([PolicyInput(episode_id, obs, steps)]), 1, policy.chunk_length, policy.name)[0]
            queries += 1
            for action in chunk[:execute_steps]:
                obs, r, terminated, truncated, info = env.step(action)
                steps += 1
                reward += float(r)
                if terminated or truncated:
                    return EpisodeResult(bool(info.get("success", terminated)), steps, reward, bool(truncated), queries,
                                         final_state_sha=state_digest(obs))


def _digests(obs):
    return {cam: hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest()[:16] for cam, img in obs["images"].items()}


class SeeingRandom(RandomPolicy):
    """Random actions, but asks for images and logs a digest of every image it is shown."""

    needs_images = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, int, dict[str, str]]] = []

    def infer(self, batch):
        for x in batch:
            self.seen.append((x.episode_id, x.step, _digests(x.observation)))
        return super().infer(batch)


def _run(root, specs, executor, workers_enabled):
    policy = SeeingRandom()
    with EpisodeStore(root) as store:
        run_episodes(specs, store, policy, executor=executor, progress=False,
                     env_workers=EnvWorkerSettings.from_config({"enabled": workers_enabled}))
    records = {r["episode_id"]: {k: r.get(k) for k in OUTCOME_FIELDS} for r in EpisodeStore(root).records()}
    return records, sorted(policy.seen, key=lambda s: (s[0], s[1]))


def test_twins_slices_in_worker_equal_per_step_and_query_images_are_bit_identical(tmp_path):
    specs = build_plan("twins", ["spatial"], ["place_on_pad@so101", "place_left_of@d1"], 1, policy="random", max_steps=30)
    ref, ref_seen = _run(tmp_path / "per_step", specs, PerStepSync(), True)
    for name, enabled in (("worker", True), ("in_process", False)):
        got, seen = _run(tmp_path / name, specs, None, enabled)
        assert got == ref, name
        assert seen == ref_seen, name  # same queries at the same steps, same images bit for bit
    assert all(r["status"] == "failure" and r["steps"] == 30 for r in ref.values())
    assert all(len(d) >= 2 for _, _, d in ref_seen)  # every query saw rendered cameras


def _twin_env(task_key, render):
    bench = get_benchmark("twins")
    return make_env_stack(bench, find_task(bench, "spatial", task_key), render=render, max_steps=400)


def test_twins_intermediate_steps_render_nothing():
    env = _twin_env("place_on_pad@so101", render=True)
    try:
        base = env.unwrapped
        calls = []
        real = base._renderer.render
        base._renderer.render = lambda *a, **k: calls.append(1) or real(*a, **k)
        obs, info = env.reset(seed=3, options={"init_index": 1})
        actions = np.stack([info["noop_action"] + 0.01 * i for i in range(8)]).astype(np.float32)
        calls.clear()
        per_step = [env.step(a)[0] for a in actions]
        assert len(calls) == 8 * len(base.cameras)
        env.reset(seed=3, options={"init_index": 1})
        calls.clear()
        out = run_actions(env, actions)
        assert len(calls) == len(base.cameras) and out.executed == 8
        assert _digests(out.obs) == _digests(per_step[-1]) and len(out.obs["images"]) == len(base.cameras)
        np.testing.assert_array_equal(out.obs["state"], per_step[-1]["state"])
        assert env.step(actions[0])[0]["images"], "the image switch is back on after a slice"
    finally:
        env.close()


def test_twins_slice_stops_on_success_mid_slice_in_worker():
    env = _twin_env("place_on_pad@so101", render=False)
    try:  # the scripted expert, per step: its actions and the step it succeeds at
        env.reset(seed=0, options={"init_index": 0})
        expert, actions = ScriptedExpert(env.unwrapped), []
        expert.reset()
        while True:
            actions.append(expert.act())
            obs, _, success, truncated, _ = env.step(actions[-1])
            if success or truncated:
                break
        assert success
        final_state = obs["state"]
    finally:
        env.close()
    n = len(actions)
    k = 8 if n % 8 else 7  # slice length: the success step lies strictly inside a slice
    actions = actions + [actions[-1]] * (k - n % k)
    remote = RemoteEnv("twins", "spatial", "place_on_pad@so101", render=False, max_steps=400)
    try:
        remote.reset(seed=0, options={"init_index": 0})
        steps = 0
        while True:
            batch = actions[steps : steps + k]
            out = step_actions(remote, batch)
            steps += out.executed
            if out.terminated or out.truncated:
                break
            assert out.executed == len(batch)
        assert out.terminated and out.info["success"] and steps == n
        assert out.executed < len(batch), "success came before the end of the slice"
        np.testing.assert_array_equal(out.obs["state"], final_state)
    finally:
        remote.close()


def test_worker_sigkilled_mid_slice_costs_only_that_episode(tmp_path):
    specs = build_plan("twins", ["spatial"], ["place_on_pad@so101"], 3, policy="random", max_steps=20)
    clean_root, faulty_root = tmp_path / "clean", tmp_path / "faulty"
    with EpisodeStore(clean_root) as store:
        run_episodes(specs, store, RandomPolicy(), progress=False, env_workers=EnvWorkerSettings())
    crash = {"entry": "envs.worker_faults:CrashAfter",
             "kwargs": {"steps": 11, "init_index": 1, "once_marker": str(tmp_path / "fired")}}  # step 12: mid 2nd slice
    settings = EnvWorkerSettings.from_config({"enabled": True, "wrappers": [crash]})
    with EpisodeStore(faulty_root) as store:
        run_episodes(specs, store, RandomPolicy(), progress=False, env_workers=settings)
    clean = {r["episode_id"]: r for r in EpisodeStore(clean_root).records()}
    records = list(EpisodeStore(faulty_root).iter_attempts())  # every attempt
    errors = [r for r in records if r["status"] == "error"]
    assert len(errors) == 1 and errors[0]["error_kind"] == "env"
    assert "SIGKILL" in errors[0]["error"] and "run_actions" in errors[0]["error"], errors[0]["error"]
    finals = {r["episode_id"]: r for r in records if r["status"] != "error"}
    assert set(finals) == set(clean)  # the killed episode was retried on a fresh worker; the others never noticed
    for eid, r in finals.items():
        assert {k: r.get(k) for k in OUTCOME_FIELDS if k != "attempt"} == {k: clean[eid].get(k) for k in OUTCOME_FIELDS if k != "attempt"}


# -- LIBERO: robosuite camera observables behind envs.camera_gate -------------------------------------------


@pytest.mark.slow
def test_libero_slices_in_worker_equal_per_step_with_bit_identical_query_images(tmp_path):
    specs = build_plan("libero", ["libero_spatial"], [0], 1, policy="random", max_steps=16)
    ref, ref_seen = _run(tmp_path / "per_step", specs, PerStepSync(), False)
    got, seen = _run(tmp_path / "worker", specs, None, True)
    assert got == ref and seen == ref_seen
    assert [s[1] for s in seen] == [0, 8] and all(len(d) == 2 for _, _, d in seen)


@pytest.mark.slow
def test_libero_intermediate_steps_render_nothing_and_success_stops_mid_slice():
    from tests.libero_teleport import goal_pairs, teleport_on

    bench = get_benchmark("libero")
    env = make_env_stack(bench, find_task(bench, "libero_spatial", 0), render=True, max_steps=40)
    try:
        gate = env.unwrapped._gate
        obs, info = env.reset(seed=0, options={"init_index": 0})
        actions = np.repeat(info["noop_action"][None], 8, 0)
        before = (gate.rendered, gate.skipped)
        t0 = time.perf_counter()
        out = run_actions(env, actions)
        assert out.executed == 8 and len(out.obs["images"]) == 2
        assert gate.rendered - before[0] == 2 and gate.skipped - before[1] == 14, (gate.rendered, gate.skipped)
        slice_s = time.perf_counter() - t0
        env.reset(seed=0, options={"init_index": 0})
        t0 = time.perf_counter()
        per_step = [env.step(a)[0] for a in actions]
        assert _digests(per_step[-1]) == _digests(out.obs)
        print(f"8 LIBERO steps: one slice {slice_s:.2f} s, per step rendered {time.perf_counter() - t0:.2f} s")

        env.reset(seed=0, options={"init_index": 0})
        for _, obj, target in goal_pairs(env.unwrapped):
            teleport_on(env.unwrapped, obj, target)
        out = run_actions(env, np.repeat(info["noop_action"][None], 16, 0))
        assert out.terminated and out.info["success"] and out.executed < 16
        assert out.obs["images"] == {}  # the episode is over: nobody looks at this observation
    finally:
        env.close()


def test_image_noise_shift_draws_the_same_noise_when_intermediate_steps_are_not_rendered(tmp_path):
    specs = build_plan("twins", ["spatial"], ["place_on_pad@so101"], 1, policy="random", max_steps=20,
                       conditions=[{"perturbation": "noise", "severity": 2}])
    ref, ref_seen = _run(tmp_path / "per_step", specs, PerStepSync(), False)
    got, seen = _run(tmp_path / "slices", specs, None, False)
    assert got == ref and seen == ref_seen and len(seen) == 3


ROBOCASA_CHILD = r"""
import hashlib, json, numpy as np
from envs.action_slices import run_actions
from envs.benchmarks import find_task, get_benchmark
from envs.env_stack import make_env_stack
bench = get_benchmark("robocasa")
env = make_env_stack(bench, find_task(bench, "robocasa_lite_atomic24", "OpenDrawer"), render=True)
dig = lambda o: {c: hashlib.sha256(i.tobytes()).hexdigest() for c, i in o["images"].items()}
obs, info = env.reset(seed=7, options={"trial": 1})
acts = [env.unwrapped.noop_action() for _ in range(8)]
per_step = [env.step(a)[0] for a in acts][-1]
gate = env.unwrapped._gate
before = (gate.rendered, gate.skipped)
env.reset(seed=7, options={"trial": 1})
out = run_actions(env, acts)
print(json.dumps({"same_images": dig(per_step) == dig(out.obs), "cameras": len(out.obs["images"]),
                  "same_state": bool(np.array_equal(per_step["state"], out.obs["state"])), "executed": out.executed,
                  "rendered": gate.rendered - before[0], "skipped": gate.skipped - before[1]}))
"""


@pytest.mark.slow
def test_robocasa_slice_renders_only_the_last_step_bit_identically():
    import json
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    python = root / ".venv-robocasa" / "bin" / "python"
    if not python.exists():
        pytest.skip("RoboCasa's interpreter is not set up (make setup)")
    proc = subprocess.run([str(python), "-c", ROBOCASA_CHILD], cwd=root, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MUJOCO_GL": "egl", "PYTHONPATH": str(root)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"same_images": True, "cameras": 3, "same_state": True, "executed": 8, "rendered": 3, "skipped": 21}


def test_a_bad_action_in_a_slice_is_refused_before_the_worker_sees_it_and_named():
    from envs.observation import ActionError, check_actions

    ok = np.zeros((3, 200), np.float32)
    assert check_actions(ok.astype(np.float64)).dtype == np.float32
    bad = ok.copy()
    bad[2, 7] = np.nan
    with pytest.raises(ActionError, match=r"action 2 of the slice has non-finite values at slots \[7\]"):
        check_actions(bad)
    with pytest.raises(ActionError, match=r"shape \(k, 200\) with k >= 1, got \(3, 199\)"):
        check_actions(np.zeros((3, 199)))
    with pytest.raises(ActionError, match=r"got \(0, 200\)"):
        check_actions(np.zeros((0, 200)))
