"""Which episode a parallel slot runs next: keep the slot's env when possible.

Building an env is the expensive part of a task switch (a MuJoCo model
compiled from XML and a new renderer for the twins, a robosuite env for
LIBERO and RoboCasa), so a slot that just ran an episode of task T takes the
next episode of T while there is one. A slot without work of its own task
joins the task with the most episodes left per slot already serving it,
which spreads slots over tasks at the start and sends them to the largest
remainders at the end. Plan order decides ties, and within a task episodes
go out in plan order.

Outcomes do not depend on this order: every episode resets its env from its
own seed and init state (``tests/test_parallel_runner.py`` compares a parallel
run with a sequential one).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from typing import Hashable, Sequence

from evaluators.env_pool import env_key
from evaluators.plan import EpisodeSpec


class TaskAffineQueue:
    """A thread-safe work queue of episode specs that prefers the caller's current task."""

    def __init__(self, specs: Sequence[EpisodeSpec]) -> None:
        self._groups: OrderedDict[Hashable, deque[EpisodeSpec]] = OrderedDict()
        for spec in specs:
            self._groups.setdefault(env_key(spec), deque()).append(spec)
        self._serving: dict[Hashable, int] = {key: 0 for key in self._groups}
        self._lock = threading.Lock()
        self.switches = 0  # times a slot had to move to another task (for benchmarks)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._groups.values())

    def take(self, current: Hashable | None = None) -> EpisodeSpec | None:
        """The next spec for a slot whose env serves ``current`` (a key of ``env_key``, or None); None when empty."""
        with self._lock:
            group = self._groups.get(current) if current is not None else None
            if not group:
                best, best_share = None, -1.0
                for key, queue in self._groups.items():
                    if queue:
                        share = len(queue) / (self._serving[key] + 1)
                        if share > best_share:
                            best, best_share = key, share
                if best is None:
                    return None
                if current in self._serving:
                    self._serving[current] -= 1
                self._serving[best] += 1
                self.switches += 1
                group = self._groups[best]
            return group.popleft()

    def leave(self, current: Hashable | None) -> None:
        """A slot stops (no more work or a fault): it no longer serves ``current``."""
        with self._lock:
            if current in self._serving and self._serving[current] > 0:
                self._serving[current] -= 1
