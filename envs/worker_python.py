"""Which Python interpreter runs the env workers of each benchmark family.

Resolution, first match wins:
1. an explicit mapping passed by the caller (config ``env_workers.python``);
2. the environment variable ``H05_PYTHON_<FAMILY>`` (e.g. ``H05_PYTHON_ROBOCASA``);
3. ``FAMILY_INTERPRETERS`` below (paths relative to the repository root);
4. the evaluator's own interpreter (``sys.executable``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent

# family -> interpreter, relative to the repository root (absent: sys.executable)
FAMILY_INTERPRETERS: dict[str, str] = {
    "robocasa": ".venv-robocasa/bin/python",  # scripts/setup_robocasa.sh (RoboCasa pins mujoco/numpy)
}


class WorkerPythonError(ValueError):
    """A configured worker interpreter that does not exist."""


def worker_python(family: str, overrides: Mapping[str, str] | None = None) -> str:
    """The interpreter for ``family``'s env workers; a missing one raises naming where it came from."""
    env_var = f"H05_PYTHON_{family.upper()}"
    if overrides and overrides.get(family):
        path, source = str(overrides[family]), f"config env_workers.python.{family}"
    elif os.environ.get(env_var):
        path, source = os.environ[env_var], f"environment variable {env_var}"
    elif family in FAMILY_INTERPRETERS:
        path, source = str(REPO_ROOT / FAMILY_INTERPRETERS[family]), f"envs.worker_python.FAMILY_INTERPRETERS[{family!r}]"
    else:
        return sys.executable
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise WorkerPythonError(f"worker interpreter for {family!r} not found: {path!r} (from {source})")
    return path
