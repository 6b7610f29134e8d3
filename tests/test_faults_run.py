"""Run-level faults: bad policies, remote policy errors, a killed coordinator, a cut record, a full disk."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from evaluators.baselines import NoOpPolicy
from evaluators.plan import build_plan
from evaluators.runner import run_episodes
from evaluators.serving.client import RemotePolicy
from evaluators.serving.server import PolicyServer
from evaluators.store import EpisodeStore, StoreWriteError

pytestmark = pytest.mark.faults
ROOT = Path(__file__).resolve().parents[1]


def _plan(trials: int, max_steps: int = 10):
    return build_plan(benchmark="libero", suites=["libero_spatial"], tasks=[0], trials_per_task=trials, policy="faults",
                      seed=None, executor="sync", execute_steps=8, max_steps=max_steps)


def _counts(root: Path) -> collections.Counter:
    c = collections.Counter()
    for path in (root / "records").glob("*.jsonl"):
        for line in path.read_bytes().splitlines(keepends=True):
            if line.endswith(b"\n"):
                c[json.loads(line)["episode_id"]] += 1
    return c


class MisbehavingPolicy(NoOpPolicy):
    """A no-op policy that misbehaves in one way per episode, chosen by the episode's seed."""

    MODES = ["ok", "raise", "nan", "inf", "shape", "dtype", "ok"]

    def reset(self, episode):
        super().reset(episode)
        self._mode = self.MODES[episode.seed - 41]

    def infer(self, batch):
        out = super().infer(batch)
        if self._mode == "raise":
            raise RuntimeError("model exploded")
        if self._mode == "nan":
            out[0, 3, 18] = np.nan
        if self._mode == "inf":
            out[0, 0, 0] = np.inf
        if self._mode == "shape":
            return out[:, :, :7]
        if self._mode == "dtype":
            return out.astype(np.int64)
        return out


EXPECTED = {
    "raise": "RuntimeError: model exploded",
    "nan": "returned non-finite actions (1 values; first at batch 0, step 3, slot 18",
    "inf": "returned non-finite actions (1 values; first at batch 0, step 0, slot 0",
    "shape": "returned shape (1, 16, 7), expected (1, 16, 200)",
    "dtype": "returned dtype int64, expected a float type",
}


def _check_policy_faults(records):
    for rec in records:
        mode = MisbehavingPolicy.MODES[rec["spec"]["seed"] - 41]
        if mode == "ok":
            assert rec["status"] == "failure" and rec["steps"] == 10, rec
        else:
            assert rec["status"] == "error" and rec["error_kind"] == "policy", rec
            assert EXPECTED[mode] in rec["error"], (mode, rec["error"])


def test_misbehaving_policy_costs_only_its_episodes(tmp_path):
    specs = _plan(len(MisbehavingPolicy.MODES))
    with EpisodeStore(tmp_path) as store:
        written = run_episodes(specs, store, MisbehavingPolicy(), render=False, progress=False)
    _check_policy_faults(written)
    with EpisodeStore(tmp_path, writer="rerun") as store:
        assert run_episodes(specs, store, MisbehavingPolicy(), render=False, progress=False) == []
    assert set(_counts(tmp_path).values()) == {1} and len(_counts(tmp_path)) == len(specs)


def test_misbehaving_policy_behind_the_policy_server(tmp_path):
    specs = _plan(len(MisbehavingPolicy.MODES))
    with PolicyServer(MisbehavingPolicy(), port=0, token="t") as server:
        remote = RemotePolicy(server.url, token="t")
        with EpisodeStore(tmp_path) as store:
            written = run_episodes(specs, store, remote, render=False, progress=False)
        remote.close()
    _check_policy_faults(written)
    assert all("policy error" in r["error"] for r in written if r["status"] == "error")


def _eval_cmd(runs: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "evaluators.cli", "eval", "policy=noop", "trials_per_task=4", "tasks=[0]",
            "max_steps=40", "render=false", "progress=false", f"runs_dir={runs}", "name=killed", *extra]


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def test_coordinator_sigkilled_mid_run_then_a_cut_record_then_rerun_completes(tmp_path):
    run = tmp_path / "killed"
    records = run / "records" / "shard-0000.jsonl"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(_eval_cmd(tmp_path), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if records.exists() and records.read_bytes().count(b"\n") >= 2:
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    workers = _children(proc.pid)
    assert workers, "the coordinator runs its env in a worker process"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)
    assert not any(Path(f"/proc/{w}").exists() and "Z" not in Path(f"/proc/{w}/stat").read_text().split(")")[1][:3]
                   for w in workers), "env workers must die with their coordinator"
    before = _counts(run)
    assert 2 <= sum(before.values()) < 4 and set(before.values()) == {1}
    # the last record was cut off mid-write
    data = records.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    cut_id = json.loads(data[last_start:])["episode_id"]
    records.write_bytes(data[: last_start + (len(data) - last_start) // 2])
    done = subprocess.run(_eval_cmd(tmp_path, "env_workers.enabled=false"), cwd=tmp_path, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    after = _counts(run)
    assert len(after) == 4 and set(after.values()) == {1}
    assert cut_id in after
    assert all(after[e] == 1 for e in before)


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "h05-full-disk-test", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_stops_the_run_clearly_and_rerun_completes(small_disk, tmp_path):
    specs = _plan(8, max_steps=5)
    filler = small_disk / "filler"
    st = os.statvfs(small_disk)
    filler.write_bytes(b"x" * ((st.f_bavail - 1) * st.f_frsize))  # leave one block for records
    root = small_disk / "run"
    store = EpisodeStore(root)
    with pytest.raises(StoreWriteError, match="No space left on device.*rerun to resume") as err:
        run_episodes(specs, store, NoOpPolicy(), render=False, progress=False)
    store.close()
    kept = _counts(root)
    assert 1 <= len(kept) < len(specs) and set(kept.values()) == {1}
    raw = next((root / "records").glob("*.jsonl")).read_bytes()
    assert raw.endswith(b"\n"), "no half record left behind"
    assert str(err.value.filename or "") or "could not write the record" in str(err.value)
    filler.unlink()
    with EpisodeStore(root) as store:
        run_episodes(specs, store, NoOpPolicy(), render=False, progress=False)
    after = _counts(root)
    assert len(after) == len(specs) and set(after.values()) == {1}
