"""Executors: how predicted action chunks meet the control loop.

``SyncChunkExecutor`` is the classic benchmark protocol: the world waits for
inference, then the first ``execute_steps`` of the ``H`` predicted actions run
before the next query. Asynchronous executors (delay in simulated time, the
real-time ring buffer) implement the same ``run`` signature.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

import gymnasium as gym
import numpy as np

from envs.action_slices import step_actions
from evaluators.executors_latency import LatencyModel, delay_steps, make_latency
from evaluators.policy import Policy, PolicyInput, check_chunks


@dataclass
class EpisodeResult:
    """Outcome of one episode plus what the executor saw on the way."""

    success: bool
    steps: int
    reward: float
    truncated: bool
    queries: int = 0
    inference_s: float = 0.0
    sim_s: float = 0.0
    final_state_sha: str | None = None
    executor_info: dict[str, Any] = field(default_factory=dict)


def state_digest(obs: dict[str, Any]) -> str:
    """A short hash of the unified state: a determinism witness stored with each record."""
    return hashlib.sha256(np.ascontiguousarray(obs["state"], dtype=np.float32).tobytes()).hexdigest()[:16]


def check_execute_steps(execute_steps: int, policy: Policy) -> None:
    """Every executor runs 1..H actions of a chunk before the next one may take over."""
    if not 1 <= execute_steps <= policy.chunk_length:
        raise ValueError(
            f"execute_steps={execute_steps} must lie in 1..chunk_length ({policy.chunk_length}) of policy {policy.name!r}"
        )


class PolicyFault(RuntimeError):
    """The policy raised or returned something unusable (an error, not a task failure)."""


class Executor(Protocol):
    name: str

    def run(self, env: gym.Env, policy: Policy, episode_id: str, first_obs: dict[str, Any], execute_steps: int) -> EpisodeResult: ...


class SyncChunkExecutor:
    """Query, run ``execute_steps`` actions of the chunk, repeat; the world waits.

    Each slice runs in one call (``envs.action_slices.step_actions``: one request
    to an env worker), which renders only the observation the next query sees.
    """

    name = "sync"

    def run(
        self,
        env: gym.Env,
        policy: Policy,
        episode_id: str,
        first_obs: dict[str, Any],
        execute_steps: int,
    ) -> EpisodeResult:
        check_execute_steps(execute_steps, policy)
        obs = first_obs
        steps, reward, queries = 0, 0.0, 0
        inference_s = sim_s = 0.0
        while True:
            t0 = time.perf_counter()
            try:
                raw = policy.infer([PolicyInput(episode_id=episode_id, observation=obs, step=steps)])
                chunk = check_chunks(raw, 1, policy.chunk_length, policy.name)[0]
            except Exception as exc:  # noqa: BLE001 - classified, not swallowed
                raise PolicyFault(f"{type(exc).__name__}: {exc}") from exc
            inference_s += time.perf_counter() - t0
            queries += 1
            t0 = time.perf_counter()
            out = step_actions(env, chunk[:execute_steps])
            sim_s += time.perf_counter() - t0
            obs = out.obs
            steps += out.executed
            for r in out.rewards:
                reward += r
            if out.terminated or out.truncated:
                return EpisodeResult(
                    success=bool(out.info.get("success", out.terminated)),
                    steps=steps,
                    reward=reward,
                    truncated=out.truncated,
                    queries=queries,
                    inference_s=inference_s,
                    sim_s=sim_s,
                    final_state_sha=state_digest(obs),
                )


ASYNC_MODES = ("naive", "uac", "rtc")
HOLD, STOP = "hold", "stop"


def control_hz_of(env: gym.Env) -> float | None:
    """The env's control rate in Hz, if it declares one (``control_hz``, a protocol's ``control_freq``, an embodiment spec's ``control_hz``)."""
    base = env.unwrapped
    hz = getattr(base, "control_hz", None)
    if hz is None:
        hz = getattr(getattr(base, "protocol", None), "control_freq", None)
    if hz is None:
        hz = getattr(getattr(base, "espec", None), "control_hz", None)  # twins: embodiment spec
    return float(hz) if hz else None


