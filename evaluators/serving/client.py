"""The ``remote`` policy: evaluate a policy served by ``h05 serve`` (or any server of the protocol).

``h05 eval policy=remote policy.url=ws://host:8765 policy.token=...``. The
policy's identity (and so the episode ids) is the served policy's own
``describe()``, not the address. Server error replies and broken connections
raise ``RemotePolicyError``, which the executor records as a policy error.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from envs.worker_codec import CodecError, decode, encode
from evaluators.policy import EpisodeInfo, PolicyInput
from evaluators.serving.protocol import DEFAULT_MAX_MESSAGE_BYTES, PROTOCOL_VERSION, batch_message, episode_message

TOKEN_ENV = "H05_POLICY_TOKEN"


class RemotePolicyError(RuntimeError):
    """The policy server answered with an error or could not be reached."""


class RemotePolicy:
    """A policy proxy speaking the remote policy protocol over one websocket."""

    def __init__(self, url: str = "ws://127.0.0.1:8765", token: str | None = None, timeout_s: float = 60.0,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise ValueError(f"policy.url must start with ws:// or wss://, got {url!r}")
        if not isinstance(timeout_s, (int, float)) or timeout_s <= 0:
            raise ValueError(f"policy.timeout_s must be a positive number, got {timeout_s!r}")
        self.url, self.timeout_s, self.max_message_bytes = url, float(timeout_s), int(max_message_bytes)
        self.token = token or os.environ.get(TOKEN_ENV)
        self._conn = None
        info = self._connect()
        self.name = str(info["name"])
        self.chunk_length = int(info["chunk_length"])
        self.needs_images = bool(info["needs_images"])
        self._describe = dict(info["describe"])

    def _connect(self) -> dict[str, Any]:
        from websockets.sync.client import connect

        try:
            self._conn = connect(self.url, open_timeout=self.timeout_s, max_size=4 * self.max_message_bytes,
                                 compression=None, proxy=None)
        except (OSError, TimeoutError) as exc:
            raise RemotePolicyError(f"cannot reach the policy server at {self.url}: {exc}") from None
        reply = self._call({"type": "hello", "token": self.token, "protocol": PROTOCOL_VERSION}, reconnect=False)
        return reply["policy"]

    def _call(self, message: dict[str, Any], reconnect: bool = True) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        try:
            self._conn.send(encode(message))
            raw = self._conn.recv(timeout=self.timeout_s)
        except TimeoutError:
            raise RemotePolicyError(f"policy server {self.url} did not answer {message['type']!r} within {self.timeout_s:g} s") from None
        except (ConnectionClosed, OSError) as exc:
            if not reconnect:
                raise RemotePolicyError(f"policy server {self.url} closed the connection: {exc}") from None
            self._connect()
            return self._call(message, reconnect=False)
        try:
            reply = decode(raw, 4 * self.max_message_bytes)
        except CodecError as exc:
            raise RemotePolicyError(f"policy server {self.url} sent an undecodable reply: {exc}") from None
        if not isinstance(reply, dict) or reply.get("type") == "error" or reply.get("type") != message["type"]:
            error = reply.get("error") if isinstance(reply, dict) else None
            raise RemotePolicyError(f"policy server {self.url}: {error or 'unexpected reply'}")
        return reply

    def reset(self, episode: EpisodeInfo) -> None:
        self._call(episode_message(episode))

    def infer(self, batch: Sequence[PolicyInput]) -> np.ndarray:
        reply = self._call(batch_message(list(batch)))
        actions = reply.get("actions")
        if not isinstance(actions, np.ndarray):
            raise RemotePolicyError(f"policy server {self.url} sent no actions array")
        return actions

    def describe(self) -> dict[str, Any]:
        return self._describe

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
