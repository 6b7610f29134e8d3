"""The training manifest stored with a checkpoint: which (task, embodiment) pairs it saw.

Format (``<checkpoint folder>/training_manifest.json``)::

    {"format": "h05-training-manifest/1",
     "trained": [{"task": "stack_blocks", "embodiment": "so101"},
                 {"task": "*", "embodiment": "adam_u", "benchmark": "twins"}]}

``task`` is the base task name (twins tasks are recorded as
``<task>@<embodiment>``; the part before ``@`` is the base name); ``"*"``
matches every task of that embodiment; ``benchmark`` is optional.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "h05-training-manifest/1"
FILE_NAME = "training_manifest.json"
CHECKPOINT_KEYS = ("checkpoint", "checkpoint_path", "checkpoint_dir", "path")


class TrainingManifestError(ValueError):
    """A training manifest that cannot be read or has a bad entry."""


@dataclass(frozen=True)
class TrainingManifest:
    path: str
    trained: frozenset[tuple[str, str, str]]  # (benchmark or "*", task or "*", embodiment)

    def is_trained(self, task: str, embodiment: str, benchmark: str = "*") -> bool:
        base = base_task(task)
        return any(
            b in ("*", benchmark) and t in ("*", base) and e == embodiment for b, t, e in self.trained
        )


def base_task(task: str) -> str:
    """``stack_blocks@so101`` -> ``stack_blocks``."""
    return task.split("@", 1)[0]


def read_training_manifest(path: str | Path) -> TrainingManifest:
    """Read and validate a training manifest file (or the one inside a checkpoint folder)."""
    p = Path(path)
    if p.is_dir():
        p = p / FILE_NAME
    if not p.exists():
        raise TrainingManifestError(f"training manifest {str(p)!r} does not exist")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise TrainingManifestError(f"training manifest {str(p)!r} is not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise TrainingManifestError(f"training manifest {str(p)!r}: format must be {FORMAT!r}, got {got!r}")
    entries = data.get("trained")
    if not isinstance(entries, list):
        raise TrainingManifestError(f"training manifest {str(p)!r}: 'trained' must be a list")
    trained = set()
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("task"), str) or not isinstance(e.get("embodiment"), str):
            raise TrainingManifestError(
                f"training manifest {str(p)!r}: trained[{i}] = {e!r} needs string 'task' and 'embodiment'"
            )
        trained.add((str(e.get("benchmark", "*")), base_task(e["task"]), e["embodiment"]))
    return TrainingManifest(path=str(p), trained=frozenset(trained))


def checkpoint_manifest_path(run_manifest: dict[str, Any], run_dir: Path) -> Path | None:
    """The training manifest beside the checkpoint named in a run's policy config, if any."""
    policy = (run_manifest.get("config") or {}).get("policy") or {}
    for key in CHECKPOINT_KEYS:
        value = policy.get(key) if isinstance(policy, dict) else None
        if not isinstance(value, str) or not value:
            continue
        for base in (Path(value), run_dir / value):
            candidate = base if base.name == FILE_NAME else base / FILE_NAME
            if candidate.exists():
                return candidate
    return None