def rtc_weights(chunk_length: int, delay: int, execute_steps: int) -> np.ndarray:
    """RTC's soft mask over a new chunk: 1 on the committed prefix, decaying over the
    overlap with the previous chunk's still-unexecuted actions, 0 after it."""
    h, d, s = chunk_length, delay, execute_steps
    w = np.zeros(h, dtype=np.float64)
    w[:d] = 1.0
    end = max(d, h - s)
    span = end - d + 1
    for i in range(d, end):
        c = (end - i) / span
        w[i] = c * (math.e**c - 1) / (math.e - 1)
    return w


class _Schedule:
    """Which action runs at which absolute control step (committed actions)."""

    def __init__(self) -> None:
        self.actions: dict[int, np.ndarray] = {}

    def install(self, request_step: int, chunk: np.ndarray, first_index: int) -> None:
        for i in range(first_index, len(chunk)):
            self.actions[request_step + i] = chunk[i]

    def committed(self, start: int, count: int, fallback: np.ndarray) -> np.ndarray:
        """The actions that will run at steps ``start .. start+count-1`` (holds where none is planned)."""
        out, last = [], fallback
        for t in range(start, start + count):
            last = self.actions.get(t, last)
            out.append(last)
        return np.stack(out) if out else np.zeros((0, fallback.shape[-1]), dtype=np.float32)

    def pop(self, step: int) -> np.ndarray | None:
        for t in [t for t in self.actions if t < step]:
            del self.actions[t]
        return self.actions.pop(step, None)


