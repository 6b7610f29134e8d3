"""Several episodes at once: a pool of env workers and one batched policy.

Each slot is a thread that runs whole episodes with the ordinary executor and
its own worker-hosted env (the simulator runs in the worker process, so
slots step in parallel). The executors query a ``BatchedPolicy`` proxy: its
``infer`` hands the request to the ``InferenceBatcher``, which runs the real
policy once for every slot that is waiting at that moment. While one batch
is inferred, the other slots keep simulating.

Outcomes equal a sequential run of the same plan for any policy whose rows do
not depend on the rest of the batch (the baselines and ``H05Policy`` are
tested for that): episodes are independent, and each is seeded by its row.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Sequence

import numpy as np

from evaluators.env_pool import EnvWorkerSettings, WorkerEnvCache, env_key
from evaluators.executors import Executor
from evaluators.plan import EpisodeSpec
from evaluators.policy import EpisodeInfo, Policy, PolicyInput
from evaluators.work_queue import TaskAffineQueue


class _Request:
    __slots__ = ("inputs", "done", "result", "error")

    def __init__(self, inputs: Sequence[PolicyInput]) -> None:
        self.inputs = list(inputs)
        self.done = threading.Event()
        self.result: np.ndarray | None = None
        self.error: BaseException | None = None


class InferenceBatcher:
    """Collects queries from slots and answers them with one ``policy.infer`` per batch.

    A batch closes when every live slot is waiting or ``window_s`` has passed
    since its first request; the default 0 batches greedily: the policy answers
    whatever is pending as soon as it is free, and queries that arrive while it
    runs form the next batch (no slot waits for a window that may never fill).
    The loop sleeps on a condition variable, never polls. If the batched call raises or returns the wrong
    number of rows, each request is retried alone, so a fault stays with the
    episode that caused it.
    """

    def __init__(self, policy: Policy, slots: int, window_s: float = 0.0) -> None:
        self.policy = policy
        self.window_s = window_s
        self.lock = threading.Lock()  # serialises every call into the policy (infer and reset)
        self._pending: list[_Request] = []
        self._cv = threading.Condition()
        self._live = slots
        self._stop = False
        self.batches: list[int] = []  # batch sizes, for the record
        self._thread = threading.Thread(target=self._loop, name="inference-batcher", daemon=True)
        self._thread.start()

    def submit(self, inputs: Sequence[PolicyInput]) -> np.ndarray:
        req = _Request(inputs)
        with self._cv:
            self._pending.append(req)
            self._cv.notify_all()
        req.done.wait()
        if req.error is not None:
            raise req.error
        assert req.result is not None
        return req.result

    def slot_finished(self) -> None:
        with self._cv:
            self._live -= 1
            self._cv.notify_all()

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._stop:
                    self._cv.wait()
                if self._stop and not self._pending:
                    return
                deadline = time.monotonic() + self.window_s
                while len(self._pending) < self._live and not self._stop:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cv.wait(left)
                batch, self._pending = self._pending, []
            self._answer(batch)

    def _answer(self, batch: list[_Request]) -> None:
        self.batches.append(len(batch))
        rows = [x for r in batch for x in r.inputs]
        try:
            with self.lock:
                out = np.asarray(self.policy.infer(rows))
            if out.ndim < 1 or out.shape[0] != len(rows):
                raise ValueError(f"batched infer returned {out.shape[0] if out.ndim else 'no'} rows for {len(rows)}")
        except Exception:  # noqa: BLE001 - find the culprit: answer each request alone
            for r in batch:
                try:
                    with self.lock:
                        r.result = self.policy.infer(r.inputs)
                except Exception as exc:  # noqa: BLE001 - handed to the episode's executor
                    r.error = exc
                r.done.set()
            return
        start = 0
        for r in batch:
            r.result = out[start : start + len(r.inputs)]
            start += len(r.inputs)
            r.done.set()


class BatchedPolicy:
    """What each slot's executor sees: the policy's identity, inference through the batcher."""

    def __init__(self, policy: Policy, batcher: InferenceBatcher) -> None:
        self._policy, self._batcher = policy, batcher
        self.name = policy.name
        self.chunk_length = policy.chunk_length
        self.needs_images = policy.needs_images

    def reset(self, episode: EpisodeInfo) -> None:
        with self._batcher.lock:
            self._policy.reset(episode)

    def infer(self, batch: Sequence[PolicyInput]) -> np.ndarray:
        return self._batcher.submit(batch)

    def describe(self) -> dict[str, Any]:
        return self._policy.describe()


def run_parallel(
    todo: Sequence[EpisodeSpec],
    sink: Any,
    policy: Policy,
    executor: Executor,
    render: bool,
    settings: EnvWorkerSettings,
    workers: int,
    first_attempt: dict[str, int] | None = None,
) -> None:
    """Run ``todo`` on ``workers`` slots; records go to ``sink.write`` as episodes finish.

    Slots take episodes of the task their env already serves first (``evaluators.work_queue``).
    An env error is retried in the same slot on a fresh env worker (``runner.run_attempts``);
    ``first_attempt`` maps an episode id to the attempt to start from (resume), default 1.
    """
    from evaluators.runner import run_attempts

    if not settings.enabled:
        raise ValueError("workers > 1 needs env_workers.enabled: true (simulators cannot share one process)")
    slots = min(workers, len(todo))
    work = TaskAffineQueue(todo)
    batcher = InferenceBatcher(policy, slots)
    proxy = BatchedPolicy(policy, batcher)
    failures: list[BaseException] = []

    def slot() -> None:
        envs = WorkerEnvCache(render, settings)
        current = None
        try:
            while not failures:
                spec = work.take(current)
                if spec is None:
                    return
                current = env_key(spec)
                run_attempts(spec, envs, proxy, executor, sink, (first_attempt or {}).get(spec.episode_id, 1))
        except BaseException as exc:  # noqa: BLE001 - a harness fault (e.g. the store): stop all slots
            failures.append(exc)
        finally:
            work.leave(current)
            envs.close()
            batcher.slot_finished()

    threads = [threading.Thread(target=slot, name=f"slot-{i}", daemon=True) for i in range(slots)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(timeout=0.5)
    except KeyboardInterrupt as exc:  # no new episodes start; running ones die with their workers
        failures.append(exc)
        raise
    finally:
        batcher.close()
    if failures:
        raise failures[0]
