"""Leaderboard tables from synthetic stores written through EpisodeStore.

RoboCasa and the twins are being built elsewhere; their records are written
here with the same record layout the runner writes (spec + status).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from evaluators.plan import EpisodeSpec
from evaluators.store import EpisodeStore
from leaderboards.benchmark_tables import robocasa_categories, robocasa_v01_tasks
from leaderboards.cell import Cell
from leaderboards.report import build_leaderboard, write_leaderboard
from leaderboards.run_loading import PLAN_FILE, RunFolderError, load_run
from leaderboards.stats import wilson_interval
from leaderboards.table_model import MarkedCell, PublishedRate
from leaderboards.training_manifest import TrainingManifestError, read_training_manifest


def spec(benchmark, suite, task, embodiment, trial, **kw) -> EpisodeSpec:
    return EpisodeSpec(benchmark=benchmark, suite=suite, task=task, embodiment=embodiment, trial=trial,
                       init_index=trial, seed=41 + trial, max_steps=100, execute_steps=8,
                       policy=kw.pop("policy", "p-1"), **kw)


def write_run(root: Path, outcomes: list[tuple[EpisodeSpec, str | None]], config: dict | None = None) -> Path:
    """Plan every spec; record those whose status is not None (None = missing)."""
    root.mkdir(parents=True)
    (root / PLAN_FILE).write_text("".join(json.dumps(s.row(), sort_keys=True) + "\n" for s, _ in outcomes))
    (root / "manifest.json").write_text(json.dumps({"config": config or {"policy": {"name": "p"}},
                                                    "episodes": len(outcomes), "plan_hash": "synthetic"}))
    with EpisodeStore(root, writer="w") as store:
        for i, (s, status) in enumerate(outcomes):
            if status is None:
                continue
            store.append({"episode_id": s.episode_id, "spec": s.row(), "status": status,
                          "success": status == "success", "error_kind": "env" if status == "error" else None,
                          "finished_at": f"2026-01-01T00:00:{i % 60:02d}+00:00",
                          "versions": {"mujoco": "3.17.0", "python": "3.11.7"}})
    return root


def table(board, key):
    return next(t for t in board.tables if t.key == key)


def test_robocasa_mapping_is_the_24_published_tasks_in_three_categories():
    tasks = robocasa_v01_tasks()
    cats = robocasa_categories()
    assert len(tasks) == len(set(tasks)) == 24 and "NavigateKitchen" not in tasks
    counts = {c: sum(cats[t] == c for t in tasks) for c in ("pick_and_place", "doors_drawers", "others")}
    assert counts == {"pick_and_place": 8, "doors_drawers": 6, "others": 10}
    assert cats["PickPlaceCounterToCabinet"] == "pick_and_place" and cats["StartCoffeeMachine"] == "others"


def test_robocasa_table_categories_total_missing_and_errors(tmp_path):
    outcomes = []
    for t in robocasa_v01_tasks():
        cat = robocasa_categories()[t]
        for trial in range(2):
            s = spec("robocasa", "atomic", t, "panda_omron", trial)
            status = {"pick_and_place": "failure", "doors_drawers": "success", "others": "success" if trial else "failure"}[cat]
            outcomes.append((s, status))
    # one doors task loses an episode (missing), one "others" episode crashed (error)
    outcomes[-1] = (outcomes[-1][0], "error")
    idx = next(i for i, (s, _) in enumerate(outcomes) if s.task == "OpenDrawer")
    outcomes[idx] = (outcomes[idx][0], None)
    run = load_run(write_run(tmp_path / "rc", outcomes))
    board = build_leaderboard([run], tmp_path / "out")
    t = table(board, "robocasa")
    assert [r[0][0] for r in t.rows][:6] == ["Being-H0.5 specialist", "Being-H0.5 generalist", "pi0", "pi0.5", "GR00T-N1", "BC"]
    assert t.rows[0][1][3] == PublishedRate(53.9, t.rows[0][1][3].source) and "2601.12993" in t.rows[0][1][3].source
    ours = t.rows[-1][1]
    assert ours[0] == Cell(successes=0, n=16, errors=0, missing=0)
    assert ours[1] == Cell(successes=11, n=11, errors=0, missing=1)
    assert ours[2] == Cell(successes=9, n=19, errors=1, missing=0)
    assert ours[3] == Cell(successes=20, n=46, errors=1, missing=1)
    per_task = table(board, "robocasa_tasks")
    assert len(per_task.rows) == 24
    drawer = next(v for labels, v in per_task.rows if labels[0] == "OpenDrawer")
    assert drawer[0] == Cell(successes=1, n=1, errors=0, missing=1)


def test_twins_tables_per_suite_and_embodiment(tmp_path):
    outcomes = []
    for suite, task in (("spatial", "stack_blocks"), ("bimanual", "handover")):
        for emb in ("so101", "adam_u"):
            for trial in range(3):
                ok = (emb == "so101") or (suite == "spatial" and trial == 0)
                outcomes.append((spec("twins", suite, f"{task}@{emb}", emb, trial), "success" if ok else "failure"))
    run = load_run(write_run(tmp_path / "tw", outcomes))
    board = build_leaderboard([run], tmp_path / "out")
    suites = table(board, "twins_suites")
    assert suites.value_columns == ["spatial", "long_horizon", "bimanual", "generalisation", "all"]
    assert any("real robot" in labels[0] for labels, _ in suites.rows)
    ours = suites.rows[-1][1]
    assert ours[0] == Cell(4, 6, 0, 0) and ours[2] == Cell(3, 6, 0, 0) and ours[4] == Cell(7, 12, 0, 0)
    assert ours[1] == Cell(0, 0, 0, 0)  # no long-horizon episodes planned: an empty cell, shown as "-"
    emb = table(board, "twins_embodiments_tw")
    assert [r[0][0] for r in emb.rows] == ["adam_u", "so101"]
    assert emb.rows[0][1][-1] == Cell(1, 6, 0, 0)


def test_cross_embodiment_matrix_marks_trained_and_held_out(tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "training_manifest.json").write_text(json.dumps({
        "format": "h05-training-manifest/1",
        "trained": [{"task": "stack_blocks", "embodiment": "so101"}, {"task": "*", "embodiment": "d1"}]}))
    outcomes = [(spec("twins", "spatial", f"{t}@{e}", e, i), "success" if e != "g1" else "failure")
                for t in ("stack_blocks", "pour") for e in ("so101", "d1", "g1") for i in range(2)]
    run = load_run(write_run(tmp_path / "xe", outcomes, config={"policy": {"name": "h05", "checkpoint": str(ckpt)}}))
    out = tmp_path / "out"
    board = build_leaderboard([run], out)
    m = table(board, "xemb_xe")
    assert m.value_columns == ["d1", "g1", "so101"]
    marks = {labels[0]: [v.mark for v in values] for labels, values in m.rows}
    assert marks == {"pour": ["T", "H", "H"], "stack_blocks": ["T", "H", "T"]}
    assert all(isinstance(v, MarkedCell) for _, vals in m.rows for v in vals)
    summary = table(board, "xemb_summary_xe")
    assert summary.rows[0][1][0] == Cell(6, 6, 0, 0) and summary.rows[1][1][0] == Cell(2, 6, 0, 0)
    png = out / "figures" / "xemb_xe.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and ("figures/xemb_xe.png", board.figures[0][1]) in board.figures


def test_training_manifest_errors_name_the_bad_value(tmp_path):
    bad = tmp_path / "training_manifest.json"
    bad.write_text(json.dumps({"format": "other/9", "trained": []}))
    with pytest.raises(TrainingManifestError, match="other/9"):
        read_training_manifest(bad)
    bad.write_text(json.dumps({"format": "h05-training-manifest/1", "trained": [{"task": "x"}]}))
    with pytest.raises(TrainingManifestError, match=r"trained\[0\]"):
        read_training_manifest(tmp_path)
    with pytest.raises(TrainingManifestError, match="nope"):
        read_training_manifest(tmp_path / "nope")


def test_ablation_tables_and_curves_delay_and_severity(tmp_path):
    outcomes = []
    for delay, wins in ((0, 4), (2, 2), (4, 0)):
        outcomes += [(spec("libero", "libero_spatial", "t", "libero_panda", i, delay=delay), "success" if i < wins else "failure")
                     for i in range(4)]
    for sev, wins in ((1, 3), (3, 1)):
        outcomes += [(spec("libero", "libero_spatial", "t", "libero_panda", i, perturbation="camera", severity=sev),
                      "success" if i < wins else "failure") for i in range(4)]
    out = tmp_path / "out"
    board = build_leaderboard([load_run(write_run(tmp_path / "abl", outcomes))], out)
    d = table(board, "ablation_delay")
    assert d.value_columns == ["d=0", "d=2", "d=4"]
    # d=0 pools the clean episodes and the camera episodes (both run at delay 0)
    assert [c.successes for c in d.rows[0][1]] == [8, 2, 0] and [c.n for c in d.rows[0][1]] == [12, 4, 4]
    s = table(board, "ablation_severity")
    assert s.value_columns == ["s=0", "s=1", "s=3"] and s.rows[0][0] == ["abl", "camera"]
    assert [c.successes for c in s.rows[0][1]] == [6, 3, 1]
    assert {p for p, _ in board.figures} == {"figures/ablation_delay.png", "figures/ablation_severity_camera.png"}
    assert all((out / p).stat().st_size > 1000 for p, _ in board.figures)


def test_paired_comparison_uses_discordant_pairs_and_excludes_errors(tmp_path):
    a_out, b_out = [], []
    for task, (a_wins, b_wins) in {"t1": (range(0, 9), range(8, 10)), "t2": (range(0, 5), range(0, 5))}.items():
        for i in range(10):
            a_out.append((spec("libero", "libero_goal", task, "libero_panda", i, policy="A"), "success" if i in a_wins else "failure"))
            b_out.append((spec("libero", "libero_goal", task, "libero_panda", i, policy="B"), "success" if i in b_wins else "failure"))
    b_out[-1] = (b_out[-1][0], "error")  # t2 trial 9 errored under B: unpaired, not a failure
    a, b = load_run(write_run(tmp_path / "A", a_out)), load_run(write_run(tmp_path / "B", b_out))
    board = build_leaderboard([a, b], tmp_path / "out")
    t = table(board, "paired_A_vs_B")
    rows = {labels[1] or labels[0]: dict(zip(t.value_columns, vals)) for labels, vals in t.rows}
    # t1: A only on trials 0..7 (8 pairs), B only on trial 9 (1 pair): p = 2 * 10/512
    assert rows["t1"]["A only"] == "8" and rows["t1"]["B only"] == "1"
    assert float(rows["t1"]["p (exact McNemar)"]) == pytest.approx(20 / 512, rel=1e-3)
    assert rows["t2"]["pairs"] == "9" and rows["t2"]["unpaired"] == "1" and rows["t2"]["p (exact McNemar)"] == "1"
    assert rows["**overall**"]["pairs"] == "19" and rows["**overall**"]["A only"] == "8"


def test_outputs_are_byte_identical_when_regenerated_and_report_missing(tmp_path):
    outcomes = [(spec("libero", "libero_object", "t", "libero_panda", i), s)
                for i, s in enumerate(["success", "failure", "error", None, "success"])]
    root = write_run(tmp_path / "r", outcomes)
    first = write_leaderboard(build_leaderboard([load_run(root)], tmp_path / "o1"), tmp_path / "o1")
    second = write_leaderboard(build_leaderboard([load_run(root)], tmp_path / "o2"), tmp_path / "o2")
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.tex", "index.html"):
        assert first[name].read_bytes() == second[name].read_bytes(), name
    md = first["leaderboard.md"].read_text()
    assert "66.7 [20.8, 93.9] 2/3, err 1, missing 1" in md
    assert "data as of 2026-01-01T00:00:04+00:00" in md and "missing 1" in md
    rows = list(csv.DictReader(io.StringIO(first["leaderboard.csv"].read_text())))
    ours = next(r for r in rows if r["table"] == "libero" and r["row"] == "r / ours" and r["column"] == "object")
    assert (ours["successes"], ours["n"], ours["errors"], ours["missing"]) == ("2", "3", "1", "1")
    assert ours["ci_low"] == f"{wilson_interval(2, 3)[0]:.6f}" == "0.207660"
    tex = first["leaderboard.tex"].read_text()
    assert "\\begin{tabular}" in tex and "libero\\_tasks" in tex


def test_bad_run_folders_are_named(tmp_path):
    with pytest.raises(RunFolderError, match="no_such_run"):
        load_run(tmp_path / "no_such_run")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match="not a run folder"):
        load_run(tmp_path / "empty")
