"""``h05 ablate`` end to end on the twins: grid, records in the store, curves, table, resume."""

from __future__ import annotations

import json

import pytest

from evaluators.ablate import grid_conditions, parse_policy, parse_shifts, run_ablation
from evaluators.cli import main
from evaluators.store import EpisodeStore

ARGS = [
    "--benchmark", "twins", "--suites", "spatial", "--tasks", "place_on_pad@so101", "--trials", "1",
    "--policy", "expert_replay", "--delays", "0", "3", "--modes", "naive", "uac",
    "--shifts", "occlusion:2", "--execute-steps", "14", "--no-progress",
]


def test_ablation_grid_records_curves_and_resume(tmp_path) -> None:
    run_dir = run_ablation([*ARGS, "--runs-dir", str(tmp_path), "--name", "grid"])
    records = EpisodeStore(run_dir).records()
    # 2 modes x 2 delays x (clean + occlusion@2) x 1 trial
    assert len(records) == 8 and all(r["status"] in ("success", "failure") for r in records)
    by_cond = {(r["spec"]["variant"]["mode"], r["spec"]["delay"], r["spec"]["perturbation"]): r for r in records}
    for (mode, d, pert), r in by_cond.items():
        info = r["executor_info"]
        assert info["mode"] == mode and set(info["delays"][1:]) <= {d}
        # s + d = 14 + 3 > H = 16: the committed actions run out before each new chunk lands
        assert (info["underflows"] > 0) == (d == 3)
    # matched clean twin: same init state and seed as the shifted episode
    shifted = [r["spec"] for r in records if r["spec"]["perturbation"] != "none"]
    clean = [r["spec"] for r in records if r["spec"]["perturbation"] == "none"]
    assert {(s["init_index"], s["seed"]) for s in shifted} == {(s["init_index"], s["seed"]) for s in clean}
    for name in ("table.md", "table.csv", "success_vs_delay.png", "success_vs_severity_occlusion.png"):
        assert (run_dir / name).stat().st_size > 0
    table = (run_dir / "table.md").read_text()
    assert "| expert-replay-" in table and "| occlusion | 2 |" in table
    # Rerunning the same command resumes: nothing new is run or recorded.
    before = sum(1 for _ in (run_dir / "records").glob("*.jsonl"))
    run_ablation([*ARGS, "--runs-dir", str(tmp_path), "--name", "grid"])
    assert len(EpisodeStore(run_dir).records()) == 8
    assert sum(1 for _ in (run_dir / "records").glob("*.jsonl")) == before


def test_ablate_bad_input_names_the_value(tmp_path, capsys) -> None:
    with pytest.raises(ValueError, match="'fog'"):
        parse_shifts(["fog:1"])
    with pytest.raises(ValueError, match="needs severities"):
        parse_shifts(["noise"])
    with pytest.raises(ValueError, match="'x'"):
        parse_shifts(["noise:x"])
    with pytest.raises(ValueError, match="'turbo'"):
        grid_conditions([0], ["turbo"], [])
    with pytest.raises(ValueError, match="-1"):
        grid_conditions([-1], ["naive"], [])
    assert parse_policy('{"name": "h05", "label": "mpg-on"}')["label"] == "mpg-on"
    with pytest.raises(ValueError, match="no 'name'"):
        parse_policy(json.dumps({"checkpoint": "x"}))
    rc = main(["ablate", "--suites", "spatial", "--benchmark", "twins", "--shifts", "blur:9", "--runs-dir", str(tmp_path)])
    assert rc == 2 and "blur" in capsys.readouterr().err
