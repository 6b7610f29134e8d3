"""Generate the RoboCasa lite asset pack and link it into the installed package.

Run with the RoboCasa interpreter::

    .venv-robocasa/bin/python -m sim_assets.robocasa_lite.generate [--out DIR] [--install]

The pack mirrors the official relative paths (``textures/``, ``fixtures/<type>/<Name>/``,
``objects/<registry>/<cat>/<Name>/``...), so RoboCasa's own code loads it
unchanged. What to generate is read from the installed RoboCasa itself: every
texture path its XML/YAML/Python names, every model folder its fixture
registries name, every object category it scans. ``--install`` links each
pack entry whose path is missing under ``robocasa/models/assets`` (files
already there, e.g. official ones, always win) and records the pack in
``ASSET_MARKER``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from sim_assets.robocasa_lite.fixture_models import FIXTURE_BUILDERS, panel_or_handle
from sim_assets.robocasa_lite.object_models import object_xml
from sim_assets.robocasa_lite.textures import write_texture

PACK_VERSION = "lite-1"
DEFAULT_OUT = Path(__file__).resolve().parent / "build" / "assets"
ASSET_MARKER = "h05_asset_pack.json"
OBJECT_MODEL_NAME = "LitePrimitive"  # distinct from RoboCasa's exclude lists
AUXILIARY_MODEL_NAME = "LiteAuxiliary"  # e.g. a lid, one folder below its pot's model
TEXTURE_RE = re.compile(r"(?:generative_)?textures/[A-Za-z0-9_./-]+\.(?:png|jpg)")


def package_assets_root() -> Path:
    """``robocasa/models/assets`` of the installed package, found without importing RoboCasa."""
    spec = importlib.util.find_spec("robocasa")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("robocasa is not installed in this interpreter; run scripts/setup_robocasa.sh")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / "assets"


def referenced_textures(root: Path) -> set[str]:
    """Asset-relative texture paths named anywhere in the shipped assets and the package code."""
    found: set[str] = set()
    package = root.parent.parent
    for path in list(root.rglob("*.yaml")) + list(package.rglob("*.py")):
        found.update(TEXTURE_RE.findall(path.read_text(errors="ignore")))
    for xml in root.rglob("*.xml"):
        try:
            tree = ET.parse(xml)
        except ET.ParseError:
            continue
        for tex in tree.iter("texture"):
            f = tex.get("file")
            if f and f.endswith((".png", ".jpg")):
                target = (xml.parent / f).resolve()
                try:
                    found.add(str(target.relative_to(root.resolve())))
                except ValueError:
                    continue
    return found


def registry_models(root: Path) -> dict[str, str]:
    """Model folder (asset-relative) -> fixture folder name, for every registry entry with an ``xml``."""
    out: dict[str, str] = {}
    for reg in sorted((root / "fixtures" / "fixture_registry").glob("*.yaml")):
        for entry in (yaml.safe_load(reg.read_text()) or {}).values():
            if isinstance(entry, dict) and isinstance(entry.get("xml"), str):
                xml = entry["xml"].removesuffix("/model.xml")
                out[xml] = xml.split("/")[1]
    return out


def raw_object_categories() -> dict[str, dict]:
    """RoboCasa's OBJ_CATEGORIES as written in its source (before ObjCat instances replace them)."""
    spec = importlib.util.find_spec("robocasa.models.objects.kitchen_objects")
    assert spec is not None and spec.origin
    fresh = importlib.util.spec_from_file_location("_h05_raw_kitchen_objects", spec.origin)
    module = importlib.util.module_from_spec(fresh)
    fresh.loader.exec_module(module)  # type: ignore[union-attr]
    return module.OBJ_CATEGORIES


def object_folders(categories: dict[str, dict]) -> list[tuple[str, str, bool]]:
    """(category folder relative to ``objects/``, category, auxiliary flag) for every registry of every category.

    Auxiliary objects (e.g. lids) live one folder deeper inside another category's model folders.
    """
    out: list[tuple[str, str, bool]] = []
    reg_dirs = {"objaverse": "objaverse", "aigen": "aigen_objs", "lightwheel": "lightwheel"}
    for name, spec in categories.items():
        for key, reg_dir in reg_dirs.items():
            reg = spec.get(key)
            if reg is None:
                continue
            auxiliary = bool(reg.get("is_auxiliary_obj", spec.get("is_auxiliary_obj")))
            for folder in reg.get("model_folders") or [f"{reg_dir}/{name}"]:
                out.append((folder, name, auxiliary))
    return sorted(out)


