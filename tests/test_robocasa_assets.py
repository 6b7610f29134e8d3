"""Asset packs: the lite pack's fixture models carry what RoboCasa reads; a partial official folder
fails with an error naming the missing file and the two ways out."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from envs.robocasa.assets import RoboCasaAssetsMissing, active_pack, check_assets, required_files

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_ASSETS = next(iter((ROOT / ".venv-robocasa" / "lib").glob("python3*/site-packages/robocasa/models/assets")), None)
LITE = ROOT / "sim_assets" / "robocasa_lite" / "build" / "assets"


def needs_setup(test):
    """Fail (not skip) when the RoboCasa interpreter or the lite pack is missing: `make setup` builds both."""

    def wrapper(*args, **kwargs):
        assert PACKAGE_ASSETS is not None and LITE.is_dir(), "RoboCasa interpreter or lite pack missing: run make setup"
        return test(*args, **kwargs)

    wrapper.__name__, wrapper.__doc__ = test.__name__, test.__doc__
    import inspect

    wrapper.__signature__ = inspect.signature(test)
    return wrapper


def _model(rel: str) -> ET.Element:
    return ET.parse(LITE / rel / "model.xml").getroot()


@needs_setup
def test_lite_pack_is_active_and_labelled():
    pack = active_pack(PACKAGE_ASSETS)
    assert pack["pack"] == "lite" and pack["version"].startswith("lite")
    assert json.loads((LITE / "PACK.json").read_text())["pack"] == "lite"


@needs_setup
def test_lite_fixtures_have_the_joints_sites_and_regions_robocasa_reads():
    sink = _model("fixtures/sinks/Sink001")
    obj = sink.find("./worldbody/body/body[@name='object']")
    assert obj is not None
    joints = {j.get("name"): j for j in obj.findall("./body/joint")}
    assert {"handle_joint", "handle_temp_joint", "spout_joint"} <= set(joints)
    assert all(j.get("range") for j in joints.values())
    assert sink.find("./worldbody/body/body/body/site[@name='water']") is not None
    assert {g.get("name") for g in obj.findall("geom")} >= {"reg_main", "reg_basin"}
    stove = _model("fixtures/stoves/" + sorted(p.name for p in (LITE / "fixtures/stoves").iterdir())[0])
    knobs = [j for j in stove.iter("joint") if j.get("name", "").startswith("knob_")]
    assert len(knobs) == 4 and all(j.get("range") for j in knobs)
    knob_x = sorted(float(b.get("pos").split()[0]) for b in stove.iter("body") if b.get("name", "").startswith("knob_"))
    assert min(b - a for a, b in zip(knob_x, knob_x[1:])) > 0.05  # overlapping knobs break the solver
    micro = _model("fixtures/microwaves/" + sorted(p.name for p in (LITE / "fixtures/microwaves").iterdir())[0])
    names = {g.get("name") for g in micro.iter("geom")}
    assert {"start_button", "stop_button", "reg_main", "reg_tray"} <= names
    assert any(j.get("name") == "microjoint" for j in micro.iter("joint"))
    for geom in list(sink.iter("geom")) + list(micro.iter("geom")):
        assert geom.get("group") in ("0", "1"), geom.get("name")


def _partial_official(tmp_path: Path, drop: str) -> Path:
    """A copy of the package's shipped assets plus the pack's files, minus ``drop``: a broken official folder."""
    root = tmp_path / "assets"
    shutil.copytree(PACKAGE_ASSETS / "scenes", root / "scenes")
    shutil.copytree(PACKAGE_ASSETS / "fixtures" / "fixture_registry", root / "fixtures" / "fixture_registry")
    for rel in required_files(PACKAGE_ASSETS, 1, 1):
        src = PACKAGE_ASSETS / rel
        if rel != drop and src.exists():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, root / rel)
    (root / "textures").mkdir(exist_ok=True)  # looks like an official download
    return root


@needs_setup
def test_partial_official_folder_names_the_missing_file_and_both_ways_out(tmp_path):
    needed = required_files(PACKAGE_ASSETS, 1, 1)
    drop = next(r for r in needed if r.startswith("fixtures/sinks/"))
    root = _partial_official(tmp_path, drop)
    with pytest.raises(RoboCasaAssetsMissing) as err:
        check_assets([(1, 1)], root)
    msg = str(err.value)
    assert drop in msg and "make robocasa-assets" in msg and "lite pack" in msg
    assert err.value.missing == drop
    assert active_pack(root)["pack"] == "official"


@needs_setup
def test_complete_folder_passes_and_unknown_scene_is_named(tmp_path):
    root = _partial_official(tmp_path, drop="")
    assert check_assets([(1, 1)], root)["pack"] == "official"
    with pytest.raises(RoboCasaAssetsMissing, match="style999"):
        check_assets([(1, 999)], root)
