"""``RemoteEnv``: a gymnasium env whose simulator runs in an env worker process.

Same API as the in-process envs (``reset(seed, options) -> obs, info`` with
``noop_action``; ``step -> obs, reward, terminated, truncated, info``;
``check_success``; ``close``). The worker is ``python -m envs.worker`` started
with the family's interpreter (``envs.worker_python``). Every request has a
deadline (``WorkerTimeouts``); a worker that dies, hangs past its deadline or
breaks the protocol is killed and the call raises an ``EnvWorkerError`` naming
the worker, the request and the reason (exit signal, last stderr lines). The
env is then unusable: build a new one (the runner does this), which starts a
fresh worker.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import gymnasium as gym
import numpy as np

from envs.action_slices import SliceOutcome
from envs.benchmarks import TaskInfo
from envs.observation import check_action, check_actions, check_observation
from envs.render_device import PLAN as RENDER_PLAN
from envs.unified_space import UNIFIED_DIM
from envs.worker_codec import DEFAULT_MAX_MESSAGE_BYTES, HEADER, CodecError, decode, encode
from envs.worker_python import REPO_ROOT, worker_python


class EnvWorkerError(RuntimeError):
    """The env worker failed; the episode is lost to the env, not to the policy."""


class WorkerCrashed(EnvWorkerError):
    """The worker process exited or was killed."""


class WorkerTimeout(EnvWorkerError):
    """The worker did not answer within its deadline (it has been killed)."""


class WorkerReportedError(EnvWorkerError):
    """The env inside the worker raised; ``error_type`` is the remote exception's class name."""

    def __init__(self, message: str, error_type: str, remote_traceback: str = "") -> None:
        super().__init__(message)
        self.error_type = error_type
        self.remote_traceback = remote_traceback


@dataclass(frozen=True)
class WorkerTimeouts:
    """Deadlines in seconds; ``episode_s`` bounds reset plus all steps of one episode (None: no bound)."""

    make_s: float = 300.0
    reset_s: float = 120.0
    step_s: float = 60.0
    episode_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("make_s", "reset_s", "step_s", "episode_s"):
            value = getattr(self, name)
            if value is None and name == "episode_s":
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"worker timeout {name} must be a positive number of seconds, got {value!r}")


def _signal_name(returncode: int | None) -> str:
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


# An env worker is one simulator on one core: the pool is the parallelism. Numerical libraries would
# otherwise start a thread per core in every worker (OpenBLAS, OpenMP, OpenCV) and N workers would
# fight over N x cores threads. The user's own settings win (setdefault).
WORKER_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                     "NUMEXPR_NUM_THREADS": "1", "H05_WORKER_CV2_THREADS": "1"}
REPLY_PIPE_BYTES = 1 << 20  # a rendered reply (2-4 frames of 224 px, ~0.15-0.6 MB) in one or two reads


def _widen_pipe(fd: int, size: int = REPLY_PIPE_BYTES) -> None:
    """Grow a pipe's kernel buffer (Linux F_SETPIPE_SZ) so a reply is read in few syscalls; best effort."""
    try:
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except OSError:  # above /proc/sys/fs/pipe-max-size for this user, or not Linux: the default 64 KiB works too
        pass


