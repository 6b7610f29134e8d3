"""Several episodes at once with one batched policy: same records as a sequential run."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from evaluators.baselines import RandomPolicy
from evaluators.env_pool import EnvWorkerSettings
from evaluators.parallel import InferenceBatcher
from evaluators.plan import build_plan
from evaluators.policy import PolicyInput
from evaluators.runner import OUTCOME_FIELDS, run_episodes
from evaluators.store import EpisodeStore


class RowPolicy:
    """Row i of the answer encodes the query's step; raises if asked about a poisoned episode."""

    name, chunk_length, needs_images = "rows", 4, False

    def __init__(self, poison: str | None = None) -> None:
        self.poison, self.calls = poison, []

    def infer(self, batch):
        self.calls.append(len(batch))
        if any(x.episode_id == self.poison for x in batch):
            raise RuntimeError(f"cannot serve {self.poison}")
        return np.stack([np.full((self.chunk_length, 200), x.step, np.float32) for x in batch])


def _ask(batcher, episode_id, step, out):
    try:
        out[episode_id] = batcher.submit([PolicyInput(episode_id, {}, step)])
    except RuntimeError as exc:
        out[episode_id] = exc


def test_one_forward_for_every_waiting_slot_and_faults_stay_with_their_episode():
    policy = RowPolicy()
    batcher = InferenceBatcher(policy, slots=3, window_s=5.0)  # closes only when all 3 wait
    out: dict = {}
    threads = [threading.Thread(target=_ask, args=(batcher, f"e{i}", i, out)) for i in range(3)]
    [t.start() for t in threads]
    [t.join(10) for t in threads]
    batcher.close()
    assert policy.calls == [3]
    assert all(out[f"e{i}"][0, 0, 0] == i for i in range(3))

    poisoned = RowPolicy(poison="e1")
    batcher = InferenceBatcher(poisoned, slots=3, window_s=5.0)
    out = {}
    threads = [threading.Thread(target=_ask, args=(batcher, f"e{i}", i, out)) for i in range(3)]
    [t.start() for t in threads]
    [t.join(10) for t in threads]
    batcher.close()
    assert poisoned.calls[0] == 3 and sorted(poisoned.calls[1:]) == [1, 1, 1]
    assert isinstance(out["e1"], RuntimeError)
    assert out["e0"][0, 0, 0] == 0 and out["e2"][0, 0, 0] == 2


def _outcomes(root):
    return {r["episode_id"]: {k: r.get(k) for k in OUTCOME_FIELDS} for r in EpisodeStore(root).records()}


def test_parallel_run_equals_sequential_run(tmp_path):
    # three tasks on two slots: slots keep a task, then switch (evaluators.work_queue), unlike the sequential run
    specs = build_plan("twins", ["spatial"], ["place_on_pad@so101", "place_left_of@d1", "place_on_pad@g1"], 2,
                       policy="random", max_steps=30)
    settings = EnvWorkerSettings.from_config({"enabled": True})
    with EpisodeStore(tmp_path / "seq") as store:
        run_episodes(specs, store, RandomPolicy(), progress=False, env_workers=settings)
    with EpisodeStore(tmp_path / "par") as store:
        written = run_episodes(specs, store, RandomPolicy(), progress=False, env_workers=settings, workers=2)
    assert len(written) == 6
    seq, par = _outcomes(tmp_path / "seq"), _outcomes(tmp_path / "par")
    assert seq == par and len({o["final_state_sha"] for o in seq.values()}) == 6
    with EpisodeStore(tmp_path / "par") as store:  # resume: nothing left to run
        assert run_episodes(specs, store, RandomPolicy(), progress=False, env_workers=settings, workers=2) == []


def test_workers_need_env_workers(tmp_path):
    specs = build_plan("twins", ["spatial"], ["place_on_pad@so101"], 2, policy="random", max_steps=5)
    with EpisodeStore(tmp_path) as store, pytest.raises(ValueError, match="workers > 1 needs env_workers"):
        run_episodes(specs, store, RandomPolicy(), progress=False,
                     env_workers=EnvWorkerSettings.from_config({"enabled": False}), workers=2)
