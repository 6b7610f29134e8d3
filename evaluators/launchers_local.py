"""``launcher=local``: the shards of a plan as N parallel processes on this machine.

Same sharding and store as ``launcher=slurm``, for machines without Slurm.
Each shard is ``python -m evaluators.cli eval ... shard.index=i`` with its
output in ``launch/local-<time>/shard-000i.log`` and its exit code in
``shard-000i.rc`` once it ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

from evaluators.launchers import LaunchError, append_submission, fresh_folder, read_submissions
from evaluators.status import TaskState

# Runs one shard and writes its exit code next to its log, even when it crashes.
_WRAPPER = (
    "import subprocess, sys\n"
    "log, rc_path, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]\n"
    "with open(log, 'ab') as fh:\n"
    "    rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT)\n"
    "open(rc_path, 'w').write(str(rc))\n"
    "sys.exit(rc)\n"
)


def _paths(folder: Path, shard_index: int) -> tuple[Path, Path]:
    return folder / f"shard-{shard_index:04d}.log", folder / f"shard-{shard_index:04d}.rc"


class LocalLauncher:
    """Starts one process per shard, at most ``max_parallel`` at a time (0: all)."""

    def __init__(self, cfg: dict[str, Any], run_dir: Path) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)

    def validate(self) -> None:
        par = self.cfg.get("max_parallel", 0)
        if not isinstance(par, int) or par < 0:
            raise LaunchError(f"launcher.max_parallel must be an integer >= 0, got {par!r}")

    def check_nothing_running(self) -> None:
        for sub in read_submissions(self.run_dir):
            if sub["launcher"] == "local":
                active = sorted(i for i, t in task_states(sub).items() if t.active)
                if active:
                    raise LaunchError(f"local shards {active} of this run are still running (pids {sub['pids']})")

    def submit(self, overrides: Sequence[str], shards: Sequence[int], count: int) -> None:
        """Run the shards (blocking; the launcher's progress comes from their records)."""
        folder = fresh_folder(self.run_dir, "local")
        par = self.cfg.get("max_parallel") or len(shards)
        pending = list(shards)
        running: dict[int, subprocess.Popen] = {}
        pids: dict[str, int] = {}
        entry_written = False
        while pending or running:
            while pending and len(running) < par:
                i = pending.pop(0)
                log, rc = _paths(folder, i)
                cmd = [sys.executable, "-m", "evaluators.cli", "eval", *overrides, f"shard.index={i}", f"shard.count={count}"]
                running[i] = subprocess.Popen([sys.executable, "-c", _WRAPPER, str(log), str(rc), *cmd], env=os.environ.copy())
                pids[str(i)] = running[i].pid
            if not entry_written:
                append_submission(
                    self.run_dir,
                    {"launcher": "local", "folder": str(folder.resolve()), "shards": list(shards), "count": count, "pids": pids},
                )
                entry_written = True
            for i, proc in list(running.items()):
                if proc.poll() is not None:
                    del running[i]
            if running:
                try:
                    next(iter(running.values())).wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a zombie child of this process counts as ended
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def task_states(submission: dict[str, Any]) -> dict[int, TaskState]:
    """Shard index -> state of its local process in ``submission``."""
    folder = Path(submission["folder"])
    out: dict[int, TaskState] = {}
    for i in submission["shards"]:
        log, rc_path = _paths(folder, i)
        pid = submission.get("pids", {}).get(str(i))
        if rc_path.exists():
            rc = int(rc_path.read_text() or -1)
            state = TaskState(state="COMPLETED" if rc == 0 else "FAILED", task_id=f"pid {pid}")
            if rc != 0 and log.exists():
                lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
                state.error = (lines[-1] if lines else f"exit code {rc}")[:300]
        elif pid is not None and _alive(pid):
            state = TaskState(state="RUNNING", task_id=f"pid {pid}")
        else:
            state = TaskState(state="CANCELLED" if pid is not None else "PENDING", task_id=f"pid {pid}",
                              error="process ended without an exit code (killed)" if pid is not None else "")
        out[i] = state
    return out