class WorkerProcess:
    """One ``python -m envs.worker`` child and a framed request/reply channel to it."""

    def __init__(self, python: str, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.python = python
        self.max_message_bytes = max_message_bytes
        fd, self.log_path = tempfile.mkstemp(prefix="h05-env-worker-", suffix=".log")
        env = RENDER_PLAN.next_worker_env()  # this worker's EGL device (envs.render_device)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        for key, value in WORKER_THREAD_ENV.items():
            env.setdefault(key, value)
        try:
            self.proc = subprocess.Popen(
                [python, "-m", "envs.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=fd,
                env=env, cwd=os.getcwd(), close_fds=True,
            )
        finally:
            os.close(fd)
        _widen_pipe(self.proc.stdout.fileno())

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_tail(self, lines: int = 5) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(max(0, os.path.getsize(self.log_path) - 4000))
                text = fh.read().decode(errors="replace")
        except OSError:
            return ""
        tail = [ln for ln in text.splitlines() if ln.strip()][-lines:]
        return " | ".join(tail)

    def _describe(self) -> str:
        return f"env worker pid {self.pid} ({self.python})"

    def _died(self, what: str) -> WorkerCrashed:
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        tail = self.stderr_tail()
        return WorkerCrashed(
            f"{self._describe()} {_signal_name(self.proc.returncode)} during {what}"
            + (f"; last stderr: {tail}" if tail else "")
        )

    def request(self, message: Mapping[str, Any], timeout: float) -> Any:
        """Send one request and wait at most ``timeout`` seconds for its reply."""
        op = message.get("op", "?")
        if not self.alive():
            raise self._died(f"'{op}' (before sending)")
        payload = encode(dict(message))
        try:
            self.proc.stdin.write(HEADER.pack(len(payload)) + payload)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.kill()
            raise self._died(f"'{op}'") from None
        deadline = time.monotonic() + timeout
        reply = self._read_reply(op, deadline, timeout)
        if not isinstance(reply, dict) or "ok" not in reply:
            self.kill()
            raise EnvWorkerError(f"{self._describe()} sent a malformed reply to '{op}'")
        if not reply["ok"]:
            raise WorkerReportedError(
                f"{reply.get('error_type', 'Error')}: {reply.get('message', '')}",
                str(reply.get("error_type", "Error")), str(reply.get("traceback", "")),
            )
        return reply.get("result")

    def _read_exact(self, n: int, op: str, deadline: float, timeout: float) -> bytearray:
        """Read exactly ``n`` bytes into one buffer (never past the frame: one reply per request)."""
        fd = self.proc.stdout.fileno()
        out = bytearray(n)
        view, got = memoryview(out), 0
        while got < n:
            left = deadline - time.monotonic()
            ready = select.select([fd], [], [], max(0.0, left))[0] if left > 0 else []
            if not ready:
                self.kill()
                raise WorkerTimeout(f"{self._describe()} did not answer '{op}' within {timeout:g} s; killed it")
            read = os.readv(fd, [view[got:]])
            if not read:
                raise self._died(f"'{op}'")
            got += read
        return out

    def _read_reply(self, op: str, deadline: float, timeout: float) -> Any:
        (length,) = HEADER.unpack(self._read_exact(HEADER.size, op, deadline, timeout))
        if length > self.max_message_bytes:
            self.kill()
            raise EnvWorkerError(f"{self._describe()} sent a {length}-byte reply to '{op}' (limit {self.max_message_bytes})")
        try:
            return decode(self._read_exact(length, op, deadline, timeout), self.max_message_bytes)
        except CodecError as exc:
            self.kill()
            raise EnvWorkerError(f"{self._describe()} sent an undecodable reply to '{op}': {exc}") from None

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def shutdown(self, timeout: float = 10.0) -> None:
        """Ask the worker to close its env and exit; kill it if it does not."""
        if self.alive():
            try:
                self.request({"op": "shutdown"}, timeout)
            except EnvWorkerError:
                pass
        self.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            os.unlink(self.log_path)
        except OSError:
            pass


class RemoteEnv(gym.Env):
    """A benchmark task hosted by an env worker; the API of the in-process envs."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        benchmark: str,
        suite: str,
        task: str,
        render: bool = True,
        max_steps: int | None = None,
        python: str | None = None,
        python_overrides: Mapping[str, str] | None = None,
        timeouts: WorkerTimeouts | None = None,
        wrappers: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.timeouts = timeouts or WorkerTimeouts()
        self.benchmark = benchmark
        self.render_info: dict[str, Any] | None = None  # the worker's GL context, reported at reset
        self.worker = WorkerProcess(python or worker_python(benchmark, python_overrides))
        self._wrappers = [dict(w) for w in wrappers]
        self.action_space = gym.spaces.Box(-np.inf, np.inf, (UNIFIED_DIM,), np.float32)
        try:
            self.make(suite, task, render, max_steps)
        except BaseException:
            self.worker.shutdown()
            raise

    def make(self, suite: str, task: str, render: bool = True, max_steps: int | None = None) -> None:
        """(Re)build the hosted env for another task of the same benchmark, in the same worker process."""
        self._episode_deadline: float | None = None
        self._noop: np.ndarray | None = None
        request = {"op": "make", "benchmark": self.benchmark, "suite": suite, "task": task, "render": bool(render),
                   "max_steps": max_steps, "wrappers": self._wrappers}
        made = self.worker.request(request, self.timeouts.make_s)
        self.task = TaskInfo(**made["task"])

    @property
    def pid(self) -> int:
        return self.worker.pid

    def _deadline(self, limit: float) -> float:
        if self._episode_deadline is None:
            return limit
        left = self._episode_deadline - time.monotonic()
        if left <= 0:
            self.worker.kill()
            raise WorkerTimeout(
                f"episode exceeded its {self.timeouts.episode_s:g} s budget (env worker pid {self.pid}); killed the worker"
            )
        return min(limit, left)

    def _request(self, message: dict[str, Any], limit: float) -> Any:
        timeout = self._deadline(limit)
        try:
            return self.worker.request(message, timeout)
        except WorkerTimeout as exc:
            if timeout < limit:
                raise WorkerTimeout(f"episode exceeded its {self.timeouts.episode_s:g} s budget: {exc}") from None
            raise

    def _checked_obs(self, obs: Any, op: str) -> dict[str, Any]:
        if not isinstance(obs, dict):
            raise EnvWorkerError(f"env worker pid {self.pid} answered '{op}' without an observation map")
        check_observation(obs)
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if self.timeouts.episode_s is not None:
            self._episode_deadline = time.monotonic() + self.timeouts.episode_s
        out = self._request({"op": "reset", "seed": seed, "options": options or {}}, self.timeouts.reset_s)
        info = dict(out["info"])
        self.render_info = out.get("render") or self.render_info
        if "noop_action" in info:
            self._noop = check_action(info["noop_action"], UNIFIED_DIM, what="noop_action from the env worker")
            info["noop_action"] = self._noop
        return self._checked_obs(out["obs"], "reset"), info

    def step(self, action: Any):
        arr = check_action(action, UNIFIED_DIM)
        out = self._request({"op": "step", "action": arr}, self.timeouts.step_s)
        obs = self._checked_obs(out["obs"], "step")
        return obs, float(out["reward"]), bool(out["terminated"]), bool(out["truncated"]), dict(out["info"])

    def run_actions(self, actions: Any) -> SliceOutcome:
        """Run a slice of actions in the worker in one request (``envs.action_slices.run_actions``).

        The deadline is ``step_s`` per action of the slice (and the episode budget).
        """
        arr = check_actions(actions, UNIFIED_DIM)  # also refuses an empty slice
        out = self._request({"op": "run_actions", "actions": arr}, self.timeouts.step_s * len(arr))
        obs = self._checked_obs(out["obs"], "run_actions")
        rewards = [float(r) for r in out["rewards"]]
        if not 1 <= len(rewards) <= len(arr):
            raise EnvWorkerError(f"env worker pid {self.pid} reported {len(rewards)} steps for a slice of {len(arr)} actions")
        return SliceOutcome(obs=obs, rewards=rewards, terminated=bool(out["terminated"]),
                            truncated=bool(out["truncated"]), info=dict(out["info"]))

    def check_success(self) -> bool:
        return bool(self.worker.request({"op": "check_success"}, self.timeouts.step_s))

    def noop_action(self) -> np.ndarray:
        if self._noop is None:
            raise RuntimeError("noop_action is known after the first reset")
        return self._noop.copy()

    def close(self) -> None:
        worker = getattr(self, "worker", None)
        if worker is not None:
            worker.shutdown()
            self.worker = None  # type: ignore[assignment]
