"""Checkpoints shipped with the suite: ``shipped:<name>`` -> an unpacked released-layout folder.

The archives and their checksums are data (sim_assets/checkpoints/catalog.yaml). An archive is
checked against its sha256 and unpacked once into ``.cache/h05/checkpoints/<name>-<sha12>/``;
concurrent shards unpack into private temporary folders and the first rename wins.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "sim_assets" / "checkpoints" / "catalog.yaml"
PREFIX = "shipped:"


class ShippedCheckpointError(ValueError):
    """Unknown shipped name, missing archive or checksum mismatch."""


def catalog() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(CATALOG.read_text()) or {}


def cache_dir() -> Path:
    return Path(os.environ.get("H05_CHECKPOINT_CACHE", ROOT / ".cache" / "h05" / "checkpoints"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def unpack(name: str) -> Path:
    """The unpacked folder of shipped checkpoint ``name`` (verified and unpacked on first use)."""
    entries = catalog()
    if name not in entries:
        raise ShippedCheckpointError(f"unknown shipped checkpoint {name!r}; shipped: {', '.join(sorted(entries)) or 'none'}")
    entry = entries[name]
    target = cache_dir() / f"{name}-{entry['sha256'][:12]}"
    if (target / "config.json").is_file():
        return target
    archive = CATALOG.parent / entry["archive"]
    if not archive.is_file():
        raise ShippedCheckpointError(f"shipped checkpoint {name!r}: archive {archive} is missing")
    digest = _sha256(archive)
    if digest != entry["sha256"]:
        raise ShippedCheckpointError(f"shipped checkpoint {name!r}: {archive} has sha256 {digest}, "
                                     f"catalog says {entry['sha256']} (corrupt or partial file)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        with tarfile.open(archive, "r:xz") as tar:
            tar.extractall(tmp, filter="data")
        src = tmp / entry.get("folder", name)
        if not (src / "config.json").is_file():
            raise ShippedCheckpointError(f"shipped checkpoint {name!r}: {archive} holds no {entry.get('folder', name)}/config.json")
        try:
            src.rename(target)
        except OSError:
            if not (target / "config.json").is_file():  # lost the race to a complete folder: fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_checkpoint(spec: str | os.PathLike[str]) -> Path:
    """A checkpoint folder from a path or ``shipped:<name>``."""
    text = str(spec)
    return unpack(text[len(PREFIX):]) if text.startswith(PREFIX) else Path(text)
