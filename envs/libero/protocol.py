"""The LIBERO evaluation protocol, loaded from ``protocol.yaml`` (the one place it is written)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

PROTOCOL_FILE = Path(__file__).with_name("protocol.yaml")


@dataclass(frozen=True)
class LiberoProtocol:
    max_steps: dict[str, int]
    settle_steps: int
    settle_action: tuple[float, ...]
    trials_per_task: int
    chunk_length: int
    execute_steps: int
    cameras: tuple[str, ...]
    render_size: int
    image_size: int
    control_freq: int
    base_seed: int

    @property
    def suites(self) -> tuple[str, ...]:
        return tuple(self.max_steps)


@lru_cache(maxsize=1)
def load_protocol() -> LiberoProtocol:
    raw = yaml.safe_load(PROTOCOL_FILE.read_text())
    return LiberoProtocol(
        max_steps={name: int(v["max_steps"]) for name, v in raw["suites"].items()},
        settle_steps=int(raw["settle_steps"]),
        settle_action=tuple(float(x) for x in raw["settle_action"]),
        trials_per_task=int(raw["trials_per_task"]),
        chunk_length=int(raw["chunk_length"]),
        execute_steps=int(raw["execute_steps"]),
        cameras=tuple(raw["cameras"]),
        render_size=int(raw["render_size"]),
        image_size=int(raw["image_size"]),
        control_freq=int(raw["control_freq"]),
        base_seed=int(raw["base_seed"]),
    )
