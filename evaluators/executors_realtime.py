"""Real-time execution: a control thread and an inference thread around a ring buffer.

The control loop (the calling thread) steps the env at a fixed rate paced by
the wall clock (absolute deadlines, so timing error does not accumulate). It
reads the action for step ``t`` from the ring buffer; when there is none it
holds the last action (or sends the env's no-op for a safe stop) and counts an
underflow. The inference thread takes the newest observation at step ``r``,
calls the policy, and writes the chunk's suffix at offset ``d`` (steps
``r+d .. r+H-1``); a chunk that returns after step ``r+d`` has already passed
is written from the current step on and counted as late.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import gymnasium as gym
import numpy as np

from evaluators.executors import HOLD, STOP, EpisodeResult, PolicyFault, check_execute_steps, control_hz_of, state_digest
from evaluators.policy import Policy, PolicyInput, check_chunks


class ActionRing:
    """Fixed-size ring of future actions keyed by absolute control step; thread-safe."""

    def __init__(self, capacity: int, dim: int = 200) -> None:
        if capacity < 1:
            raise ValueError(f"ring capacity must be positive, got {capacity}")
        self.capacity = capacity
        self._actions = np.zeros((capacity, dim), dtype=np.float32)
        self._tags = np.full(capacity, -1, dtype=np.int64)
        self._lock = threading.Lock()

    def write(self, first_step: int, actions: np.ndarray, not_before: int) -> int:
        """Write ``actions`` for steps ``first_step, first_step+1, ...`` skipping steps
        before ``not_before`` (already executed); returns how many were written."""
        written = 0
        with self._lock:
            for i, a in enumerate(actions):
                step = first_step + i
                if step < not_before:
                    continue
                slot = step % self.capacity
                self._actions[slot] = a
                self._tags[slot] = step
                written += 1
        return written

    def read(self, step: int) -> np.ndarray | None:
        with self._lock:
            slot = step % self.capacity
            return self._actions[slot].copy() if self._tags[slot] == step else None

    def committed(self, start: int, count: int, fallback: np.ndarray) -> np.ndarray:
        out, last = [], fallback
        for t in range(start, start + count):
            a = self.read(t)
            last = a if a is not None else last
            out.append(last)
        return np.stack(out) if out else np.zeros((0, fallback.shape[-1]), dtype=np.float32)


class RealTimeChunkExecutor:
    """Wall-clock execution at ``control_hz`` with suffixes written at offset ``delay``.

    ``mode="uac"`` passes the committed actions at steps ``r .. r+d-1`` as the
    policy's prefix. The next request is made ``execute_steps`` steps after the
    previous one, or as soon as the previous inference returns if it is later.
    """

    name = "realtime"

    def __init__(
        self,
        delay: int = 0,
        control_hz: float | None = None,
        mode: str = "naive",
        on_underflow: str = HOLD,
        seed: int = 0,
        ring_chunks: int = 2,
        latency: Any = None,
    ) -> None:
        if int(delay) < 0:
            raise ValueError(f"delay must be a non-negative number of control steps, got {delay!r}")
        if mode not in ("naive", "uac"):
            raise ValueError(f"real-time mode must be 'naive' or 'uac', got {mode!r}")
        if on_underflow not in (HOLD, STOP):
            raise ValueError(f"on_underflow must be {HOLD!r} or {STOP!r}, got {on_underflow!r}")
        if control_hz is not None and not control_hz > 0:
            raise ValueError(f"control_hz must be positive, got {control_hz!r}")
        if latency is not None:
            raise ValueError("the real-time executor measures latency on the wall clock; a latency model does not apply")
        self.delay = int(delay)
        self.control_hz = control_hz
        self.mode = mode
        self.on_underflow = on_underflow
        self.ring_chunks = max(2, int(ring_chunks))

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "mode": self.mode, "delay": self.delay, "control_hz": self.control_hz, "on_underflow": self.on_underflow}

    def run(
        self,
        env: gym.Env,
        policy: Policy,
        episode_id: str,
        first_obs: dict[str, Any],
        execute_steps: int,
    ) -> EpisodeResult:
        h, d = policy.chunk_length, self.delay
        check_execute_steps(execute_steps, policy)
        if d > h - 1:
            raise ValueError(f"delay={d} must be below the chunk length {h} of policy {policy.name!r}")
        hz = self.control_hz or control_hz_of(env)
        if not hz:
            raise ValueError("the real-time executor needs control_hz (the env declares no control rate)")
        dt = 1.0 / hz
        ring = ActionRing(self.ring_chunks * h)
        noop = getattr(env.unwrapped, "noop_action", None)
        info: dict[str, Any] = {
            **self.describe(),
            "control_hz": hz,
            "execute_steps": execute_steps,
            "request_steps": [],
            "delays": [],
            "latencies_s": [],
            "switch_steps": [],
            "late_chunks": 0,
            "underflows": 0,
            "underflow_steps": [],
            "overruns": 0,
            "prefix_max_abs_error": 0.0,
        }
        lock = threading.Condition()
        shared: dict[str, Any] = {"obs": first_obs, "step": 0, "done": False, "error": None}

        def query(obs: dict[str, Any], step: int, prefix: np.ndarray | None) -> tuple[np.ndarray, float]:
            t0 = time.perf_counter()
            raw = policy.infer([PolicyInput(episode_id=episode_id, observation=obs, step=step, prefix=prefix)])
            return check_chunks(raw, 1, h, policy.name)[0], time.perf_counter() - t0

        # The first chunk: the robot starts when its first plan exists.
        try:
            first, took = query(first_obs, 0, np.zeros((0, 200), np.float32) if self.mode == "uac" else None)
        except Exception as exc:  # noqa: BLE001 - classified, not swallowed
            raise PolicyFault(f"{type(exc).__name__}: {exc}") from exc
        ring.write(0, first, 0)
        info["request_steps"].append(0)
        info["delays"].append(0)
        info["latencies_s"].append(took)
        info["switch_steps"].append(0)
        counters = {"queries": 1, "inference_s": took}

        def inference_loop() -> None:
            next_request = execute_steps
            last = first[0]
            try:
                while True:
                    with lock:
                        lock.wait_for(lambda: shared["done"] or shared["step"] >= next_request)
                        if shared["done"]:
                            return
                        obs, r = shared["obs"], shared["step"]
                    prefix = ring.committed(r, d, last) if self.mode == "uac" else None
                    chunk, took = query(obs, r, prefix)
                    if prefix is not None and d:
                        err = float(np.max(np.abs(chunk[:d] - prefix)))
                        info["prefix_max_abs_error"] = max(info["prefix_max_abs_error"], err)
                    with lock:
                        now = shared["step"]  # next step the control loop will execute
                        if shared["done"]:
                            return
                        late = now > r + d
                        ring.write(r + d, chunk[d:], not_before=now)
                        last = chunk[-1]
                        info["request_steps"].append(r)
                        info["delays"].append(d)
                        info["latencies_s"].append(took)
                        info["switch_steps"].append(max(r + d, now))
                        info["late_chunks"] += int(late)
                        counters["queries"] += 1
                        counters["inference_s"] += took
                    next_request = max(r + execute_steps, now)
            except Exception as exc:  # noqa: BLE001 - surfaced in the control thread
                with lock:
                    shared["error"] = exc
                    shared["done"] = True

        worker = threading.Thread(target=inference_loop, name=f"inference-{episode_id}", daemon=True)
        worker.start()
        steps, reward, sim_s = 0, 0.0, 0.0
        last_action = first[0]
        tick_times: list[float] = []
        start = time.perf_counter()
        deadline = start
        try:
            while True:
                now = time.perf_counter()
                if now < deadline:
                    time.sleep(deadline - now)
                tick = time.perf_counter()
                if tick - deadline > dt:  # missed a whole period: re-anchor, never burst
                    info["overruns"] += 1
                    deadline = tick
                tick_times.append(tick)
                if shared["error"] is not None:
                    exc = shared["error"]
                    raise PolicyFault(f"{type(exc).__name__}: {exc}") from exc
                action = ring.read(steps)
                if action is None:
                    info["underflows"] += 1
                    info["underflow_steps"].append(steps)
                    action = np.asarray(noop(), np.float32) if self.on_underflow == STOP and noop is not None else last_action
                last_action = action
                t0 = time.perf_counter()
                obs, r, terminated, truncated, step_info = env.step(action)
                sim_s += time.perf_counter() - t0
                steps += 1
                reward += float(r)
                with lock:
                    shared["obs"], shared["step"] = obs, steps
                    lock.notify_all()
                if terminated or truncated:
                    break
                deadline += dt
        finally:
            with lock:
                shared["done"] = True
                lock.notify_all()
            worker.join()
        periods = np.diff(tick_times)
        info["achieved_hz"] = float(len(periods) / (tick_times[-1] - tick_times[0])) if len(periods) else None
        info["period_p50_s"] = float(np.median(periods)) if len(periods) else None
        info["period_max_s"] = float(periods.max()) if len(periods) else None
        return EpisodeResult(
            success=bool(step_info.get("success", terminated)),
            steps=steps,
            reward=reward,
            truncated=bool(truncated),
            queries=counters["queries"],
            inference_s=counters["inference_s"],
            sim_s=sim_s,
            final_state_sha=state_digest(obs),
            executor_info=info,
        )
