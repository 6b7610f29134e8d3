"""``h05 leaderboard runs/<name> [runs/<other> ...]``: tables, figures and a page from run stores."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from leaderboards.report import build_leaderboard, write_leaderboard
from leaderboards.run_loading import load_run


def leaderboard_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="h05 leaderboard", description=__doc__)
    p.add_argument("runs", nargs="+", help="run folders (runs/<name>) written by h05 eval / ablate")
    p.add_argument("--out", default=None,
                   help="output folder (default: <run>/leaderboard for one run, runs/leaderboard for several)")
    p.add_argument("--reference", default=None,
                   help="run name the others are paired against (default: the first run)")
    p.add_argument("--training-manifest", default=None,
                   help="training_manifest.json (or checkpoint folder) to mark trained / held-out cells; "
                        "default: the one beside the checkpoint in each run's policy config")
    args = p.parse_args(argv)
    runs = [load_run(r) for r in args.runs]
    out = Path(args.out) if args.out else (runs[0].path / "leaderboard" if len(runs) == 1
                                           else runs[0].path.parent / "leaderboard")
    board = build_leaderboard(runs, out, reference=args.reference, training_manifest=args.training_manifest)
    paths = write_leaderboard(board, out)
    print(paths["leaderboard.md"].read_text())
    print(f"leaderboard: {len(board.tables)} tables, {len(board.figures)} figures in {out}/ "
          f"({', '.join(paths)})", file=sys.stderr)
    return 0
