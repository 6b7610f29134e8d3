"""Which action runs at every control step, for every executor and every delay d = 0..H-1.

The test policy writes its request step into slot 0 and the chunk index into
slot 1 of every action, so the action executed at step t must satisfy
slot0 + slot1 == t (no gap, no repeat) and come from the newest chunk that has
landed by t. A UAC policy returns the committed prefix as its first rows.
"""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import pytest

from evaluators.executors import AsyncChunkExecutor, SyncChunkExecutor, executor_for_spec, rtc_weights
from evaluators.executors_latency import delay_steps, make_latency
from evaluators.policy import EpisodeInfo, PolicyInput

H = 8


class RecordingEnv(gym.Env):
    """Counts steps and keeps every action it was given; truncates after ``length`` steps."""

    control_hz = 20.0

    def __init__(self, length: int = 40) -> None:
        self.length = length
        self.executed: list[np.ndarray] = []
        self.action_space = gym.spaces.Box(-np.inf, np.inf, (200,), np.float32)
        self.observation_space = gym.spaces.Dict({})

    def noop_action(self) -> np.ndarray:
        return np.full(200, -1.0, dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        self.executed = []
        return self._obs(), {}

    def _obs(self) -> dict[str, Any]:
        state = np.zeros(200, dtype=np.float32)
        state[0] = len(self.executed)
        return {"state": state}

    def step(self, action):
        self.executed.append(np.asarray(action, dtype=np.float32).copy())
        t = len(self.executed)
        return self._obs(), 0.0, False, t >= self.length, {"success": False}


class StepEncodingPolicy:
    """Chunk rows are (request step, index, 1, ...); with ``uac`` the first rows copy the prefix."""

    needs_images = False

    def __init__(self, chunk_length: int = H, uac: bool = False, sleep_s: float = 0.0) -> None:
        self.name = "step-encoding"
        self.chunk_length = chunk_length
        self.uac = uac
        self.sleep_s = sleep_s
        self.prefixes: list[np.ndarray | None] = []

    def reset(self, episode: EpisodeInfo) -> None:
        self.prefixes = []

    def infer(self, batch: Sequence[PolicyInput]) -> np.ndarray:
        if self.sleep_s:
            time.sleep(self.sleep_s)
        out = np.zeros((len(batch), self.chunk_length, 200), dtype=np.float32)
        for b, x in enumerate(batch):
            out[b, :, 0] = x.step
            out[b, :, 1] = np.arange(self.chunk_length)
            out[b, :, 2] = 1.0
            self.prefixes.append(None if x.prefix is None else np.array(x.prefix))
            if self.uac and x.prefix is not None and len(x.prefix):
                out[b, : len(x.prefix)] = x.prefix
        return out

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}


def executed_sources(env: RecordingEnv) -> np.ndarray:
    return np.array([[a[0], a[1]] for a in env.executed])


def run(executor, policy, env, execute_steps):
    obs, _ = env.reset()
    return executor.run(env, policy, "ep", obs, execute_steps)


@pytest.mark.parametrize("mode", ["naive", "uac", "rtc"])
@pytest.mark.parametrize("d", range(H))
def test_async_runs_the_action_planned_for_each_step(mode: str, d: int) -> None:
    s = H - d  # the longest execution horizon that leaves no gap
    env, policy = RecordingEnv(length=37), StepEncodingPolicy(uac=(mode == "uac"))
    result = run(AsyncChunkExecutor(mode=mode, delay=d), policy, env, s)
    src = executed_sources(env)
    steps = np.arange(len(src))
    # No gap, no repeat: the action run at step t is the one some chunk planned for t.
    np.testing.assert_allclose(src[:, 0] + src[:, 1], steps, atol=1e-5)
    info = result.executor_info
    assert info["underflows"] == 0
    assert info["delays"][1:] == [d] * (len(info["delays"]) - 1)
    # Requests every s steps (several in flight when d > s); each lands d steps later.
    assert info["request_steps"] == list(range(0, 37, s))
    assert info["switch_steps"][1:] == [r + d for r in info["request_steps"][1:] if r + d < 37]
    if mode != "rtc":
        # From its landing on, a chunk's own actions run: the source is the newest landed request.
        for t in range(len(src)):
            landed = [r for r, sw in zip(info["request_steps"], info["switch_steps"]) if sw <= t]
            assert src[t, 0] == max(landed), (t, src[t])
    # The committed prefix (steps r .. r+d-1) runs the previous chunk's actions.
    for r in info["request_steps"][1:]:
        for t in range(r, min(r + d, len(src))):
            assert src[t, 0] < r
    if mode == "uac":
        prefixes = [p for p in policy.prefixes[1:]]
        for r, p in zip(info["request_steps"][1:], prefixes):
            assert p.shape == (d, 200)
            ran = env.executed[r : r + d]  # the episode may end inside the last prefix
            if ran:
                np.testing.assert_array_equal(p[: len(ran)], np.stack(ran))
        assert info["prefix_max_abs_error"] == 0.0
    else:
        assert all(p is None for p in policy.prefixes)


