"""The RoboCasa protocol, loaded from ``protocol.yaml`` (the one place it is written). Needs only PyYAML."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PROTOCOL_FILE = Path(__file__).with_name("protocol.yaml")


@dataclass(frozen=True)
class Scene:
    """A pinned kitchen: v1.0 layout id and style id."""

    layout: int
    style: int


@dataclass(frozen=True)
class RoboCasaTaskSpec:
    """One paper task: its v0.1 name, the v1.0 class that implements it, and constructor kwargs."""

    name: str
    cls: str
    group: str
    kwargs: tuple[tuple[str, Any], ...] = ()
    scenes: tuple[Scene, ...] = ()


@dataclass(frozen=True)
class RoboCasaProtocol:
    robot: str
    cameras: tuple[str, ...]
    render_size: int
    image_size: int
    max_steps: int
    trials_per_task: int
    chunk_length: int
    execute_steps: int
    control_freq: int
    base_seed: int
    scenes: tuple[Scene, ...]
    tasks: tuple[RoboCasaTaskSpec, ...]

    def task(self, name: str) -> RoboCasaTaskSpec:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(f"unknown RoboCasa task {name!r}; known: {', '.join(t.name for t in self.tasks)}")

    def scene_for_trial(self, task: str, trial: int) -> Scene:
        """Trial ``i`` runs in scene ``i % n`` of the task's scenes (the protocol's by default)."""
        scenes = self.task(task).scenes or self.scenes
        return scenes[int(trial) % len(scenes)]


def _scenes(raw: Any) -> tuple[Scene, ...]:
    return tuple(Scene(int(s["layout"]), int(s["style"])) for s in raw or ())


@lru_cache(maxsize=1)
def load_protocol() -> RoboCasaProtocol:
    raw = yaml.safe_load(PROTOCOL_FILE.read_text())
    tasks = tuple(
        RoboCasaTaskSpec(
            name=name,
            cls=spec["cls"],
            group=spec["group"],
            kwargs=tuple(sorted((spec.get("kwargs") or {}).items())),
            scenes=_scenes(spec.get("scenes")),
        )
        for name, spec in raw["tasks"].items()
    )
    return RoboCasaProtocol(
        robot=raw["robot"],
        cameras=tuple(raw["cameras"]),
        render_size=int(raw["render_size"]),
        image_size=int(raw["image_size"]),
        max_steps=int(raw["max_steps"]),
        trials_per_task=int(raw["trials_per_task"]),
        chunk_length=int(raw["chunk_length"]),
        execute_steps=int(raw["execute_steps"]),
        control_freq=int(raw["control_freq"]),
        base_seed=int(raw["base_seed"]),
        scenes=_scenes(raw["scenes"]),
        tasks=tasks,
    )
