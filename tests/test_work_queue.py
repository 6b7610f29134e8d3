"""The parallel runner's work queue: slots keep their task, spread over tasks, and every episode runs once."""

from __future__ import annotations

import threading
from collections import Counter

from evaluators.plan import build_plan
from evaluators.env_pool import env_key
from evaluators.work_queue import TaskAffineQueue

TASKS = ["place_on_pad@so101", "place_on_pad@g1", "place_left_of@d1"]


def plan(trials: int = 6):
    return build_plan("twins", ["spatial"], TASKS, trials, policy="random", max_steps=10)


def test_a_slot_keeps_its_task_until_the_task_runs_out():
    specs = plan()
    queue = TaskAffineQueue(specs)
    first = queue.take(None)
    key = env_key(first)
    same = [queue.take(key) for _ in range(5)]
    assert [env_key(s) for s in same] == [key] * 5
    assert [s.trial for s in [first, *same]] == list(range(6))  # plan order within the task
    other = queue.take(key)  # task exhausted: the slot moves on
    assert env_key(other) != key
    assert queue.switches == 2


def test_slots_spread_over_tasks_and_join_the_largest_remainder():
    specs = plan()
    queue = TaskAffineQueue(specs)
    starts = [queue.take(None) for _ in range(3)]
    assert len({env_key(s) for s in starts}) == 3  # three slots, three tasks, three envs built
    # a fourth slot joins the task with the most episodes left per slot serving it: all tie -> plan order
    fourth = queue.take(None)
    assert env_key(fourth) == env_key(starts[0])
    # a slot that leaves frees its share: the next newcomer goes to the task it served
    queue.leave(env_key(starts[1]))
    assert env_key(queue.take(None)) == env_key(starts[1])


def test_every_episode_is_handed_out_exactly_once_across_threads():
    specs = plan(trials=40)
    queue = TaskAffineQueue(specs)
    taken: list[str] = []
    lock = threading.Lock()

    def slot() -> None:
        current = None
        while (spec := queue.take(current)) is not None:
            current = env_key(spec)
            with lock:
                taken.append(spec.episode_id)
        queue.leave(current)

    threads = [threading.Thread(target=slot) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(taken) == Counter(s.episode_id for s in specs)
    assert len(queue) == 0
    assert queue.switches < len(specs) // 4  # far fewer env builds than episodes