def test_async_d0_naive_equals_sync() -> None:
    env_a, env_s = RecordingEnv(30), RecordingEnv(30)
    run(AsyncChunkExecutor(mode="naive", delay=0), StepEncodingPolicy(), env_a, 5)
    run(SyncChunkExecutor(), StepEncodingPolicy(), env_s, 5)
    np.testing.assert_array_equal(np.stack(env_a.executed), np.stack(env_s.executed))


def test_rtc_blends_only_the_overlap() -> None:
    d, s = 2, 3
    w = rtc_weights(H, d, s)
    assert np.all(w[:d] == 1) and np.all(w[H - s :] == 0)
    assert np.all(np.diff(w[d : H - s + 1]) < 0) and np.all((w[d : H - s] > 0) & (w[d : H - s] < 1))
    env = RecordingEnv(30)
    run(AsyncChunkExecutor(mode="rtc", delay=d), StepEncodingPolicy(), env, s)
    src = executed_sources(env)
    # Step r+d (first new action, overlap index d) mixes old and new request steps.
    r = s
    assert src[r + d, 0] == pytest.approx(w[d] * 0 + (1 - w[d]) * r)


def test_delay_longer_than_horizon_underflows_and_holds() -> None:
    d, s = 5, 6  # s + d > H: the committed actions run out before the new chunk lands
    env = RecordingEnv(30)
    result = run(AsyncChunkExecutor(mode="naive", delay=d), StepEncodingPolicy(), env, s)
    info = result.executor_info
    assert info["underflows"] > 0
    src = executed_sources(env)
    for t in info["underflow_steps"]:
        np.testing.assert_array_equal(src[t], src[t - 1])  # hold the last action


def test_safe_stop_sends_noop_on_underflow() -> None:
    env = RecordingEnv(30)
    result = run(AsyncChunkExecutor(mode="naive", delay=5, on_underflow="stop"), StepEncodingPolicy(), env, 6)
    for t in result.executor_info["underflow_steps"]:
        assert np.all(env.executed[t] == -1.0)


def test_sampled_latency_is_deterministic_per_seed() -> None:
    spec = {"kind": "lognormal", "median_s": 0.12, "sigma": 0.5}
    runs = []
    for seed in (7, 7, 8):
        env = RecordingEnv(60)
        res = run(AsyncChunkExecutor(mode="uac", latency=spec, seed=seed), StepEncodingPolicy(uac=True), env, 4)
        runs.append(res.executor_info)
    assert runs[0]["delays"] == runs[1]["delays"]
    assert runs[0]["delays"] != runs[2]["delays"]
    for lat, d in zip(runs[0]["latencies_s"][1:], runs[0]["delays"][1:]):
        assert d == min(math.ceil(lat * 20 - 1e-9), H - 1)


def test_measured_latency_times_the_call() -> None:
    env = RecordingEnv(20)
    res = run(AsyncChunkExecutor(mode="naive", latency={"kind": "measured", "scale": 1.0}), StepEncodingPolicy(sleep_s=0.06), env, 4)
    # 60 ms of inference at 20 Hz is at least 2 steps.
    assert all(d >= 2 for d in res.executor_info["delays"][1:])


def test_latency_specs_and_delay_rounding() -> None:
    assert delay_steps(0.3, 0.1) == 3 and delay_steps(0.31, 0.1) == 4 and delay_steps(0.0, 0.05) == 0
    rng = np.random.default_rng(0)
    emp = make_latency({"kind": "empirical", "samples_s": [0.1, 0.2]})
    assert {emp.sample(rng) for _ in range(50)} == {0.1, 0.2}
    uni = make_latency({"kind": "uniform", "low_s": 0.1, "high_s": 0.2})
    assert all(0.1 <= uni.sample(rng) <= 0.2 for _ in range(50))
    assert make_latency("default").describe()["kind"] == "lognormal"
    with pytest.raises(ValueError, match="median_s"):
        make_latency({"kind": "lognormal", "median_s": -1, "sigma": 0.1})
    with pytest.raises(ValueError, match="'gamma'"):
        make_latency({"kind": "gamma"})
    with pytest.raises(ValueError, match="delay must be"):
        AsyncChunkExecutor(delay=-1)
    with pytest.raises(ValueError, match="'fancy'"):
        AsyncChunkExecutor(mode="fancy")


def test_executor_for_spec_builds_from_the_plan_row() -> None:
    from evaluators.plan import EpisodeSpec

    base = dict(benchmark="libero", suite="s", task="t", embodiment="e", trial=0, init_index=0, seed=3, max_steps=5, execute_steps=4, policy="p")
    sync = SyncChunkExecutor()
    assert executor_for_spec(EpisodeSpec(**base), sync) is sync
    ex = executor_for_spec(EpisodeSpec(**base, executor="async", delay=2, variant={"mode": "uac"}), sync)
    assert isinstance(ex, AsyncChunkExecutor) and ex.delay == 2 and ex.mode == "uac" and ex.seed == 3
    with pytest.raises(ValueError, match="delay=2"):
        executor_for_spec(EpisodeSpec(**base, delay=2), sync)
