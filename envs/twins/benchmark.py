"""The twins as a benchmark of the registry: suites, task x embodiment pairs, env construction."""

from __future__ import annotations

from functools import lru_cache
from importlib import metadata
from typing import Any, Sequence

from envs.benchmarks import TaskInfo, UnknownNameError, suggest
from envs.twins.embodiments import embodiment_names, load_embodiment
from envs.twins.tasks import SUITES, TASKS

BENCHMARK_NAME = "twins"
NUM_INIT_STATES = 1000  # init poses are drawn from init_index, so any number works
TRIALS_PER_TASK = 50
CHUNK_LENGTH = 16
EXECUTE_STEPS = 8
BASE_SEED = 7


def pair_name(task: str, embodiment: str) -> str:
    return f"{task}@{embodiment}"


class TwinsBenchmark:
    """Ten tasks in four suites, instantiated on every embodiment that can do them."""

    name = BENCHMARK_NAME

    def suites(self) -> Sequence[str]:
        return SUITES

    @lru_cache(maxsize=None)
    def tasks(self, suite: str | None = None) -> tuple[TaskInfo, ...]:
        if suite is None:
            return tuple(t for s in SUITES for t in self.tasks(s))
        if suite not in SUITES:
            raise UnknownNameError(
                f"unknown suite {suite!r} in benchmark 'twins'{suggest(suite, SUITES)}; known: {', '.join(SUITES)}"
            )
        out = []
        for task in TASKS:
            if task.suite != suite:
                continue
            for emb in embodiment_names():
                spec = load_embodiment(emb)
                if not task.feasible(spec):
                    continue
                out.append(
                    TaskInfo(
                        benchmark=self.name,
                        suite=suite,
                        name=pair_name(task.name, emb),
                        instruction=task.instruction,
                        embodiment=emb,
                        max_steps=task.max_steps(spec),
                        num_init_states=NUM_INIT_STATES,
                        chunk_length=CHUNK_LENGTH,
                        execute_steps=EXECUTE_STEPS,
                        extra={"twin_task": task.name, "control_hz": spec.control_hz},
                    )
                )
        return tuple(out)

    def make_env(self, task: TaskInfo, render: bool = True, **kwargs: Any):
        from envs.twins.env import TwinEnv

        return TwinEnv(task, render=render, **kwargs)

    def trials_per_task(self) -> int:
        return TRIALS_PER_TASK

    def base_seed(self) -> int:
        return BASE_SEED

    def versions(self) -> dict[str, str]:
        import mujoco

        return {"mujoco": mujoco.__version__, "twins": "1"}

    def feasibility(self) -> dict[str, dict[str, bool]]:
        """task -> embodiment -> feasible."""
        return {t.name: {e: t.feasible(load_embodiment(e)) for e in embodiment_names()} for t in TASKS}

    def print_tasks(self) -> None:
        """The task x embodiment feasibility matrix (what `h05 list tasks --benchmark twins` prints)."""
        embs = embodiment_names()
        print(f"{'suite':15s} {'task':14s} " + " ".join(f"{e:>12s}" for e in embs))
        for t in TASKS:
            cells = []
            for e in embs:
                spec = load_embodiment(e)
                cells.append(f"{t.max_steps(spec):>12d}" if t.feasible(spec) else f"{'-':>12s}")
            print(f"{t.suite:15s} {t.name:14s} " + " ".join(cells))
        print("cells: max_steps of the feasible pair; '-': infeasible (bimanual task on a one-armed robot)")
        print("pairs are named <task>@<embodiment>, e.g. h05 eval benchmark=twins suites=[spatial] tasks=[stack_blocks@so101]")


def find_pair(task: str, embodiment: str) -> TaskInfo:
    """The TaskInfo of ``task`` on ``embodiment``; errors name the bad value."""
    bench = TwinsBenchmark()
    for t in bench.tasks():
        if t.name == pair_name(task, embodiment):
            return t
    names = [t.name for t in bench.tasks()]
    raise UnknownNameError(f"no twin pair {pair_name(task, embodiment)!r}{suggest(pair_name(task, embodiment), names)}")
