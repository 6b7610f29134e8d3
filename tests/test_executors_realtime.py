"""The real-time executor: exact action order, control rate on the wall clock, underflow counts.

Timing figures (jitter, worst period) are in BENCHMARKS.md; here the rate is
checked as the mean over a run with a 5% tolerance (absolute deadlines keep the
mean exact even when single ticks are late), everything else on counts.
"""

from __future__ import annotations

import numpy as np
import pytest

from evaluators.executors import PolicyFault
from evaluators.executors_realtime import ActionRing, RealTimeChunkExecutor
from test_executors_async import H, RecordingEnv, StepEncodingPolicy, executed_sources


def run(executor, policy, env, execute_steps):
    obs, _ = env.reset()
    return executor.run(env, policy, "ep", obs, execute_steps)


@pytest.mark.parametrize("mode", ["naive", "uac"])
@pytest.mark.parametrize("d", range(H))
def test_realtime_runs_the_action_planned_for_each_step(mode: str, d: int) -> None:
    s = H - d
    env, policy = RecordingEnv(length=14), StepEncodingPolicy(uac=(mode == "uac"))
    result = run(RealTimeChunkExecutor(delay=d, control_hz=40, mode=mode), policy, env, s)
    src = executed_sources(env)
    np.testing.assert_allclose(src[:, 0] + src[:, 1], np.arange(len(src)), atol=1e-5)
    info = result.executor_info
    assert info["underflows"] == 0 and info["late_chunks"] == 0
    assert info["request_steps"] == list(range(0, 14, s))[: len(info["request_steps"])]
    for r in info["request_steps"][1:]:
        assert all(src[t, 0] < r for t in range(r, min(r + d, len(src))))  # committed prefix runs
        assert all(src[t, 0] == r for t in range(r + d, min(r + H, len(src))))  # then the new chunk
    if mode == "uac":
        for r, p in zip(info["request_steps"][1:], policy.prefixes[1:]):
            assert p.shape == (d, 200)
            ran = env.executed[r : r + d]
            if ran:
                np.testing.assert_array_equal(p[: len(ran)], np.stack(ran))


@pytest.mark.parametrize("hz,steps", [(10, 20), (50, 100)])
def test_realtime_holds_control_rate(hz: int, steps: int) -> None:
    env = RecordingEnv(length=steps)
    result = run(RealTimeChunkExecutor(delay=2, control_hz=hz), StepEncodingPolicy(), env, 4)
    info = result.executor_info
    assert result.steps == steps
    assert abs(info["achieved_hz"] / hz - 1) < 0.05, info["achieved_hz"]


def test_slow_inference_underflows_and_holds() -> None:
    d, dt = 2, 1 / 50
    env = RecordingEnv(length=60)
    # 150 ms of inference is far slower than d * dt = 40 ms.
    result = run(RealTimeChunkExecutor(delay=d, control_hz=50), StepEncodingPolicy(sleep_s=0.15), env, H - d)
    info = result.executor_info
    assert info["late_chunks"] >= 1
    assert info["underflows"] >= 1
    assert info["latencies_s"][1] > d * dt
    src = executed_sources(env)
    for t in info["underflow_steps"]:
        np.testing.assert_array_equal(src[t], src[t - 1])
    # Actions that do run are still the ones planned for their step.
    ok = np.setdiff1d(np.arange(len(src)), info["underflow_steps"])
    np.testing.assert_allclose(src[ok, 0] + src[ok, 1], ok, atol=1e-5)


def test_fast_enough_inference_never_underflows() -> None:
    env = RecordingEnv(length=40)
    result = run(RealTimeChunkExecutor(delay=4, control_hz=20), StepEncodingPolicy(sleep_s=0.02), env, H - 4)
    assert result.executor_info["underflows"] == 0


def test_policy_error_in_inference_thread_is_a_policy_fault() -> None:
    class Failing(StepEncodingPolicy):
        def infer(self, batch):
            if batch[0].step > 0:
                raise RuntimeError("boom at step %d" % batch[0].step)
            return super().infer(batch)

    with pytest.raises(PolicyFault, match="boom at step"):
        run(RealTimeChunkExecutor(delay=1, control_hz=50), Failing(), RecordingEnv(length=50), 4)


def test_ring_and_bad_settings() -> None:
    ring = ActionRing(4, dim=2)
    assert ring.write(10, np.ones((3, 2)), not_before=11) == 2
    assert ring.read(10) is None and ring.read(11) is not None
    ring.write(14, np.zeros((1, 2)), 0)  # step 14 reuses the slot of step 10
    assert ring.read(14) is not None
    with pytest.raises(ValueError, match="delay=8"):
        run(RealTimeChunkExecutor(delay=8, control_hz=50), StepEncodingPolicy(), RecordingEnv(5), 4)
    with pytest.raises(ValueError, match="control_hz"):
        RealTimeChunkExecutor(control_hz=0)
