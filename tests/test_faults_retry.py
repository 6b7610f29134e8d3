"""Retry-once of episodes lost to the infrastructure (issue 10).

Real twins env workers (``place_on_pad@so101``) with the scripted expert
replayed (it succeeds), real faults from ``envs.worker_faults``: a worker
SIGKILLed mid-episode on the first attempt only (``once_marker``), a crash
that hits both attempts, a run interrupted between the two attempts, and a
policy returning NaN, which is not retried.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from evaluators.ablate_policies import ExpertReplayPolicy
from evaluators.attempts import MAX_ATTEMPTS, is_final, latest_attempts
from evaluators.env_pool import EnvWorkerSettings
from evaluators.plan import build_plan, plan_hash
from evaluators.runner import OUTCOME_FIELDS, run_episodes
from evaluators.status import run_status
from evaluators.store import EpisodeStore
from leaderboards.success_table import records_frame, success_table

pytestmark = pytest.mark.faults

FAULTED = 1  # init index of the faulted episode
CRASH_STEP = 40  # mid-episode: the expert needs > 100 steps


def _plan():
    return build_plan("twins", ["spatial"], ["place_on_pad@so101"], 3, policy="expert-replay")


def _settings(once_marker=None) -> EnvWorkerSettings:
    kwargs = {"steps": CRASH_STEP, "init_index": FAULTED}
    if once_marker is not None:
        kwargs["once_marker"] = str(once_marker)
    return EnvWorkerSettings.from_config(
        {"enabled": True, "wrappers": [{"entry": "envs.worker_faults:CrashAfter", "kwargs": kwargs}]})


def _run(root, settings=None, workers=1, **kw):
    specs = _plan()
    with EpisodeStore(root) as store:
        store.bind_plan(plan_hash(specs), {"episodes": len(specs)})
        return run_episodes(specs, store, ExpertReplayPolicy(), progress=False,
                            env_workers=settings or EnvWorkerSettings(), workers=workers, **kw)


def _outcome(rec):
    return {k: rec.get(k) for k in OUTCOME_FIELDS if k != "attempt"}


def _attempts(root):
    out: dict = {}
    for rec in EpisodeStore(root).iter_attempts():
        out.setdefault(rec["spec"]["init_index"], []).append(rec)
    return out


def _dead(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    _run(root)
    return {r["spec"]["init_index"]: r for r in EpisodeStore(root).records()}


@pytest.mark.parametrize("workers", [1, 2])
def test_worker_killed_mid_episode_is_retried_once_on_a_fresh_worker(tmp_path, clean, workers):
    assert [r["status"] for _, r in sorted(clean.items())] == ["success"] * 3
    marker = tmp_path / "crashed-once"
    _run(tmp_path / "run", _settings(marker), workers=workers)
    assert marker.exists(), "the fault fired"
    attempts = _attempts(tmp_path / "run")
    first, second = attempts[FAULTED]
    assert (first["attempt"], first["status"], first["error_kind"]) == (1, "error", "env")
    assert "killed by SIGKILL during 'run_actions'" in first["error"]
    assert _dead(int(re.search(r"env worker pid (\d+)", first["error"]).group(1)))
    # the retry ran on a fresh worker and matches an unfaulted run exactly
    assert second["attempt"] == 2 and _outcome(second) == _outcome(clean[FAULTED])
    for index in set(clean) - {FAULTED}:  # no other episode affected
        (rec,) = attempts[index]
        assert rec["attempt"] == 1 and _outcome(rec) == _outcome(clean[index])
    # tables, status and resume see the final attempt: the episode counts once, as a success
    records = EpisodeStore(tmp_path / "run").records()
    assert len(records) == 3 and all(r["status"] == "success" for r in records)
    table = success_table(records_frame(records), [(s.suite, s.task) for s in _plan()])
    assert table.iloc[-1][["successes", "n", "errors", "missing"]].tolist() == [3, 3, 0, 0]
    status = run_status(tmp_path / "run")
    assert (status.recorded, status.errors) == (3, 0)
    assert _run(tmp_path / "run", _settings(marker), workers=workers) == []


def test_a_fault_on_both_attempts_leaves_two_error_records_and_the_run_finishes(tmp_path, clean):
    written = _run(tmp_path, _settings())
    assert len(written) == 4
    first, second = _attempts(tmp_path)[FAULTED]
    for attempt, rec in enumerate((first, second), 1):
        assert (rec["attempt"], rec["status"], rec["error_kind"]) == (attempt, "error", "env")
        assert "killed by SIGKILL during 'run_actions'" in rec["error"]
    for index in set(clean) - {FAULTED}:
        (rec,) = _attempts(tmp_path)[index]
        assert _outcome(rec) == _outcome(clean[index])
    status = run_status(tmp_path)
    assert (status.recorded, status.errors) == (3, 1)
    assert _run(tmp_path, _settings()) == [], "the final attempt is recorded: no third attempt on resume"


class Interrupted(Exception):
    pass


def _stop_after_first_error(record):
    if record["status"] == "error":
        raise Interrupted(record["episode_id"])  # the coordinator dies between the two attempts


def test_resume_retries_an_episode_whose_only_record_is_a_first_attempt_env_error(tmp_path, clean):
    with pytest.raises(Interrupted):
        _run(tmp_path, _settings(), on_record=_stop_after_first_error)
    (only,) = _attempts(tmp_path)[FAULTED]
    assert only["attempt"] == 1 and not is_final(only)
    assert run_status(tmp_path).recorded == 1  # init 0 only; the faulted episode is not done
    written = _run(tmp_path)  # no fault this time
    assert [(r["spec"]["init_index"], r["attempt"]) for r in written] == [(FAULTED, 2), (2, 1)]
    assert _outcome(written[0]) == _outcome(clean[FAULTED])
    assert run_status(tmp_path).recorded == 3


class NanForOneEpisode(ExpertReplayPolicy):
    """Returns NaN actions in the faulted episode: a policy fault, never retried."""

    def reset(self, episode):
        super().reset(episode)
        self._bad = episode.seed

    def infer(self, batch):
        out = np.asarray(super().infer(batch), dtype=np.float32)
        if self._bad == _plan()[FAULTED].seed:
            out[:, 2, 0] = np.nan
        return out


def test_a_policy_nan_fault_is_not_retried(tmp_path, clean):
    specs = _plan()
    with EpisodeStore(tmp_path) as store:
        written = run_episodes(specs, store, NanForOneEpisode(), progress=False, env_workers=EnvWorkerSettings())
    assert len(written) == 3
    faulted = [r for r in written if r["spec"]["init_index"] == FAULTED]
    assert [(r["attempt"], r["status"], r["error_kind"]) for r in faulted] == [(1, "error", "policy")]
    assert "non-finite" in faulted[0]["error"]
    assert is_final(faulted[0])


def test_store_keeps_every_attempt_and_reads_the_latest(tmp_path):
    (tmp_path / "records").mkdir()
    env_error = {"status": "error", "error_kind": "env", "error": "killed"}
    (tmp_path / "records" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"episode_id": "old", **env_error},  # written before the attempt field: attempt 1, retry pending
        {"episode_id": "e1", "attempt": 1, **env_error},
        {"episode_id": "pol", "attempt": 1, "status": "error", "error_kind": "policy"},
        {"episode_id": "dup", "attempt": 1, "status": "failure", "tag": "first"},
    ]) + '{"episode_id": "cut", "attem')
    (tmp_path / "records" / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"episode_id": "e1", "attempt": 2, "status": "success"},
        {"episode_id": "dup", "attempt": 1, "status": "failure", "tag": "second"},
    ]))
    store = EpisodeStore(tmp_path)
    with pytest.warns(UserWarning, match="cut off mid-write"):
        assert len(list(store.iter_attempts())) == 6
    with pytest.warns(UserWarning):
        latest = {r["episode_id"]: r for r in store.records()}
    assert list(latest) == ["old", "e1", "pol", "dup"]
    assert latest["e1"]["status"] == "success" and latest["dup"]["tag"] == "first"
    with pytest.warns(UserWarning):
        assert store.done_ids() == {"e1", "pol", "dup"}
    assert MAX_ATTEMPTS == 2 and is_final({**env_error, "attempt": 2})
    assert latest_attempts([{"episode_id": "x", "attempt": 2}, {"episode_id": "x", "attempt": 1}])["x"]["attempt"] == 2
