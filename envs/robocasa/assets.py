"""Which RoboCasa asset pack is active, and clear errors when assets are missing.

RoboCasa reads its kitchen assets from ``robocasa/models/assets`` of the
installed package. ``scripts/setup_robocasa.sh`` makes one pack active there
and records it in ``h05_asset_pack.json``: the official assets (downloaded by
``make robocasa-assets``, or linked from the folder named by
``ROBOCASA_ASSETS``) or the generated lite pack (sim_assets/robocasa_lite).
"""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import yaml

ASSET_MARKER = "h05_asset_pack.json"
WAYS_OUT = (
    "either download the official assets (`make robocasa-assets`, or point ROBOCASA_ASSETS at a "
    "complete official asset folder and run `bash scripts/setup_robocasa.sh`), or use the lite pack "
    "(unset ROBOCASA_ASSETS and run `bash scripts/setup_robocasa.sh`; results are labelled 'lite')"
)
# fixture registry file for a style key (everything cabinet-like reads cabinet.yaml)
_CABINET_LIKE = ("cabinet", "drawer", "box", "shelves", "panel", "handle")


class RoboCasaAssetsMissing(FileNotFoundError):
    """An asset file RoboCasa needs is not there; the message names it and the two ways out."""

    def __init__(self, missing: str, root: Path | str) -> None:
        self.missing = str(missing)
        super().__init__(f"RoboCasa asset missing: {self.missing} (asset folder {root}); {WAYS_OUT}")


def package_assets_root() -> Path:
    spec = importlib.util.find_spec("robocasa")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "robocasa is not installed in this interpreter; RoboCasa runs in .venv-robocasa "
            "(bash scripts/setup_robocasa.sh)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models" / "assets"


def active_pack(root: Path | None = None) -> dict:
    """The marker of the active pack: ``{"pack": "lite"|"official", "version", "source"}``."""
    root = root or package_assets_root()
    marker = root / ASSET_MARKER
    if not marker.is_file():
        if (root / "textures").is_dir():
            return {"pack": "official", "version": "official", "source": str(root)}
        raise RoboCasaAssetsMissing("textures/ (no asset pack installed)", root)
    return json.loads(marker.read_text())


@lru_cache(maxsize=None)
def _yaml(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}


def _registry(root: Path, style_key: str) -> dict:
    base = style_key if (root / "fixtures" / "fixture_registry" / f"{style_key}.yaml").is_file() else None
    if base is None and any(k in style_key for k in _CABINET_LIKE):
        base = "cabinet"
    if base is None:
        return {}
    return _yaml(root / "fixtures" / "fixture_registry" / f"{base}.yaml")


def required_files(root: Path, layout: int, style: int) -> list[str]:
    """Asset-relative files a (layout, style) pair names through its style YAML and the fixture registries."""
    style_file = next(iter(sorted((root / "scenes" / "kitchen_styles").glob(f"*/style{style:03d}.yaml"))), None)
    if style_file is None:
        raise RoboCasaAssetsMissing(f"scenes/kitchen_styles/*/style{style:03d}.yaml", root)
    if not list((root / "scenes" / "kitchen_layouts").glob(f"*/layout{layout:03d}.yaml")):
        raise RoboCasaAssetsMissing(f"scenes/kitchen_layouts/*/layout{layout:03d}.yaml", root)
    style_cfg = _yaml(style_file)
    needed: list[str] = []
    for key, value in style_cfg.items():
        registry = _registry(root, key)
        names = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
        flat: list = []
        for n in names:
            flat.extend(n if isinstance(n, list) else [n])
        for name in flat:
            entry = registry.get(name) if isinstance(name, str) else None
            if not isinstance(entry, dict):
                continue
            for field, v in entry.items():
                if field == "xml" and isinstance(v, str):
                    needed.append(v if v.endswith(".xml") else f"{v}/model.xml")
                elif isinstance(v, str) and v.endswith((".png", ".jpg")):
                    needed.append(v)
    return sorted(set(needed))


def check_assets(scenes: Iterable[tuple[int, int]], root: Path | None = None) -> dict:
    """Check that the files the given scenes name exist; return the active pack's marker.

    Raises ``RoboCasaAssetsMissing`` naming the first missing file and the two ways out.
    """
    root = root or package_assets_root()
    pack = active_pack(root)
    for layout, style in scenes:
        for rel in required_files(root, layout, style):
            if not (root / rel).exists():
                raise RoboCasaAssetsMissing(rel, root)
    return pack
