"""The shipped twins checkpoint: verified unpacking, strict load, and a policy that really succeeds.

The closed-loop check runs the real `h05 eval` (make eval's preset) on four init states of
lift_tray@g1 that training never saw (demos used 100..199): the trained policy must succeed on at
least three, where the no-op policy succeeds on none.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import h05.shipped as shipped
from h05.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent


def test_catalog_checkpoints_unpack_and_load_strictly(tmp_path, monkeypatch):
    monkeypatch.setenv("H05_CHECKPOINT_CACHE", str(tmp_path / "cache"))
    for name, entry in shipped.catalog().items():
        folder = shipped.resolve_checkpoint(f"shipped:{name}")
        assert folder.parent == tmp_path / "cache" and (folder / "config.json").is_file()
        model, config, meta = load_checkpoint(f"shipped:{name}", dtype="float32")  # strict key/shape check
        manifest = json.loads((folder / "training_manifest.json").read_text())
        pairs = sorted(f"{p['task']}@{p['embodiment']}" for p in manifest["trained"])
        assert pairs == sorted(entry["trained_on"])
        assert all(np.isfinite(p.detach().numpy()).all() for p in model.parameters())
        assert shipped.resolve_checkpoint(f"shipped:{name}") == folder  # second call: the cached folder


def test_unknown_or_corrupt_shipped_checkpoint_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("H05_CHECKPOINT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(shipped.ShippedCheckpointError, match="unknown shipped checkpoint 'nope'.*twins_bimanual"):
        shipped.resolve_checkpoint("shipped:nope")
    entry = shipped.catalog()["twins_bimanual"]
    bad = tmp_path / "assets"
    bad.mkdir()
    data = bytearray((shipped.CATALOG.parent / entry["archive"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / entry["archive"]).write_bytes(bytes(data))
    (bad / "catalog.yaml").write_text(yaml.safe_dump({"twins_bimanual": entry}))
    monkeypatch.setattr(shipped, "CATALOG", bad / "catalog.yaml")
    with pytest.raises(shipped.ShippedCheckpointError, match="sha256 .* catalog says"):
        shipped.resolve_checkpoint("shipped:twins_bimanual")
    assert not any((tmp_path / "cache").glob("twins_bimanual-*/config.json"))


def _eval(tmp_path: Path, name: str, *overrides: str) -> list[dict]:
    cmd = [sys.executable, "-m", "evaluators.cli", "eval", "preset=make_eval", f"runs_dir={tmp_path}", f"name={name}",
           "tasks=[lift_tray@g1]", "trials_per_task=4", "progress=false", *overrides]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True, timeout=900)
    return [json.loads(line) for f in sorted((tmp_path / name / "records").glob("*.jsonl"))
            for line in f.read_text().splitlines() if line.strip()]


def test_shipped_policy_succeeds_closed_loop_where_noop_fails(tmp_path):
    trained = _eval(tmp_path, "shipped")
    noop = _eval(tmp_path, "noop", "policy=noop")
    assert len(trained) == len(noop) == 4
    assert all(r["status"] != "error" for r in trained + noop), [r.get("error") for r in trained + noop]
    assert sum(r["success"] for r in noop) == 0
    assert sum(r["success"] for r in trained) >= 3, [(r["spec"]["trial"], r["success"], r["steps"]) for r in trained]
