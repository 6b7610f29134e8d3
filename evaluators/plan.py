"""The plan: the full list of episodes an evaluation consists of.

Every episode is a frozen row with a deterministic id (a hash of the row).
Re-running a command skips ids already in the store: resume, dedupe and
sharding are all the same idea.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

from envs.benchmarks import TaskInfo, find_task, get_benchmark


@dataclass(frozen=True)
class EpisodeSpec:
    """One planned episode."""

    benchmark: str
    suite: str
    task: str
    embodiment: str
    trial: int
    init_index: int
    seed: int
    max_steps: int
    execute_steps: int
    policy: str
    executor: str = "sync"
    delay: int = 0
    perturbation: str = "none"
    severity: int = 0
    variant: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def episode_id(self) -> str:
        blob = json.dumps(self.row(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    @property
    def task_key(self) -> str:
        return f"{self.suite}/{self.task}"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "EpisodeSpec":
        return cls(**row)


def plan_hash(specs: Sequence[EpisodeSpec]) -> str:
    """A hash of the whole plan (order-independent)."""
    ids = sorted(s.episode_id for s in specs)
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:20]


def select_tasks(benchmark_name: str, suites: Sequence[str], tasks: Sequence[str | int] | None) -> list[TaskInfo]:
    """Tasks of ``suites`` (all, or those named / indexed in ``tasks``), with clear errors."""
    bench = get_benchmark(benchmark_name)
    if not suites:
        raise ValueError(f"no suites given for benchmark {benchmark_name!r}; known: {', '.join(bench.suites())}")
    out: list[TaskInfo] = []
    for suite in suites:
        if tasks is None or len(tasks) == 0:
            find_task(bench, suite, 0)  # validates the suite name
            out.extend(bench.tasks(suite))
        else:
            out.extend(find_task(bench, suite, t) for t in tasks)
    return out


def build_plan(
    benchmark: str,
    suites: Sequence[str],
    tasks: Sequence[str | int] | None,
    trials_per_task: int | None,
    policy: str,
    seed: int | None = None,
    executor: str = "sync",
    execute_steps: int | None = None,
    max_steps: int | None = None,
    conditions: Iterable[dict[str, Any]] = ({},),
) -> list[EpisodeSpec]:
    """Expand a benchmark selection into episodes; trial ``i`` uses init state ``i``.

    ``conditions`` multiplies the plan (delay, perturbation, severity, variant),
    so a shifted condition always has its clean twin on the same init states.
    """
    bench = get_benchmark(benchmark)
    n = bench.trials_per_task() if trials_per_task is None else int(trials_per_task)
    base_seed = bench.base_seed() if seed is None else int(seed)
    specs: list[EpisodeSpec] = []
    for task in select_tasks(benchmark, suites, tasks):
        if n < 1 or n > task.num_init_states:
            raise ValueError(
                f"trials_per_task={n} is out of range for {task.key!r}: it has {task.num_init_states} init states"
            )
        for cond in conditions:
            for trial in range(n):
                specs.append(
                    EpisodeSpec(
                        benchmark=benchmark,
                        suite=task.suite,
                        task=task.name,
                        embodiment=task.embodiment,
                        trial=trial,
                        init_index=trial,
                        seed=base_seed + trial,
                        max_steps=int(max_steps or task.max_steps),
                        execute_steps=int(execute_steps or task.execute_steps),
                        policy=policy,
                        executor=executor,
                        **cond,
                    )
                )
    ids = [s.episode_id for s in specs]
    if len(set(ids)) != len(ids):
        raise ValueError("plan has duplicate episodes (the same task listed twice?)")
    return specs


def shard(specs: Sequence[EpisodeSpec], index: int, count: int) -> list[EpisodeSpec]:
    """Deterministic slice ``index`` of ``count``: round-robin over the plan order."""
    if not 0 <= index < count:
        raise ValueError(f"shard index {index} out of range for {count} shards")
    return [s for i, s in enumerate(specs) if i % count == index]
