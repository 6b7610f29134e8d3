"""The env worker process: ``python -m envs.worker`` hosts one env and serves requests.

Started by ``envs.worker_client.RemoteEnv`` with the interpreter of the
benchmark family (``envs.worker_python``). Protocol (docs/reliability.md):
length-prefixed msgpack frames (``envs.worker_codec``) on the worker's stdin
(requests) and original stdout (replies); anything the simulator prints goes
to stderr. Every request is a map with ``op``; every reply is
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_type", "message",
"traceback"}``. Ops:

- ``ping`` -> ``{"pid", "python", "protocol"}``
- ``make`` ``{benchmark, suite, task, render, max_steps, wrappers}`` -> task fields
- ``reset`` ``{seed, options}`` -> ``{obs, info}``, plus ``render`` (GL vendor/renderer and
  device label of the worker's live context, ``envs.render_device``) when the env renders
- ``step`` ``{action}`` -> ``{obs, reward, terminated, truncated, info}``
- ``run_actions`` ``{actions}`` (k x 200) -> ``{obs, rewards, terminated, truncated, info}``: the
  slice stepped in order by ``envs.action_slices.run_actions`` (stops after a terminating step;
  only the returned observation is rendered; ``len(rewards)`` actions ran)
- ``check_success`` -> bool
- ``close`` closes the env; ``shutdown`` closes it and exits.

Every observation leaves through ``CheckedEnv`` (contract and MuJoCo
instability checks). The worker dies with its parent (PR_SET_PDEATHSIG) and
exits when its request pipe closes.
"""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import sys
import traceback
from dataclasses import asdict
from typing import Any

PROTOCOL_VERSION = 1


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _plain(value: Any) -> Any:
    """Info values the codec can carry: arrays, numbers, strings, nested maps/lists; others as str."""
    import numpy as np

    if isinstance(value, (str, int, float, bool, bytes, np.ndarray, np.generic)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


class WorkerSession:
    """The env this worker hosts and the request handlers."""

    def __init__(self) -> None:
        self.env = None
        self.render = False

    def handle(self, request: Any) -> Any:
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            raise ValueError(f"a request must be a map with a string 'op', got {type(request).__name__}")
        op = request["op"]
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            raise ValueError(f"unknown op {op!r}; known: ping, make, reset, step, run_actions, check_success, close, shutdown")
        return handler(request)

    def _need_env(self):
        if self.env is None:
            raise RuntimeError("no env: send 'make' first")
        return self.env

    def op_ping(self, request: dict) -> dict:
        return {"pid": os.getpid(), "python": sys.executable, "protocol": PROTOCOL_VERSION}

    def op_make(self, request: dict) -> dict:
        from envs.benchmarks import find_task, get_benchmark
        from envs.env_stack import make_env_stack

        self.op_close(request)
        self.render = bool(request.get("render", True))
        bench = get_benchmark(request["benchmark"])
        task = find_task(bench, request["suite"], request["task"])
        self.env = make_env_stack(
            bench, task, render=bool(request.get("render", True)), max_steps=request.get("max_steps"),
            wrappers=request.get("wrappers") or (),
        )
        fields = asdict(task)
        fields["extra"] = _plain(fields.get("extra", {}))
        return {"task": fields, "pid": os.getpid()}

    def op_reset(self, request: dict) -> dict:
        obs, info = self._need_env().reset(seed=request.get("seed"), options=request.get("options") or {})
        reply = {"obs": obs, "info": _plain(info)}
        if self.render:  # what actually rendered: the live GL context (envs.render_device)
            from envs.render_device import current_render_device

            reply["render"] = current_render_device()
        return reply

    def op_step(self, request: dict) -> dict:
        obs, reward, terminated, truncated, info = self._need_env().step(request["action"])
        return {"obs": obs, "reward": float(reward), "terminated": bool(terminated), "truncated": bool(truncated),
                "info": _plain(info)}

    def op_run_actions(self, request: dict) -> dict:
        from envs.action_slices import run_actions

        out = run_actions(self._need_env(), request["actions"])
        return {"obs": out.obs, "rewards": out.rewards, "terminated": out.terminated, "truncated": out.truncated,
                "info": _plain(out.info)}

    def op_check_success(self, request: dict) -> bool:
        return self._need_env().check_success()

    def op_close(self, request: dict) -> None:
        if self.env is not None:
            env, self.env = self.env, None
            env.close()
            del env
            # Simulator envs hold reference cycles (robosuite's observables, the twins' views): free the old
            # env's model, data and renderer now, not at some later cyclic collection (a LIBERO worker grew
            # ~0.5 GiB per task switch until one ran).
            gc.collect()
        return None

    def op_shutdown(self, request: dict) -> None:
        self.op_close(request)
        raise SystemExit(0)


def serve(requests, replies) -> None:
    """Answer framed requests from ``requests`` on ``replies`` until EOF or shutdown."""
    from envs.worker_codec import CodecError, read_frame, write_frame

    session = WorkerSession()
    while True:
        try:
            request = read_frame(requests)
        except EOFError:
            session.op_close({})
            return
        except CodecError as exc:  # the stream cannot be trusted any more: say why and stop
            write_frame(replies, {"ok": False, "error_type": "CodecError", "message": str(exc), "traceback": ""})
            return
        try:
            reply = {"ok": True, "result": session.handle(request)}
        except SystemExit:
            write_frame(replies, {"ok": True, "result": None})
            return
        except Exception as exc:  # noqa: BLE001 - reported to the client, which decides
            reply = {"ok": False, "error_type": type(exc).__name__, "message": str(exc),
                     "traceback": traceback.format_exc(limit=6)}
        try:
            write_frame(replies, reply)
        except Exception as exc:  # noqa: BLE001 - e.g. an info value the codec refuses
            write_frame(replies, {"ok": False, "error_type": type(exc).__name__,
                                  "message": f"could not send the reply: {exc}", "traceback": ""})


def main() -> None:
    _die_with_parent()
    # Keep the protocol streams private: the simulator may print to stdout.
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(requests, replies)


if __name__ == "__main__":
    main()
