"""Benchmark registry: what ``h05 list`` shows and what the evaluator plans over.

A benchmark is a family of tasks with a protocol. Each is imported lazily
(its simulator may be heavy or live in another Python environment).
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import gymnasium as gym


@dataclass(frozen=True)
class TaskInfo:
    """One task of a benchmark and its protocol numbers."""

    benchmark: str
    suite: str
    name: str
    instruction: str
    embodiment: str
    max_steps: int
    num_init_states: int
    chunk_length: int
    execute_steps: int
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.name}"


class Benchmark(Protocol):
    """What the evaluator needs from a benchmark family."""

    name: str

    def suites(self) -> Sequence[str]: ...

    def tasks(self, suite: str | None = None) -> Sequence[TaskInfo]: ...

    def make_env(self, task: TaskInfo, render: bool = True, **kwargs: Any) -> gym.Env: ...

    def trials_per_task(self) -> int: ...

    def base_seed(self) -> int: ...

    def versions(self) -> dict[str, str]: ...


# name -> "module:attribute" of a zero-argument factory
BENCHMARK_FACTORIES: dict[str, str] = {
    "libero": "envs.libero.benchmark:LiberoBenchmark",
    "twins": "envs.twins.benchmark:TwinsBenchmark",
    "robocasa": "envs.robocasa.benchmark:RoboCasaBenchmark",
}

_loaded: dict[str, Benchmark] = {}


class UnknownNameError(KeyError):
    """A benchmark, suite or task name that does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def suggest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def get_benchmark(name: str) -> Benchmark:
    """Return the benchmark called ``name``; unknown names raise with suggestions."""
    if name not in BENCHMARK_FACTORIES:
        raise UnknownNameError(
            f"unknown benchmark {name!r}{suggest(name, list(BENCHMARK_FACTORIES))}; "
            f"known: {', '.join(BENCHMARK_FACTORIES)}"
        )
    if name not in _loaded:
        module, attr = BENCHMARK_FACTORIES[name].split(":")
        _loaded[name] = getattr(importlib.import_module(module), attr)()
    return _loaded[name]


def find_task(benchmark: Benchmark, suite: str, task: str | int) -> TaskInfo:
    """Look a task up by name or index within a suite; errors name the bad value."""
    if suite not in benchmark.suites():
        raise UnknownNameError(
            f"unknown suite {suite!r} in benchmark {benchmark.name!r}"
            f"{suggest(suite, benchmark.suites())}; known: {', '.join(benchmark.suites())}"
        )
    tasks = benchmark.tasks(suite)
    if isinstance(task, int) or (isinstance(task, str) and task.isdigit()):
        i = int(task)
        if not 0 <= i < len(tasks):
            raise UnknownNameError(f"task index {i} out of range for suite {suite!r} ({len(tasks)} tasks)")
        return tasks[i]
    names = [t.name for t in tasks]
    if task not in names:
        raise UnknownNameError(
            f"unknown task {task!r} in suite {suite!r}{suggest(task, names)}"
        )
    return tasks[names.index(task)]
