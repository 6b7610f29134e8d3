"""Shared test setup: headless rendering, offline hubs, and the project root on sys.path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="module")
def slurm_cluster():
    """Start the local cluster (slurm/cluster.sh, installing Slurm if needed); stop it afterwards if this fixture started it."""
    cluster = ROOT / "slurm" / "cluster.sh"
    was_running = subprocess.run(["bash", str(cluster), "status"], capture_output=True, text=True).stdout
    subprocess.run(["bash", str(cluster), "start"], check=True, timeout=600)
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(ROOT / "slurm" / "state" / "slurm.conf")
    os.environ.setdefault("MUJOCO_GL", "egl")
    yield
    if old is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = old
    if "slurmctld: running" not in was_running:
        subprocess.run(["bash", str(cluster), "stop"], check=False, timeout=60)
