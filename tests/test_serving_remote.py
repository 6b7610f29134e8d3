"""Remote policy server and client: same actions as in process, token, size limits, fuzz."""

from __future__ import annotations

import random
import time

import msgpack
import numpy as np
import pytest
from websockets.sync.client import connect

from envs.unified_space import embodiment
from envs.worker_codec import decode, encode
from evaluators.baselines import NoOpPolicy, RandomPolicy
from evaluators.policy import EpisodeInfo, PolicyInput
from evaluators.serving.client import RemotePolicy, RemotePolicyError
from evaluators.serving.server import PolicyServer, ServingConfigError, parse_serve_args

MASK = embodiment("libero_panda").mask("action")
NOOP = np.zeros(200, np.float32)
NOOP[18] = -1.0


def _episode(i: int = 0) -> EpisodeInfo:
    return EpisodeInfo(episode_id=f"ep{i}", benchmark="libero", task="libero_spatial/t", instruction="do it",
                       embodiment="libero_panda", seed=41 + i, action_mask=MASK, noop_action=NOOP)


def _obs() -> dict:
    state_mask = embodiment("libero_panda").mask("state")
    return {"images": {"agentview": np.zeros((8, 8, 3), np.uint8)}, "state": np.zeros(200, np.float32),
            "state_mask": state_mask, "instruction": "do it", "embodiment": "libero_panda", "task": "libero_spatial/t"}


def _raw(server: PolicyServer, frames: list, hello: dict | None = None) -> list:
    """Send raw frames on one connection and collect the decoded replies."""
    out = []
    with connect(server.url, compression=None, proxy=None, max_size=None) as ws:
        if hello is not None:
            ws.send(encode(hello))
            out.append(decode(ws.recv(timeout=10)))
        for f in frames:
            ws.send(f)
            out.append(decode(ws.recv(timeout=10)))
    return out


def test_remote_policy_returns_the_served_policys_actions():
    local = RandomPolicy(chunk_length=16, scale=0.5)
    with PolicyServer(RandomPolicy(chunk_length=16, scale=0.5), port=0) as server:
        assert server.host == "127.0.0.1"
        remote = RemotePolicy(server.url)
        assert (remote.name, remote.chunk_length, remote.needs_images) == ("random", 16, False)
        assert remote.describe() == local.describe()
        for p in (local, remote):
            p.reset(_episode(3))
        batch = [PolicyInput(episode_id="ep3", observation=_obs(), step=0)]
        for _ in range(3):
            np.testing.assert_array_equal(remote.infer(batch), local.infer(batch))
        remote.close()


def test_binding_beyond_loopback_needs_a_token_and_the_token_is_checked():
    with pytest.raises(ServingConfigError, match="refusing to bind '0.0.0.0' without a token"):
        PolicyServer(NoOpPolicy(), host="0.0.0.0")
    with pytest.raises(ServingConfigError, match="unknown serve option 'prot'"):
        parse_serve_args(["policy=noop", "prot=1"])
    with pytest.raises(ServingConfigError, match="port must be an integer, got 'x'"):
        parse_serve_args(["port=x"])
    with PolicyServer(NoOpPolicy(), port=0, token="s3cret") as server:
        with pytest.raises(RemotePolicyError, match="authentication failed"):
            RemotePolicy(server.url, token="wrong")
        with pytest.raises(RemotePolicyError, match="authentication failed|closed"):
            RemotePolicy(server.url, token=None)
        # skipping hello is refused too
        (reply,) = _raw(server, [encode({"type": "infer", "batch": []})])
        assert reply["type"] == "error" and "authenticate first" in reply["error"]
        ok = RemotePolicy(server.url, token="s3cret")
        ok.reset(_episode())
        assert ok.infer([PolicyInput("ep0", _obs(), 0)]).shape == (1, 16, 200)


