"""Env sources for the runner: envs in this process, or hosted by env workers and rebuilt after any failure.

``EnvCache`` keeps one in-process env per task run; ``WorkerEnvCache`` has the
same interface (``get`` and ``close``) but builds ``envs.worker_client.RemoteEnv``: each env lives in
its own ``python -m envs.worker`` process, started with the benchmark family's
interpreter. The runner closes the cache after an episode error, so the next
episode always gets a fresh worker. ``EnvWorkerSettings.from_config`` reads
the ``env_workers`` section of the eval config and rejects unknown keys and
wrong types.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field, fields
from typing import Any, Hashable, Mapping

from envs.benchmarks import TaskInfo, find_task, get_benchmark
from envs.env_stack import make_env_stack
from envs.worker_client import RemoteEnv, WorkerTimeouts
from evaluators.plan import EpisodeSpec


class EnvWorkerConfigError(ValueError):
    """A bad ``env_workers`` config value (names the key and the value)."""


@dataclass(frozen=True)
class EnvWorkerSettings:
    """Whether envs run in worker processes, their interpreters, deadlines and extra wrappers."""

    enabled: bool = True
    python: dict[str, str] = field(default_factory=dict)
    timeouts: WorkerTimeouts = field(default_factory=WorkerTimeouts)
    wrappers: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | bool | None) -> "EnvWorkerSettings":
        if cfg is None or isinstance(cfg, bool):
            return cls(enabled=bool(cfg) if cfg is not None else True)
        if not isinstance(cfg, Mapping):
            raise EnvWorkerConfigError(f"env_workers must be true, false or a map, got {cfg!r}")
        known = {"enabled", "python", "make_s", "reset_s", "step_s", "episode_s", "wrappers"}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise EnvWorkerConfigError(f"unknown env_workers keys {unknown}; known: {sorted(known)}")
        enabled = cfg.get("enabled", True)
        if not isinstance(enabled, bool):
            raise EnvWorkerConfigError(f"env_workers.enabled must be true or false, got {enabled!r}")
        python = dict(cfg.get("python") or {})
        bad = {k: v for k, v in python.items() if not isinstance(v, str)}
        if bad:
            raise EnvWorkerConfigError(f"env_workers.python values must be interpreter paths, got {bad}")
        defaults = WorkerTimeouts()
        try:
            timeouts = WorkerTimeouts(**{f.name: cfg.get(f.name, getattr(defaults, f.name)) for f in fields(WorkerTimeouts)})
        except ValueError as exc:
            raise EnvWorkerConfigError(f"env_workers: {exc}") from None
        wrappers = []
        for w in cfg.get("wrappers") or []:
            if not isinstance(w, Mapping) or not isinstance(w.get("entry"), str) or ":" not in w["entry"]:
                raise EnvWorkerConfigError(f"env_workers.wrappers entries must be {{entry: 'module:attr', kwargs: {{}}}}, got {w!r}")
            wrappers.append({"entry": w["entry"], "kwargs": dict(w.get("kwargs") or {})})
        return cls(enabled=enabled, python=python, timeouts=timeouts, wrappers=tuple(wrappers))


def env_key(spec: EpisodeSpec) -> Hashable:
    """Episodes with the same key can run one after another on one built env."""
    return (spec.benchmark, spec.suite, str(spec.task), spec.embodiment, spec.max_steps)


class EnvCache:
    """Keeps one env alive while consecutive episodes share a task (``env_key``); envs run in this process."""

    collect_on_close = True  # the simulator lives here: free its reference cycles when it is closed

    def __init__(self, render: bool) -> None:
        self.render = render
        self.key: Hashable | None = None
        self.env: Any = None

    def get(self, spec: EpisodeSpec) -> tuple[Any, TaskInfo]:
        bench = get_benchmark(spec.benchmark)
        task = find_task(bench, spec.suite, spec.task)  # validates ids before anything is built
        key = env_key(spec)
        if self.key != key or self.env is None:
            self.key = None
            self.env = self._build(spec, bench, task)
            self.key = key
        return self.env, task

    def _build(self, spec: EpisodeSpec, bench: Any, task: TaskInfo) -> Any:
        self.close()
        return make_env_stack(bench, task, render=self.render, max_steps=spec.max_steps)

    def close(self) -> None:
        if self.env is not None:
            try:
                self.env.close()
            finally:
                self.env = None
                self.key = None
                if self.collect_on_close:  # now, not at a later cyclic collection (see envs.worker op_close)
                    gc.collect()


class WorkerEnvCache(EnvCache):
    """Keeps one env worker alive across episodes; its env is rebuilt in place when the task changes."""

    collect_on_close = False  # the simulator lives in the worker, which collects itself

    def __init__(self, render: bool, settings: EnvWorkerSettings | None = None) -> None:
        super().__init__(render)
        self.settings = settings or EnvWorkerSettings()

    def _build(self, spec: EpisodeSpec, bench: Any, task: TaskInfo) -> RemoteEnv:
        env = self.env
        if env is not None and env.benchmark == spec.benchmark and env.worker.alive():
            # Same simulator family: rebuild the env inside the running worker (saves the
            # interpreter start and imports); any failure falls back to a fresh worker.
            try:
                env.make(spec.suite, task.name, self.render, spec.max_steps)
                return env
            except Exception:  # noqa: BLE001 - the worker is suspect: replace it
                pass
        self.close()
        return RemoteEnv(
            spec.benchmark, spec.suite, task.name, render=self.render, max_steps=spec.max_steps,
            python_overrides=self.settings.python, timeouts=self.settings.timeouts, wrappers=self.settings.wrappers,
        )
