"""``launcher=slurm``: the shards of a plan as ONE Slurm job array, through submitit.

Each array task runs one shard in its own process (its own env and policy)
and appends to ``records/shard-000i.jsonl`` of the one store. Tasks are
submitit ``Checkpointable``: on the preemption / time-limit signal (USR2)
submitit requeues the task, and the requeued task skips every episode already
recorded. Job states come from ``scontrol`` (live and recently finished
jobs), then ``sacct`` when accounting runs, then submitit's result files, so
nothing waits on ``sacct`` where there is no accounting daemon.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any, Sequence

import submitit

from evaluators.launchers import LaunchError, append_submission, fresh_folder, read_submissions
from evaluators.status import TaskState


class ShardJob(submitit.helpers.Checkpointable):
    """One array task: run shard ``index`` of ``count`` (resuming from the store)."""

    def __init__(self, overrides: Sequence[str], count: int) -> None:
        self.overrides = list(overrides)
        self.count = count

    def __call__(self, index: int) -> str:
        from evaluators.eval_command import run_eval

        _shield_children_from_job_signals()
        run_dir = run_eval([*self.overrides, f"shard.index={index}", f"shard.count={self.count}"])
        return str(run_dir)


def _shield_children_from_job_signals() -> None:
    """Let Slurm's cancel (TERM) and preemption (USR2) signals stop this process, not its env workers.

    Slurm signals every process of the step. Were an env worker to die first,
    the episode it was running would be recorded as an env error and never be
    rerun. So child processes inherit a signal mask blocking both (they die
    with this process: SIGKILL on parent death, or Slurm's final SIGKILL);
    here TERM exits at once without writing anything (submitit would ignore
    it and keep running), and USR2 stays with submitit (checkpoint, requeue).
    A helper thread with both unblocked guarantees a receiver; Python runs
    the handlers in the main thread.
    """
    job_signals = {signal.SIGTERM, signal.SIGUSR2}
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(128 + signum))
    signal.pthread_sigmask(signal.SIG_BLOCK, job_signals)

    def receive() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, job_signals)
        threading.Event().wait()

    threading.Thread(target=receive, name="h05-job-signals", daemon=True).start()


def _slurm_cmd(args: Sequence[str], timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


class SlurmLauncher:
    """Validates the request against the cluster, submits the array, reports task states."""

    def __init__(self, cfg: dict[str, Any], run_dir: Path) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)

    def validate(self) -> None:
        """Clear errors before anything is submitted: Slurm present and answering, partition known."""
        for tool in ("sbatch", "sinfo", "scontrol"):
            if shutil.which(tool) is None:
                raise LaunchError(
                    f"launcher=slurm needs Slurm's {tool!r} on PATH and it is not there; on a machine without "
                    "Slurm use launcher=local, or start the local test cluster with `bash slurm/cluster.sh start` "
                    "and export SLURM_CONF"
                )
        res = _slurm_cmd(["sinfo", "-h", "-o", "%P"])
        if res.returncode != 0:
            raise LaunchError(f"Slurm does not answer (sinfo exit {res.returncode}): {res.stderr.strip()}")
        partitions = [p.rstrip("*") for p in res.stdout.split()]
        part = self.cfg.get("partition")
        if part is not None and part not in partitions:
            raise LaunchError(f"unknown Slurm partition {part!r}; this cluster has: {', '.join(partitions) or 'none'}")
        for key in ("time_min", "cpus_per_task"):
            value = self.cfg.get(key)
            if not isinstance(value, int) or value < 1:
                raise LaunchError(f"launcher.{key} must be a positive integer, got {value!r}")
        gpus = self.cfg.get("gpus_per_task")
        if not isinstance(gpus, int) or gpus < 0:
            raise LaunchError(f"launcher.gpus_per_task must be an integer >= 0, got {gpus!r}")
        try:  # submitit checks every parameter name and type without submitting
            self.executor(self.run_dir / "launch" / "validate")
        except (ValueError, TypeError, AssertionError) as exc:
            raise LaunchError(f"bad launcher=slurm setting: {str(exc).splitlines()[0]}") from None

    def check_nothing_running(self) -> None:
        """Refuse to submit while an earlier array of this run still has active tasks (two writers per shard)."""
        for sub in read_submissions(self.run_dir):
            if sub["launcher"] != "slurm":
                continue
            active = sorted(i for i, t in task_states(sub).items() if t.active)
            if active:
                raise LaunchError(
                    f"slurm job {sub['job_id']} of this run is still active for shards {active}; wait for it "
                    f"(h05 status {self.run_dir}) or cancel it (scancel {sub['job_id']}) before resubmitting"
                )

    def executor(self, folder: Path) -> submitit.AutoExecutor:
        c = self.cfg
        # cluster= explicit: with srun on PATH AutoExecutor would pick slurm anyway, but never silently local.
        ex = submitit.AutoExecutor(folder=folder, cluster="slurm", slurm_max_num_timeout=c["max_requeues"])
        params: dict[str, Any] = {
            "timeout_min": c["time_min"],
            "cpus_per_task": c["cpus_per_task"],
            "slurm_job_name": c.get("job_name") or f"h05-{self.run_dir.name}",
            "slurm_signal_delay_s": c["signal_delay_s"],
            "slurm_array_parallelism": c["max_parallel"] or 256,
            "slurm_setup": list(c.get("setup") or []),
            "slurm_additional_parameters": dict(c.get("additional") or {}),
        }
        if c.get("mem_gb"):
            params["mem_gb"] = c["mem_gb"]
        if c.get("gpus_per_task"):
            params["slurm_gpus_per_task"] = c["gpus_per_task"]
        for key in ("partition", "account", "qos", "constraint"):
            if c.get(key):
                params[f"slurm_{key}"] = c[key]
        ex.update_parameters(**params)
        return ex

    def submit(self, overrides: Sequence[str], shards: Sequence[int], count: int) -> str:
        folder = fresh_folder(self.run_dir, "slurm")
        try:
            jobs = self.executor(folder).map_array(ShardJob(overrides, count), list(shards))
        except Exception as exc:  # submitit wraps sbatch's message
            raise LaunchError(f"sbatch refused the array: {exc}") from None
        job_id = jobs[0].job_id.split("_")[0]  # one shard: submitit submits a plain job, not an array
        append_submission(
            self.run_dir,
            {"launcher": "slurm", "job_id": job_id, "task_ids": [j.job_id for j in jobs],
             "folder": str(folder.resolve()), "shards": list(shards), "count": count},
        )
        print(f"[h05] slurm: submitted array job {job_id} ({len(shards)} tasks), logs in {folder}", flush=True)
        return job_id


# -- job states -------------------------------------------------------------


def _expand_task_ids(spec: str) -> list[int]:
    """'3' -> [3]; '1-3,5' -> [1, 2, 3, 5]; '[1-3%2]' -> [1, 2, 3]."""
    spec = spec.strip("[]").split("%")[0]
    out: list[int] = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


class SlurmUnreachable(RuntimeError):
    """scontrol got no answer from the controller (down, or SLURM_CONF not set)."""


def _scontrol_states(job_id: str) -> dict[str, TaskState]:
    """Task id ('12_3', or '12' for a plain job) -> state, for live and recently finished jobs."""
    res = _slurm_cmd(["scontrol", "show", "job", "-o", job_id])
    out: dict[str, TaskState] = {}
    if res.returncode != 0:
        if "Invalid job id" not in res.stderr:  # not aged out: the controller did not answer
            raise SlurmUnreachable(res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}")
        return out
    for line in res.stdout.splitlines():
        fields = dict(m.groups() for m in re.finditer(r"(\w+)=(\S*)", line))
        state = fields.get("JobState", "UNKNOWN")
        restarts = int(fields.get("Restarts", 0) or 0)
        if "ArrayTaskId" in fields and fields.get("ArrayJobId") == job_id:
            for k in _expand_task_ids(fields["ArrayTaskId"]):
                out[f"{job_id}_{k}"] = TaskState(state=state, restarts=restarts)
        elif fields.get("JobId") == job_id:
            out[job_id] = TaskState(state=state, restarts=restarts)
    return out


def _sacct_states(job_id: str) -> dict[str, TaskState]:
    if shutil.which("sacct") is None:
        return {}
    res = _slurm_cmd(["sacct", "-j", job_id, "-X", "-n", "-P", "-o", "JobID,State"])
    if res.returncode != 0:
        return {}  # no accounting daemon: states come from scontrol and result files
    out: dict[str, TaskState] = {}
    for line in res.stdout.splitlines():
        jid, _, state = line.partition("|")
        out[jid] = TaskState(state=state.split()[0] if state else "UNKNOWN")
    return out


def _result(folder: Path, task_id: str) -> tuple[str, str] | None:
    path = folder / f"{task_id}_0_result.pkl"
    if not path.exists():
        return None
    try:
        with open(path, "rb") as fh:
            kind, payload = pickle.load(fh)
    except Exception as exc:  # noqa: BLE001 - a half-written file
        return ("error", f"unreadable result file {path.name}: {exc}")
    return kind, str(payload)


def _last_error_line(text: str) -> str:
    """The most telling line of a crashed task's log: a Python exception, else the last line not from srun."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if re.match(r"^[\w.]+(Error|Exception|Interrupt|Exit)\b", lines[i]):
            if lines[i].endswith(":") and i + 1 < len(lines):  # message on the following lines: keep its last
                return f"{lines[i]} {lines[-1]}"[:300]
            return lines[i][:300]
    own = [ln for ln in lines if not ln.startswith(("srun:", "slurmstepd", "submitit "))]
    return (own or lines or [""])[-1][:300]


def task_states(submission: dict[str, Any]) -> dict[int, TaskState]:
    """Shard index -> state of its task in ``submission``."""
    job_id, folder, shards = submission["job_id"], Path(submission["folder"]), submission["shards"]
    task_ids = submission["task_ids"]
    unreachable = ""
    try:
        by_task = _scontrol_states(job_id)
    except SlurmUnreachable as exc:
        by_task, unreachable = {}, str(exc)
    if any(t not in by_task for t in task_ids) and not unreachable:
        by_task = {**_sacct_states(job_id), **by_task}
    out: dict[int, TaskState] = {}
    for tid, shard_index in zip(task_ids, shards):
        st = by_task.get(tid)
        result = _result(folder, tid)
        if st is None:  # forgotten by the controller and no accounting: the result file decides
            if result is None and unreachable:  # counts as active: waiting goes on until Slurm answers
                st = TaskState(state="UNREACHABLE", error=f"Slurm did not answer: {unreachable}")
            elif result is None:
                st = TaskState(state="UNKNOWN", error="no record in Slurm and no result file (cancelled or lost)")
            else:
                st = TaskState(state="COMPLETED" if result[0] == "success" else "FAILED")
        st.task_id = tid
        if st.state.startswith("CANCELLED"):
            st.state, st.error = "CANCELLED", st.error or "cancelled"
        if result is not None and result[0] == "error" and not st.active:
            st.error = _last_error_line(result[1])
            if st.state == "COMPLETED":
                st.state = "FAILED"
        elif st.state in ("FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "TIMEOUT") and not st.error:
            err = folder / f"{tid}_0_log.err"
            st.error = _last_error_line(err.read_text(errors="replace")) if err.exists() else st.state.lower()
        out[shard_index] = st
    return out