def test_malformed_and_oversized_messages_get_error_replies_and_the_server_stays_up():
    with PolicyServer(NoOpPolicy(), port=0, max_message_bytes=64 * 1024) as server:
        hello = {"type": "hello", "token": None}
        bad_obs = _obs() | {"state": np.full(200, np.nan, np.float32)}
        replies = _raw(server, [
            b"\xc1garbage",
            "a text frame",
            encode([1, 2, 3]),
            encode({"type": "explode"}),
            encode({"type": "reset", "episode": {"episode_id": "x"}}),
            encode({"type": "infer", "batch": [{"episode_id": "e", "step": 0, "observation": bad_obs}]}),
            encode({"type": "infer", "batch": [{"episode_id": "e", "step": 0, "observation": _obs() | {"state": np.zeros(7, np.float32)}}]}),
            msgpack.packb({"type": "infer", "batch": [{"__ndarray__": True, "dtype": "|O", "shape": [1], "data": b"x"}]}),
            msgpack.packb({"__ndarray__": True, "dtype": "<f4", "shape": [10**6], "data": b"1234"}),
            b"\x00" * (100 * 1024),  # over the 64 KiB limit, under the hard frame limit
        ], hello=hello)
        assert replies[0]["type"] == "hello"
        errors = replies[1:]
        assert all(r["type"] == "error" for r in errors), errors
        text = [r["error"] for r in errors]
        assert "malformed msgpack" in text[0]
        assert "text frames are not accepted" in text[1]
        assert "unknown message type 'explode'" in text[3]
        assert "missing field 'action_mask'" in text[4]
        assert "state has non-finite values" in text[5]
        assert "state must be float32[200]" in text[6]
        assert "dtype object is not allowed" in text[7]
        assert "needs 4000000 bytes, got 4" in text[8]
        assert "exceeds the limit of 65536 bytes" in text[9]
        ok = RemotePolicy(server.url)
        ok.reset(_episode())
        assert ok.infer([PolicyInput("ep0", _obs(), 0)]).shape == (1, 16, 200)


def _fuzz_frames(rng: random.Random, valid: bytes):
    yield bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
    flipped = bytearray(valid)
    for _ in range(rng.randint(1, 8)):
        flipped[rng.randrange(len(flipped))] = rng.getrandbits(8)
    yield bytes(flipped)
    yield valid[: rng.randint(0, len(valid) - 1)]
    value = rng.choice([None, 1, -1.5, "x", [1, "a"], {"type": rng.choice(["reset", "infer", "hello", 7])},
                        {"type": "infer", "batch": rng.choice([[], [1], [{"observation": {}}], "b" * 50])}])
    yield msgpack.packb(value)


@pytest.mark.faults
def test_fuzzed_messages_are_each_answered_with_an_error():
    """Bounded fuzz on loopback: 400 frames or 20 s, whichever first."""
    rng = random.Random(1234)
    valid = encode({"type": "infer", "batch": [{"episode_id": "ep0", "step": 0, "observation": _obs()}]})
    with PolicyServer(NoOpPolicy(), port=0, max_message_bytes=64 * 1024) as server:
        sent = answered = 0
        t_end = time.monotonic() + 20
        with connect(server.url, compression=None, proxy=None, max_size=None) as ws:
            ws.send(encode({"type": "hello"}))
            assert decode(ws.recv(timeout=10))["type"] == "hello"
            while sent < 400 and time.monotonic() < t_end:
                for frame in _fuzz_frames(rng, valid):
                    ws.send(frame)
                    sent += 1
                    reply = decode(ws.recv(timeout=10))
                    assert reply["type"] in ("error", "reset", "infer", "hello"), reply
                    answered += reply["type"] == "error"
        assert sent >= 100 and answered >= sent * 0.9
        ok = RemotePolicy(server.url)
        ok.reset(_episode())
        assert ok.infer([PolicyInput("ep0", _obs(), 0)]).shape == (1, 16, 200)
