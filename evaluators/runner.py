"""Run planned episodes against a policy and append one record per episode.

Episodes already in the store are skipped (resume). An exception inside an
episode costs that episode only: it is recorded with ``status="error"`` and
its reason, the env is rebuilt, and the run goes on. An env error (worker
died or hung, simulator raised) is retried once on the fresh env; each
attempt is its own record (``attempt``: 1, 2; ``evaluators.attempts``), and
a resumed run retries an episode whose only record is such a first attempt.
"""

from __future__ import annotations

import os
import platform
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from importlib import metadata
from typing import Any, Callable, Sequence

from envs.benchmarks import get_benchmark
from envs.render_device import render_fields
from envs.shift import check_shift_applied, shift_options
from envs.unified_space import embodiment
from evaluators.attempts import attempt_of, is_final, latest_attempts
from evaluators.env_pool import EnvCache, EnvWorkerSettings, WorkerEnvCache
from evaluators.executors import Executor, PolicyFault, executor_for_spec, make_executor
from evaluators.plan import EpisodeSpec
from evaluators.policy import EpisodeInfo, Policy
from evaluators.progress import Progress
from evaluators.store import EpisodeStore

OUTCOME_FIELDS = (
    "episode_id", "spec", "status", "success", "steps", "reward", "truncated", "queries",
    "final_state_sha", "error_kind", "error", "attempt",
)


def package_versions(benchmark: str) -> dict[str, str]:
    versions = {"python": platform.python_version(), "numpy": metadata.version("numpy")}
    try:
        versions["h05-bench"] = metadata.version("h05-bench")
    except metadata.PackageNotFoundError:
        versions["h05-bench"] = "unknown"
    versions.update(get_benchmark(benchmark).versions())
    if "torch" in sys.modules:
        versions["torch"] = sys.modules["torch"].__version__
    return versions


class RecordSink:
    """Completes records (versions, renderer) and writes them: store, progress, callback; thread-safe."""

    def __init__(self, store: EpisodeStore, bar: Progress, render: bool,
                 on_record: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.store, self.bar, self.render, self.on_record = store, bar, render, on_record
        self.written: list[dict[str, Any]] = []
        self._versions: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def write(self, spec: EpisodeSpec, record: dict[str, Any]) -> None:
        with self._lock:
            if spec.benchmark not in self._versions:
                self._versions[spec.benchmark] = package_versions(spec.benchmark)
            record["versions"] = self._versions[spec.benchmark]
            record["renderer"] = os.environ.get("MUJOCO_GL", "none") if self.render else "none"
            record.setdefault("render_device", "unknown" if self.render else "none")  # set by run_one after reset
            self.store.append(record)
            self.written.append(record)
            if is_final(record):
                self.bar.update(record)
            else:
                self.bar.note(f"episode {record['episode_id']} attempt {record['attempt']}: {record['error']}; "
                              "retrying on a fresh env")
            if self.on_record is not None:
                self.on_record(record)


def make_env_source(render: bool, env_workers: EnvWorkerSettings | None) -> EnvCache | WorkerEnvCache:
    """Worker-hosted envs when enabled, else envs in this process."""
    if env_workers is not None and env_workers.enabled:
        return WorkerEnvCache(render, env_workers)
    return EnvCache(render=render)


def run_episodes(
    specs: Sequence[EpisodeSpec],
    store: EpisodeStore,
    policy: Policy,
    executor: Executor | None = None,
    render: bool | None = None,
    progress: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    env_workers: EnvWorkerSettings | None = None,
    workers: int = 1,
) -> list[dict[str, Any]]:
    """Run every spec not yet recorded; return the records written by this call.

    With ``env_workers`` enabled each env runs in an env worker process
    (``evaluators.env_pool``): a crashed or hung simulator costs one episode.
    ``workers > 1`` runs that many episodes at once, each in its own env
    worker, with one batched policy (``evaluators.parallel``).
    """
    executor = executor or make_executor("sync")
    render = policy.needs_images if render is None else render
    latest = latest_attempts(store.iter_records())
    todo = [s for s in specs if s.episode_id not in latest or not is_final(latest[s.episode_id])]
    first_attempt = {s.episode_id: attempt_of(latest[s.episode_id]) + 1 for s in todo if s.episode_id in latest}
    bar = Progress(total=len(specs), initial=len(specs) - len(todo), enabled=progress, label=policy.name)
    sink = RecordSink(store, bar, render, on_record)
    try:
        if workers > 1 and len(todo) > 1:
            from evaluators.parallel import run_parallel

            run_parallel(todo, sink, policy, executor, render, env_workers or EnvWorkerSettings(), workers, first_attempt)
        else:
            envs = make_env_source(render, env_workers)
            try:
                for spec in todo:
                    run_attempts(spec, envs, policy, executor, sink, first_attempt.get(spec.episode_id, 1))
            finally:
                envs.close()
    finally:
        bar.close()
    return sink.written


def run_attempts(spec: EpisodeSpec, envs: EnvCache | WorkerEnvCache, policy: Policy, executor: Executor,
                 sink: RecordSink, attempt: int = 1) -> None:
    """Run ``spec`` from attempt ``attempt`` until an attempt's record is final; every attempt is written."""
    while True:
        record = run_one(spec, envs, policy, executor, attempt)
        sink.write(spec, record)
        if is_final(record):
            return
        attempt += 1


def run_one(spec: EpisodeSpec, envs: EnvCache | WorkerEnvCache, policy: Policy, executor: Executor,
            attempt: int = 1) -> dict[str, Any]:
    """Run one attempt of an episode; any exception becomes an error record and the env is dropped."""
    t_start = time.perf_counter()
    record: dict[str, Any] = {
        "episode_id": spec.episode_id,
        "attempt": attempt,
        "spec": spec.row(),
        "status": "error",
        "success": False,
        "steps": 0,
        "reward": 0.0,
        "truncated": False,
        "queries": 0,
        "error_kind": None,
        "error": None,
    }
    phase = "env"
    try:
        env, task = envs.get(spec)
        t0 = time.perf_counter()
        obs, info = env.reset(seed=spec.seed, options={"init_index": spec.init_index, **shift_options(spec)})
        check_shift_applied(spec, info)
        reset_s = time.perf_counter() - t0
        record.update(render_fields(env, envs.render))
        phase = "policy"
        policy.reset(
            EpisodeInfo(
                episode_id=spec.episode_id,
                benchmark=spec.benchmark,
                task=task.key,
                instruction=task.instruction,
                embodiment=task.embodiment,
                seed=spec.seed,
                action_mask=embodiment(task.embodiment).mask("action"),
                noop_action=info["noop_action"],
            )
        )
        phase = "env"
        result = executor_for_spec(spec, executor).run(env, policy, spec.episode_id, obs, spec.execute_steps)
        record.update(
            status="success" if result.success else "failure",
            success=result.success,
            steps=result.steps,
            reward=result.reward,
            truncated=result.truncated,
            queries=result.queries,
            final_state_sha=result.final_state_sha,
            executor_info=result.executor_info,
            timing={"reset_s": reset_s, "inference_s": result.inference_s, "sim_s": result.sim_s},
        )
    except PolicyFault as exc:
        record.update(error_kind="policy", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - one episode lost, never the run
        record.update(error_kind=phase, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(limit=8))
        envs.close()
    record.setdefault("timing", {})["wall_s"] = time.perf_counter() - t_start
    record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record["host"] = platform.node()
    return record
