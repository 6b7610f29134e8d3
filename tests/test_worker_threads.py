"""Env workers run their numerical libraries single-threaded (the pool is the parallelism); the user's settings win."""

from __future__ import annotations

from pathlib import Path

from envs.worker_client import WorkerProcess
from envs.worker_python import worker_python


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_worker_libraries_are_single_threaded_unless_the_user_says_otherwise(monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice is kept
    worker = WorkerProcess(worker_python("twins"))
    try:
        assert worker.request({"op": "ping"}, 60)["pid"] == worker.pid  # exec'd: /proc shows its own environment
        env = _environ(worker.pid)
    finally:
        worker.shutdown()
    assert env["OPENBLAS_NUM_THREADS"] == "1" and env["MKL_NUM_THREADS"] == "1"
    assert env["H05_WORKER_CV2_THREADS"] == "1"
    assert env["OMP_NUM_THREADS"] == "3"
