"""The worked MPG/UAC ablation of `make ablate`: its grid names the shipped checkpoints and runs with them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from evaluators.ablate import build_parser, grid_conditions, parse_policy, run_ablation
from evaluators.store import EpisodeStore
from h05.shipped import PREFIX, catalog

ROOT = Path(__file__).resolve().parent.parent


def makefile_ablate_args() -> list[str]:
    """The Makefile's ABLATE_ARGS default, split as the shell would."""
    text = (ROOT / "Makefile").read_text()
    match = re.search(r"^ABLATE_ARGS \?=(.*?)(?<!\\)\n", text, re.M | re.S)
    assert match, "Makefile has no ABLATE_ARGS ?= line"
    return shlex.split(match.group(1).replace("\\\n", " "))


def test_make_ablate_compares_the_two_shipped_checkpoints() -> None:
    args = build_parser().parse_args(makefile_ablate_args())
    policies = [parse_policy(p) for p in args.policy]
    shipped = catalog()
    by_label = {p["label"]: p["checkpoint"] for p in policies}
    assert by_label == {"plain": f"{PREFIX}twins_bimanual", "mpg+uac": f"{PREFIX}twins_bimanual_mpg_uac"}
    for ckpt in by_label.values():
        assert ckpt.removeprefix(PREFIX) in shipped
    pairs = set(args.tasks)
    for p in policies:  # evaluated only on pairs the checkpoints were trained on
        assert pairs <= set(shipped[p["checkpoint"].removeprefix(PREFIX)]["trained_on"])
    assert args.delays == [0, 1, 2, 3, 4] and set(args.modes) == {"naive", "uac", "rtc"}
    assert args.shifts and args.shift_delays == [0] and args.workers >= 1


def test_shift_delays_limit_the_shifted_conditions() -> None:
    conds = grid_conditions([0, 2], ["naive"], [("lighting", 2)], shift_delays=[0])
    assert [(c["delay"], c["perturbation"]) for c in conds] == [(0, "none"), (0, "lighting"), (2, "none")]
    with pytest.raises(ValueError, match="shift delay 3"):
        grid_conditions([0, 2], ["naive"], [("lighting", 2)], shift_delays=[3])
    with pytest.raises(ValueError, match="--workers .* 0"):
        run_ablation(["--suites", "bimanual", "--benchmark", "twins", "--workers", "0"])


def test_ablate_runs_a_shipped_checkpoint_with_uac_prefixes(tmp_path) -> None:
    run_dir = run_ablation([
        "--benchmark", "twins", "--suites", "bimanual", "--tasks", "lift_tray@g1", "--trials", "1",
        "--policy", '{"name": "h05", "checkpoint": "shipped:twins_bimanual_mpg_uac", "label": "mpg+uac"}',
        "--delays", "2", "--modes", "uac", "--max-steps", "24", "--no-progress",
        "--runs-dir", str(tmp_path), "--name", "tiny",
    ])
    (record,) = EpisodeStore(run_dir).records()
    assert record["status"] in ("success", "failure") and record["spec"]["policy"].startswith("mpg+uac:")
    info = record["executor_info"]
    assert info["mode"] == "uac" and set(info["delays"][1:]) == {2} and info["underflows"] == 0
    # H05Policy returns the committed prefix as the chunk's first rows: what ran is what it was given
    assert info["prefix_max_abs_error"] == pytest.approx(0.0, abs=1e-6)
    assert "| mpg+uac | uac | 2 | none | 0 | 1 |" in (run_dir / "table.md").read_text()
