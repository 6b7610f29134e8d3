"""The one way an evaluated env is built, in process or inside an env worker.

``make_env_stack`` = benchmark env -> optional extra wrappers -> sensory
shift (identity unless an episode asks for it at reset) -> ``CheckedEnv``
(observation contract and simulator stability checks). Building the same
stack on both sides of the worker boundary keeps their outcomes identical.
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping, Sequence

import gymnasium as gym

from envs.benchmarks import Benchmark, TaskInfo


def load_entry(entry: str) -> Any:
    """Import ``module:attribute`` (dotted attributes allowed); errors name the entry."""
    if not isinstance(entry, str) or ":" not in entry:
        raise ValueError(f"wrapper entry must be 'module:attribute', got {entry!r}")
    module, attr = entry.split(":", 1)
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def make_env_stack(
    bench: Benchmark,
    task: TaskInfo,
    render: bool,
    max_steps: int | None = None,
    wrappers: Sequence[Mapping[str, Any]] = (),
) -> gym.Env:
    from envs.worker_checks import CheckedEnv

    env = bench.make_env(task, render=render, max_steps=max_steps)
    for w in wrappers:
        env = load_entry(w["entry"])(env, **(w.get("kwargs") or {}))
    try:
        from envs.shift import SensoryShift
    except ImportError:  # an interpreter without the shift dependencies: shifted episodes are refused later
        pass
    else:
        env = SensoryShift(env)
    return CheckedEnv(env)