class AsyncChunkExecutor:
    """Asynchronous execution in simulated time.

    A chunk requested at step ``r`` (from the observation after ``r`` steps) lands at
    ``r + d``; until then the env keeps running the committed actions of earlier
    chunks. ``d`` is fixed (``delay``) or ``ceil(L / dt)`` with ``L`` drawn per request
    from ``latency`` (seeded by ``seed``) or measured live. The first chunk of an
    episode is waited for (the robot starts when its first plan exists). Requests go
    out every ``execute_steps`` steps, so with ``d > execute_steps`` several are in
    flight (a pipelined server); a chunk that arrives after a newer one has landed
    is dropped as stale. Where no action is planned the executor holds the last
    action (``on_underflow="hold"``) or sends the env's no-op (``"stop"``) and
    counts an underflow. Measured-live latency is known only after the call, so
    UAC gets no prefix in that case.

    Modes: ``naive`` switches to the new chunk at index ``d``; ``uac`` also passes the
    committed actions ``[d, 200]`` as ``PolicyInput.prefix`` (a UAC policy returns
    them as its first rows); ``rtc`` blends the new chunk into the previous chunk's
    overlap with RTC's soft mask (inference-time inpainting in action space, for
    policies without prefix conditioning).
    """

    name = "async"

    def __init__(
        self,
        mode: str = "naive",
        delay: int | None = 0,
        latency: Mapping[str, Any] | str | LatencyModel | None = None,
        control_hz: float | None = None,
        seed: int = 0,
        on_underflow: str = HOLD,
    ) -> None:
        if mode not in ASYNC_MODES:
            raise ValueError(f"unknown async mode {mode!r}; known: {', '.join(ASYNC_MODES)}")
        if on_underflow not in (HOLD, STOP):
            raise ValueError(f"on_underflow must be {HOLD!r} or {STOP!r}, got {on_underflow!r}")
        if latency is None and (delay is None or int(delay) < 0):
            raise ValueError(f"delay must be a non-negative number of control steps, got {delay!r}")
        self.mode = mode
        self.delay = None if latency is not None else int(delay)
        self.latency = latency if latency is None or hasattr(latency, "measured") else make_latency(latency)
        self.control_hz = control_hz
        self.seed = int(seed)
        self.on_underflow = on_underflow

    def describe(self) -> dict[str, Any]:
        return {
            "executor": self.name,
            "mode": self.mode,
            "delay": self.delay,
            "latency": self.latency.describe() if self.latency is not None else None,
            "on_underflow": self.on_underflow,
        }

    def _query(self, policy: Policy, episode_id: str, obs: dict[str, Any], step: int, prefix: np.ndarray | None) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        try:
            raw = policy.infer([PolicyInput(episode_id=episode_id, observation=obs, step=step, prefix=prefix)])
            chunk = check_chunks(raw, 1, policy.chunk_length, policy.name)[0]
        except Exception as exc:  # noqa: BLE001 - classified, not swallowed
            raise PolicyFault(f"{type(exc).__name__}: {exc}") from exc
        return chunk, time.perf_counter() - t0

    def _land(self, schedule: _Schedule, pending: tuple[int, int, np.ndarray, int], h: int, execute_steps: int, info: dict[str, Any] | None) -> None:
        """Make a landed chunk's suffix (from index ``d``) the committed plan."""
        land, req, new, d = pending
        if self.mode == "rtc":
            w = rtc_weights(h, d, execute_steps)
            blended = new.copy()
            for i in range(d, h):
                prev = schedule.actions.get(req + i)
                if prev is not None and w[i] > 0:
                    blended[i] = w[i] * prev + (1 - w[i]) * new[i]
            new = blended
        schedule.install(req, new, d)
        if info is not None:
            info["switch_steps"].append(land)

    def _committed(self, schedule: _Schedule, pending: list, start: int, count: int, hold: np.ndarray, h: int, s: int) -> np.ndarray:
        """What will run at ``start .. start+count-1`` once every chunk in flight has landed."""
        future = _Schedule()
        future.actions = dict(schedule.actions)
        for p in pending:
            self._land(future, p, h, s, None)
        return future.committed(start, count, hold)

    def run(
        self,
        env: gym.Env,
        policy: Policy,
        episode_id: str,
        first_obs: dict[str, Any],
        execute_steps: int,
    ) -> EpisodeResult:
        h = policy.chunk_length
        check_execute_steps(execute_steps, policy)
        dt = None
        if self.latency is not None:
            hz = self.control_hz or control_hz_of(env)
            if not hz:
                raise ValueError("a latency model needs the control rate: pass control_hz or use an env that declares one")
            dt = 1.0 / hz
        rng = np.random.default_rng(self.seed)
        noop = getattr(env.unwrapped, "noop_action", None)
        info: dict[str, Any] = {
            **self.describe(),
            "execute_steps": execute_steps,
            "request_steps": [],
            "delays": [],
            "latencies_s": [],
            "switch_steps": [],
            "underflows": 0,
            "underflow_steps": [],
            "capped_delays": 0,
            "stale_dropped": 0,
            "prefix_max_abs_error": 0.0,
        }
        schedule = _Schedule()
        obs, steps, reward, queries = first_obs, 0, 0.0, 0
        inference_s = sim_s = 0.0
        last_action: np.ndarray | None = None
        pending: list[tuple[int, int, np.ndarray, int]] = []  # in flight: (land step, request step, chunk, d)
        newest_landed = 0

        # First chunk: the world waits for it.
        chunk, took = self._query(policy, episode_id, obs, 0, np.zeros((0, 200), np.float32) if self.mode == "uac" else None)
        queries, inference_s = 1, took
        schedule.install(0, chunk, 0)
        info["request_steps"].append(0)
        info["delays"].append(0)
        info["latencies_s"].append(took)
        info["switch_steps"].append(0)
        next_request = execute_steps
        while True:
            if steps >= next_request:
                if self.latency is None:
                    d = self.delay
                    latency = None
                elif self.latency.measured:
                    d = latency = None  # timed below
                else:
                    latency = self.latency.sample(rng)
                    d = delay_steps(latency, dt)
                hold = last_action if last_action is not None else chunk[0]
                if d is None:  # measured live: prefix length is unknown before the call; UAC gets none
                    new, took = self._query(policy, episode_id, obs, steps, None)
                    latency = took * self.latency.scale
                    d = delay_steps(latency, dt)
                    prefix = None
                else:
                    prefix = self._committed(schedule, pending, steps, min(d, h - 1), hold, h, execute_steps) if self.mode == "uac" else None
                    new, took = self._query(policy, episode_id, obs, steps, prefix)
                if d > h - 1:
                    info["capped_delays"] += 1
                    d = h - 1
                queries += 1
                inference_s += took
                if prefix is not None and len(prefix):
                    err = float(np.max(np.abs(new[: len(prefix)] - prefix)))
                    info["prefix_max_abs_error"] = max(info["prefix_max_abs_error"], err)
                info["request_steps"].append(steps)
                info["delays"].append(d)
                info["latencies_s"].append(latency if latency is not None else 0.0)
                pending.append((steps + d, steps, new, d))
                next_request = steps + execute_steps
            # Land what has arrived, oldest request first; a chunk arriving after a newer one landed is stale.
            for p in sorted([p for p in pending if p[0] <= steps], key=lambda p: p[1]):
                pending.remove(p)
                if p[1] < newest_landed:
                    info["stale_dropped"] += 1
                    continue
                newest_landed = p[1]
                self._land(schedule, p, h, execute_steps, info)
            action = schedule.pop(steps)
            if action is None:
                info["underflows"] += 1
                info["underflow_steps"].append(steps)
                if self.on_underflow == STOP and noop is not None:
                    action = np.asarray(noop(), dtype=np.float32)
                else:
                    action = last_action if last_action is not None else chunk[0]
            last_action = action
            t0 = time.perf_counter()
            obs, r, terminated, truncated, step_info = env.step(action)
            sim_s += time.perf_counter() - t0
            steps += 1
            reward += float(r)
            if terminated or truncated:
                return EpisodeResult(
                    success=bool(step_info.get("success", terminated)),
                    steps=steps,
                    reward=reward,
                    truncated=bool(truncated),
                    queries=queries,
                    inference_s=inference_s,
                    sim_s=sim_s,
                    final_state_sha=state_digest(obs),
                    executor_info=info,
                )


