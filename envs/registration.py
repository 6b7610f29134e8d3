"""Register every task of every importable benchmark as a gymnasium env under ``h05/``.

Ids are ``h05/<suite>.<task>-v0`` (``@`` in a task name becomes ``-``). Importing this module registers them::

    import gymnasium as gym
    env = gym.make("envs.registration:h05/libero_spatial.<task name>-v0", render=False)

Keyword arguments to ``gym.make`` go to the benchmark's ``make_env``
(``render``, ``max_steps``, ...).
"""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym

from envs.benchmarks import BENCHMARK_FACTORIES, find_task, get_benchmark

NAMESPACE = "h05"


def env_id(suite: str, task: str) -> str:
    """Gymnasium allows letters, digits, '_', '.', '-' in names: a twin pair's '@' becomes '-'."""
    return f"{NAMESPACE}/{suite}.{task.replace('@', '-')}-v0"


def make_task_env(benchmark: str, suite: str, task: str, **kwargs: Any) -> gym.Env:
    """Entry point behind every registered id."""
    bench = get_benchmark(benchmark)
    return bench.make_env(find_task(bench, suite, task), **kwargs)


def register_all() -> list[str]:
    """Register all tasks of the benchmarks whose simulators import here; return the ids."""
    ids = []
    for name in BENCHMARK_FACTORIES:
        try:
            tasks = get_benchmark(name).tasks()
        except ImportError as exc:  # a simulator that lives in another Python environment
            warnings.warn(f"benchmark {name!r} not registered with gymnasium here: {exc}")
            continue
        for t in tasks:
            i = env_id(t.suite, t.name)
            if i not in gym.registry:
                gym.register(
                    id=i,
                    entry_point=make_task_env,
                    kwargs={"benchmark": name, "suite": t.suite, "task": t.name},
                    disable_env_checker=True,
                )
            ids.append(i)
    return ids


REGISTERED = register_all()