def panel_and_handle_models() -> dict[str, str]:
    """Asset-relative mesh panel/handle model files the procedural cabinets can name."""
    out: dict[str, str] = {}
    for module in ("robocasa.models.fixtures.cabinets", "robocasa.models.fixtures.cabinet_panels"):
        source = Path(importlib.util.find_spec(module).origin).read_text()  # type: ignore[union-attr]
        for key, path in re.findall(r'"([A-Za-z0-9_]+)":\s*"(fixtures/[^"]+/model\.xml)"', source):
            out[path] = key
    return out


def generate(out: Path, root: Path | None = None) -> dict[str, int]:
    """Write the pack under ``out`` (asset-relative layout); return counts per kind."""
    root = root or package_assets_root()
    counts = {"textures": 0, "fixtures": 0, "panels_handles": 0, "accessories": 0, "objects": 0}
    for rel in sorted(referenced_textures(root)):
        write_texture(out / rel, rel)
        counts["textures"] += 1
    for folder, kind in sorted(registry_models(root).items()):
        name = folder.rsplit("/", 1)[-1]
        target = out / folder / "model.xml"
        target.parent.mkdir(parents=True, exist_ok=True)
        if folder.startswith("objects/"):
            target.write_text(object_xml(folder.split("/")[2]))
            counts["accessories"] += 1
        elif kind in FIXTURE_BUILDERS:
            target.write_text(FIXTURE_BUILDERS[kind](name))
            counts["fixtures"] += 1
    for rel, key in sorted(panel_and_handle_models().items()):
        half = (0.012, 0.012, 0.06) if "handle" in rel else (0.2, 0.01, 0.3)
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(panel_or_handle(key, half))
        counts["panels_handles"] += 1
    for folder, category, auxiliary in object_folders(raw_object_categories()):
        model_dir = out / "objects" / folder / OBJECT_MODEL_NAME
        if auxiliary:
            model_dir = model_dir / AUXILIARY_MODEL_NAME
        model_dir.mkdir(parents=True, exist_ok=True)
        text = object_xml(category)
        (model_dir / "model.xml").write_text(text)
        (model_dir / "model_upright.xml").write_text(text)
        counts["objects"] += 1
    (out / "PACK.json").write_text(json.dumps({"pack": "lite", "version": PACK_VERSION, "counts": counts}, indent=1))
    return counts


def link_missing(pack: Path, root: Path) -> int:
    """Symlink every pack entry whose path does not exist under ``root``; return how many links."""
    links = 0
    for entry in sorted(pack.iterdir()):
        if entry.name == "PACK.json":
            continue
        target = root / entry.name
        if target.is_symlink() and not target.exists():
            target.unlink()  # dangling link from an older pack location
        if not target.exists():
            target.symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
            links += 1
        elif target.is_dir() and entry.is_dir() and not target.is_symlink():
            links += link_missing(entry, target)
    return links


def unlink_packs(root: Path) -> int:
    """Remove every link a previous install made under ``root`` (the shipped package has none)."""
    links = [p for p in root.rglob("*") if p.is_symlink()]
    for link in links:
        link.unlink()
    (root / ASSET_MARKER).unlink(missing_ok=True)
    return len(links)


def install(pack: Path, root: Path | None = None, official: Path | None = None) -> dict:
    """Make an asset pack active in the package assets and write the marker naming it.

    ``official``: an official asset folder elsewhere (``ROBOCASA_ASSETS``), linked in.
    Official files already inside the package (``make robocasa-assets``) are used as
    they are. The lite pack is linked only when no official assets are present, so
    a partial official folder is never silently completed with lite stand-ins.
    """
    root = root or package_assets_root()
    unlink_packs(root)
    if official is not None:
        source, kind = official, "official"
    elif (root / "textures").is_dir():
        source, kind = root, "official"
    else:
        source, kind = pack, "lite"
    links = link_missing(source, root) if source != root else 0
    marker = {"pack": kind, "version": PACK_VERSION if kind == "lite" else "official",
              "source": str(source.resolve()), "links": links}
    (root / ASSET_MARKER).write_text(json.dumps(marker, indent=1))
    return marker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("H05_ROBOCASA_LITE_DIR", DEFAULT_OUT)))
    parser.add_argument("--install", action="store_true", help="link the pack into robocasa/models/assets")
    parser.add_argument("--unlink", action="store_true", help="only remove installed links (before an official download)")
    args = parser.parse_args(argv)
    if args.unlink:
        print(f"removed {unlink_packs(package_assets_root())} asset links", file=sys.stderr)
        return 0
    counts = generate(args.out)
    print(f"robocasa lite pack {PACK_VERSION} at {args.out}: {counts}", file=sys.stderr)
    if args.install:
        official = os.environ.get("ROBOCASA_ASSETS")
        marker = install(args.out, official=Path(official) if official else None)
        print(f"installed: {marker}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
