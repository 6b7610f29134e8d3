"""Executors: how predicted action chunks meet the control loop.

``SyncChunkExecutor`` is the classic benchmark protocol: the world waits for
inference, then the first ``execute_steps`` of the ``H`` predicted actions run
before the next query. Asynchronous executors (delay in simulated time, the
real-time ring buffer) implement the same ``run`` signature.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

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


class PolicyFault(RuntimeError):
    """The policy raised or returned something unusable (an error, not a task failure)."""


class Executor(Protocol):
    name: str

    def run(self, env: gym.Env, policy: Policy, episode_id: str, first_obs: dict[str, Any], execute_steps: int) -> EpisodeResult: ...


class SyncChunkExecutor:
    """Query, run ``execute_steps`` actions of the chunk, repeat; the world waits."""

    name = "sync"

    def run(
        self,
        env: gym.Env,
        policy: Policy,
        episode_id: str,
        first_obs: dict[str, Any],
        execute_steps: int,
    ) -> EpisodeResult:
        if not 1 <= execute_steps <= policy.chunk_length:
            raise ValueError(
                f"execute_steps={execute_steps} must lie in 1..chunk_length ({policy.chunk_length}) of policy {policy.name!r}"
            )
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
            for action in chunk[:execute_steps]:
                obs, r, terminated, truncated, info = env.step(action)
                steps += 1
                reward += float(r)
                if terminated or truncated:
                    sim_s += time.perf_counter() - t0
                    return EpisodeResult(
                        success=bool(info.get("success", terminated)),
                        steps=steps,
                        reward=reward,
                        truncated=bool(truncated),
                        queries=queries,
                        inference_s=inference_s,
                        sim_s=sim_s,
                        final_state_sha=state_digest(obs),
                    )
            sim_s += time.perf_counter() - t0


EXECUTORS: dict[str, type] = {"sync": SyncChunkExecutor}


def make_executor(name: str, **kwargs: Any) -> Executor:
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")
    return EXECUTORS[name](**kwargs)
