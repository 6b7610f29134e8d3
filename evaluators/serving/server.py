"""``h05 serve``: serve any policy of the suite over the remote policy protocol.

Binds 127.0.0.1 by default; binding any other address requires a token
(``token=`` or ``H05_POLICY_TOKEN``), checked in the first message. Messages
over ``max_message_bytes`` get an error reply; frames over twice that are
refused by the websocket layer (close code 1009). Malformed messages get an
error reply; the server keeps serving. Policy calls are serialised.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import sys
import threading
from typing import Any, Sequence

import numpy as np

from envs.worker_codec import CodecError, decode, encode
from evaluators.policy import Policy, check_chunks
from evaluators.serving.protocol import (
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_PORT, MAX_BATCH, PROTOCOL_VERSION, ProtocolError, error_message,
    parse_batch, parse_episode,
)

TOKEN_ENV = "H05_POLICY_TOKEN"


class ServingConfigError(ValueError):
    """A server setting that is unsafe or malformed (names the value)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PolicyServer:
    """A websocket server answering hello / reset / infer for one policy."""

    def __init__(self, policy: Policy, host: str = "127.0.0.1", port: int = DEFAULT_PORT, token: str | None = None,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, max_batch: int = MAX_BATCH) -> None:
        if not is_loopback(host) and not token:
            raise ServingConfigError(
                f"refusing to bind {host!r} without a token: pass token=... or set {TOKEN_ENV} (only loopback may be open)"
            )
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ServingConfigError(f"port must be an integer in 0..65535, got {port!r}")
        if not isinstance(max_message_bytes, int) or max_message_bytes < 1024:
            raise ServingConfigError(f"max_message_bytes must be an integer >= 1024, got {max_message_bytes!r}")
        self.policy, self.host, self.token = policy, host, token
        self.max_message_bytes, self.max_batch = max_message_bytes, max_batch
        self._lock = threading.Lock()
        self._requested_port = port
        self._server = None
        self.errors_answered = 0

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> "PolicyServer":
        from websockets.sync.server import serve

        self._server = serve(self._handle, self.host, self._requested_port, max_size=2 * self.max_message_bytes,
                             compression=None, logger=logging.getLogger("h05.serve"))
        threading.Thread(target=self._server.serve_forever, name="h05-policy-server", daemon=True).start()
        return self

    @property
    def port(self) -> int:
        return self._server.socket.getsockname()[1]

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> "PolicyServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- protocol --------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {"name": self.policy.name, "chunk_length": int(self.policy.chunk_length),
                "needs_images": bool(self.policy.needs_images), "describe": self.policy.describe(),
                "protocol": PROTOCOL_VERSION}

    def _handle(self, conn: Any) -> None:
        authenticated = not self.token
        from websockets.exceptions import ConnectionClosed

        while True:
            try:
                raw = conn.recv()
            except ConnectionClosed:
                return
            reply, close = self.answer(raw, authenticated)
            if reply.get("type") == "hello":
                authenticated = True
            try:
                conn.send(encode(reply))
            except ConnectionClosed:
                return
            if close:
                conn.close(code=1008, reason="authentication failed")
                return

    def answer(self, raw: Any, authenticated: bool) -> tuple[dict[str, Any], bool]:
        """The reply to one raw frame, and whether to close the connection after it."""
        kind = None
        try:
            if isinstance(raw, str):
                raise ProtocolError("text frames are not accepted: send binary msgpack frames")
            if len(raw) > self.max_message_bytes:
                raise ProtocolError(f"message of {len(raw)} bytes exceeds the limit of {self.max_message_bytes} bytes")
            message = decode(raw, self.max_message_bytes)
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                raise ProtocolError("a message must be a map with a string 'type'")
            kind = message["type"]
            if kind == "hello":
                if self.token and not hmac.compare_digest(str(message.get("token") or "").encode(), self.token.encode()):
                    self.errors_answered += 1
                    return error_message("authentication failed: bad or missing token", kind), True
                return {"type": "hello", "policy": self.describe()}, False
            if not authenticated:
                self.errors_answered += 1
                return error_message("authenticate first: send hello with the token", kind), True
            if kind == "reset":
                episode = parse_episode(message)
                with self._lock:
                    self.policy.reset(episode)
                return {"type": "reset"}, False
            if kind == "infer":
                batch = parse_batch(message, self.max_batch)
                with self._lock:
                    try:
                        raw_actions = self.policy.infer(batch)
                        actions = check_chunks(raw_actions, len(batch), self.policy.chunk_length, self.policy.name)
                    except Exception as exc:  # noqa: BLE001 - the policy's fault, told to the client
                        self.errors_answered += 1
                        return error_message(f"policy error: {type(exc).__name__}: {exc}", kind), False
                return {"type": "infer", "actions": np.ascontiguousarray(actions, dtype=np.float32)}, False
            raise ProtocolError(f"unknown message type {kind!r}; known: hello, reset, infer")
        except (CodecError, ProtocolError, ValueError, KeyError) as exc:
            self.errors_answered += 1
            return error_message(f"bad request: {exc}", kind), False
        except Exception as exc:  # noqa: BLE001 - never let one message take the server down
            self.errors_answered += 1
            return error_message(f"server error: {type(exc).__name__}: {exc}", kind), False


SERVE_KEYS = {"host": str, "port": int, "token": str, "max_message_bytes": int, "max_batch": int}


def parse_serve_args(argv: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """Split ``h05 serve`` arguments into policy overrides (``policy...``) and server options."""
    policy_overrides, options = [], {}
    for arg in argv:
        if "=" not in arg:
            raise ServingConfigError(f"expected key=value, got {arg!r}")
        key, value = arg.split("=", 1)
        if key.lstrip("+~").startswith("policy"):
            policy_overrides.append(arg)
        elif key in SERVE_KEYS:
            if SERVE_KEYS[key] is int:
                try:
                    options[key] = int(value)
                except ValueError:
                    raise ServingConfigError(f"{key} must be an integer, got {value!r}") from None
            else:
                options[key] = value
        else:
            raise ServingConfigError(f"unknown serve option {key!r}; known: policy=..., policy.<key>=..., {', '.join(SERVE_KEYS)}")
    return policy_overrides, options


def serve_main(argv: Sequence[str]) -> int:
    """``h05 serve policy=<name> [policy.<key>=...] [host= port= token= max_message_bytes= max_batch=]``."""
    if any(a in ("-h", "--help") for a in argv):
        print(serve_main.__doc__)
        return 0
    from evaluators.config import compose, to_container
    from evaluators.policies import make_policy

    policy_overrides, options = parse_serve_args(argv)
    options.setdefault("token", os.environ.get(TOKEN_ENV) or None)
    cfg = to_container(compose("eval", policy_overrides))
    if cfg["policy"].get("name") == "remote":
        raise ServingConfigError("policy=remote cannot be served (it is the client)")
    server = PolicyServer(make_policy(cfg["policy"]), **options).start()
    print(f"serving policy {server.policy.name!r} on {server.url} (token {'required' if server.token else 'off'}); Ctrl-C stops",
          file=sys.stderr, flush=True)
    try:
        threading.Event().wait()
    finally:
        server.stop()
    return 0
