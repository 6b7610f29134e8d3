"""Writing a benchmark's JSON result (the file BENCHMARKS.md cites)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(path: str | Path | None, result: Any) -> None:
    """Write ``result`` to ``path`` (parents made), if a path was given, and say so."""
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
