"""The remote policy protocol: message shapes and their validation (docs/reliability.md).

Binary websocket frames, each one msgpack map (``envs.worker_codec``: arrays
travel explicitly with dtype and shape). Requests carry ``type``:

- ``hello`` ``{token, protocol}`` -> ``{type: "hello", policy: {name, chunk_length, needs_images, describe}}``
- ``reset`` ``{episode: {episode_id, benchmark, task, instruction, embodiment, seed, action_mask, noop_action}}``
- ``infer`` ``{batch: [{episode_id, step, observation, prefix}]}`` -> ``{type: "infer", actions: float32[B, H, 200]}``

Any failure is answered ``{type: "error", error: <message>, request: <type or null>}``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from envs.observation import OBSERVATION_KEYS, check_action, check_observation
from envs.unified_space import UNIFIED_DIM
from evaluators.policy import EpisodeInfo, PolicyInput

PROTOCOL_VERSION = 1
DEFAULT_PORT = 8765
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_BATCH = 256


class ProtocolError(ValueError):
    """A message that breaks the remote policy protocol (names the offending field)."""


def _field(message: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in message:
        raise ProtocolError(f"{where}: missing field {key!r}")
    value = message[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise ProtocolError(f"{where}: field {key!r} must be {getattr(kind, '__name__', kind)}, got {type(value).__name__}")
    return value


def parse_episode(message: Mapping[str, Any]) -> EpisodeInfo:
    ep = _field(message, "episode", dict, "reset")
    where = "reset.episode"
    mask = np.asarray(_field(ep, "action_mask", np.ndarray, where))
    if mask.shape != (UNIFIED_DIM,) or mask.dtype != np.bool_:
        raise ProtocolError(f"{where}: action_mask must be bool[{UNIFIED_DIM}], got {mask.dtype}{list(mask.shape)}")
    try:
        noop = check_action(_field(ep, "noop_action", np.ndarray, where), UNIFIED_DIM, what=f"{where}.noop_action")
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None
    return EpisodeInfo(
        episode_id=_field(ep, "episode_id", str, where), benchmark=_field(ep, "benchmark", str, where),
        task=_field(ep, "task", str, where), instruction=_field(ep, "instruction", str, where),
        embodiment=_field(ep, "embodiment", str, where), seed=_field(ep, "seed", int, where),
        action_mask=mask, noop_action=noop,
    )


def parse_batch(message: Mapping[str, Any], max_batch: int = MAX_BATCH) -> list[PolicyInput]:
    batch = _field(message, "batch", list, "infer")
    if not 1 <= len(batch) <= max_batch:
        raise ProtocolError(f"infer: batch must hold 1..{max_batch} items, got {len(batch)}")
    out = []
    for i, item in enumerate(batch):
        where = f"infer.batch[{i}]"
        if not isinstance(item, dict):
            raise ProtocolError(f"{where} must be a map, got {type(item).__name__}")
        obs = _field(item, "observation", dict, where)
        if not isinstance(obs.get("images"), dict):
            raise ProtocolError(f"{where}.observation.images must be a map of camera -> image")
        for key in ("instruction", "embodiment", "task"):
            if not isinstance(obs.get(key), str):
                raise ProtocolError(f"{where}.observation.{key} must be a string, got {type(obs.get(key)).__name__}")
        try:
            check_observation(obs)
        except ValueError as exc:
            raise ProtocolError(f"{where}.observation: {exc}") from None
        obs = {k: obs[k] for k in OBSERVATION_KEYS}
        prefix = item.get("prefix")
        if prefix is not None:
            prefix = np.asarray(prefix)
            if not isinstance(item["prefix"], np.ndarray) or prefix.ndim != 2 or prefix.shape[1] != UNIFIED_DIM \
                    or prefix.dtype.kind != "f" or not np.isfinite(prefix).all():
                raise ProtocolError(f"{where}.prefix must be finite float[d, {UNIFIED_DIM}] or null")
        step = _field(item, "step", int, where)
        out.append(PolicyInput(episode_id=_field(item, "episode_id", str, where), observation=obs, step=step, prefix=prefix))
    return out


def episode_message(episode: EpisodeInfo) -> dict[str, Any]:
    return {"type": "reset", "episode": {
        "episode_id": episode.episode_id, "benchmark": episode.benchmark, "task": episode.task,
        "instruction": episode.instruction, "embodiment": episode.embodiment, "seed": int(episode.seed),
        "action_mask": np.asarray(episode.action_mask, dtype=bool),
        "noop_action": np.asarray(episode.noop_action, dtype=np.float32),
    }}


def batch_message(batch: list[PolicyInput]) -> dict[str, Any]:
    return {"type": "infer", "batch": [
        {"episode_id": x.episode_id, "step": int(x.step), "prefix": x.prefix,
         "observation": {k: x.observation[k] for k in OBSERVATION_KEYS}}
        for x in batch
    ]}


def error_message(error: str, request: Any = None) -> dict[str, Any]:
    return {"type": "error", "error": error, "request": request if isinstance(request, str) else None}
