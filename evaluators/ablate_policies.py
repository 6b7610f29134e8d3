"""Small policies for worked ablations on the twins (no checkpoint needed).

``ExpertReplayPolicy`` records the twins' scripted expert on a private copy of
the episode's task and init state at ``reset``, then answers every query at
step ``t`` with the expert's actions ``t .. t+H-1``. It is time-indexed and
blind: under an exact executor its outcome must not depend on the delay as
long as the committed actions cover it (no underflow), nor on sensory shift.
That makes it the control for an ablation grid: any change in its success is
an executor artefact, not a policy effect.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from evaluators.policy import EpisodeInfo, PolicyInput


class ExpertReplayPolicy:
    """Open-loop replay of the scripted expert for the same task, init state and seed."""

    needs_images = False

    def __init__(self, chunk_length: int = 16) -> None:
        self.name = "expert-replay"
        self.chunk_length = int(chunk_length)
        self._actions: dict[str, np.ndarray] = {}

    def reset(self, episode: EpisodeInfo) -> None:
        from envs.benchmarks import find_task, get_benchmark
        from envs.twins.expert import run_expert_episode

        if episode.benchmark != "twins":
            raise ValueError(f"expert-replay needs the twins benchmark (scripted experts), got {episode.benchmark!r}")
        bench = get_benchmark("twins")
        suite, name = episode.task.split("/", 1)
        task = find_task(bench, suite, name)
        init_index = episode.seed - bench.base_seed()  # build_plan: trial i has seed base + i and init state i
        env = bench.make_env(task, render=False)
        taken: list[np.ndarray] = []
        try:
            run_expert_episode(env, init_index, seed=episode.seed, on_step=lambda obs, action: taken.append(np.asarray(action, np.float32)))
        finally:
            env.close()
        self._actions[episode.episode_id] = np.stack(taken)

    def infer(self, batch: Sequence[PolicyInput]) -> np.ndarray:
        out = np.zeros((len(batch), self.chunk_length, 200), dtype=np.float32)
        for i, x in enumerate(batch):
            acts = self._actions[x.episode_id]
            idx = np.minimum(np.arange(x.step, x.step + self.chunk_length), len(acts) - 1)
            out[i] = acts[idx]
        return out

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "chunk_length": self.chunk_length}