EXECUTORS: dict[str, str] = {
    "sync": "evaluators.executors:SyncChunkExecutor",
    "async": "evaluators.executors:AsyncChunkExecutor",
    "realtime": "evaluators.executors_realtime:RealTimeChunkExecutor",
}


def make_executor(name: str, **kwargs: Any) -> Executor:
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")
    module, attr = EXECUTORS[name].split(":")
    return getattr(importlib.import_module(module), attr)(**kwargs)


def executor_for_spec(spec: Any, default: Executor) -> Executor:
    """The executor one planned episode asks for: ``default`` for plain sync episodes,
    else one built from the spec's executor, delay and ``variant`` (keys ``mode``,
    ``latency``, ``control_hz``, ``on_underflow``), seeded by the episode seed."""
    if spec.executor == "sync":
        if spec.delay:
            raise ValueError(f"episode {spec.episode_id}: delay={spec.delay} needs executor 'async' or 'realtime', not 'sync'")
        return default if getattr(default, "name", None) == "sync" else make_executor("sync")
    variant = dict(spec.variant or {})
    kwargs: dict[str, Any] = {"delay": int(spec.delay), "seed": int(spec.seed)}
    for key in ("mode", "latency", "control_hz", "on_underflow"):
        if key in variant:
            kwargs[key] = variant[key]
    return make_executor(spec.executor, **kwargs)
