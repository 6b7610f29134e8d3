"""``h05 status runs/<name>``: progress of a launched run, readable from the login node.

Per shard: episodes recorded vs planned (an episode counts once its latest
attempt is final, ``evaluators.attempts``), error records, the state of the task
that last ran it (Slurm job state or local process state), restarts, and the
error of a crashed task.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from evaluators.attempts import is_final
from evaluators.launchers import read_shards, read_submissions
from evaluators.store import EpisodeStore

# States after which a task will not write again.
ACTIVE_STATES = {
    "PENDING", "RUNNING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SUSPENDED",
    "COMPLETING", "CONFIGURING", "STAGE_OUT", "SIGNALING", "PREEMPTED", "STARTING",
    "UNREACHABLE",  # the controller did not answer: the task may still be running
}


@dataclass
class TaskState:
    """What the launcher knows about the task running one shard."""

    state: str
    task_id: str = ""
    restarts: int = 0
    error: str = ""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


@dataclass
class ShardStatus:
    index: int
    planned: int
    recorded: int
    errors: int
    task: TaskState | None = None

    @property
    def complete(self) -> bool:
        return self.recorded >= self.planned


@dataclass
class RunStatus:
    run_dir: str
    planned: int
    recorded: int
    errors: int
    shards: list[ShardStatus] = field(default_factory=list)
    submissions: list[dict[str, Any]] = field(default_factory=list)

    def any_active(self) -> bool:
        return any(s.task is not None and s.task.active for s in self.shards)

    def progress_line(self) -> str:
        states: dict[str, int] = {}
        for s in self.shards:
            key = s.task.state if s.task else "NOT_SUBMITTED"
            states[key] = states.get(key, 0) + 1
        summary = ", ".join(f"{k.lower()} {v}" for k, v in sorted(states.items()))
        return f"{self.recorded}/{self.planned} episodes recorded; shards: {summary}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_status(run_dir: str | Path) -> RunStatus:
    """Collect the status of ``run_dir`` (a store folder, launched or not)."""
    run_dir = Path(run_dir)
    store = EpisodeStore(run_dir)
    manifest = store.read_manifest()
    if manifest is None:
        raise FileNotFoundError(f"{run_dir} is not a run folder (no manifest.json)")
    records = {r["episode_id"]: r for r in store.iter_records() if is_final(r)}  # a pending retry is not done
    shards_info = read_shards(run_dir)
    planned_ids = [[]] if shards_info is None else shards_info["ids"]
    if shards_info is None:
        planned = int(manifest.get("episodes", len(records)))
    else:
        planned = sum(len(ids) for ids in planned_ids)
    status = RunStatus(
        run_dir=str(run_dir),
        planned=planned,
        recorded=len(records),
        errors=sum(r.get("status") == "error" for r in records.values()),
        submissions=read_submissions(run_dir),
    )
    if shards_info is None:
        return status
    tasks = _latest_task_states(status.submissions)
    for i, ids in enumerate(planned_ids):
        mine = [records[e] for e in ids if e in records]
        status.shards.append(
            ShardStatus(i, len(ids), len(mine), sum(r.get("status") == "error" for r in mine), tasks.get(i))
        )
    return status


def _latest_task_states(submissions: Sequence[dict[str, Any]]) -> dict[int, TaskState]:
    """Shard index -> state of the last submitted task that ran it."""
    out: dict[int, TaskState] = {}
    for sub in submissions:
        if sub["launcher"] == "slurm":
            from evaluators.launchers_slurm import task_states
        else:
            from evaluators.launchers_local import task_states  # type: ignore[assignment]
        out.update(task_states(sub))
    return out


def incomplete_shards(status: RunStatus) -> list[int]:
    return [s.index for s in status.shards if not s.complete]


def format_status(status: RunStatus) -> str:
    lines = [f"{status.run_dir}: {status.recorded}/{status.planned} episodes recorded, {status.errors} error records"]
    if status.submissions:
        last = status.submissions[-1]
        where = f"slurm job {last['job_id']}" if last["launcher"] == "slurm" else "local processes"
        lines.append(f"submissions: {len(status.submissions)}; last: {where}, shards {last['shards']}, "
                     f"at {last['submitted_at']}, logs in {last['folder']}")
    if status.shards:
        lines.append(f"{'shard':>5}  {'recorded':>8}  {'planned':>7}  {'errors':>6}  {'task':<12} {'state':<12} {'restarts':>8}  error")
        for s in status.shards:
            t = s.task or TaskState(state="-")
            lines.append(
                f"{s.index:>5}  {s.recorded:>8}  {s.planned:>7}  {s.errors:>6}  {t.task_id:<12} {t.state:<12} "
                f"{t.restarts:>8}  {t.error}"
            )
    return "\n".join(lines)


def status_main(argv: Sequence[str]) -> int:
    """``h05 status RUN_DIR [--json]``; exit code 0 when every planned episode is recorded, else 1."""
    p = argparse.ArgumentParser(prog="h05 status", description="progress of a run folder (records vs plan per shard, task states, errors)")
    p.add_argument("run_dir", help="the run folder, e.g. runs/<name>")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    args = p.parse_args(argv)
    try:
        status = run_status(args.run_dir)
    except FileNotFoundError as exc:
        print(f"h05 status: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(status.to_dict(), indent=2) if args.json else format_status(status))
    return 0 if status.recorded >= status.planned else 1
