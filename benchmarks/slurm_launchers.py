"""Wall-clock of one plan under each launcher: in-process, launcher=local, launcher=slurm.

    bash slurm/cluster.sh start && eval "$(bash slurm/cluster.sh env)"
    MUJOCO_GL=egl .venv/bin/python benchmarks/slurm_launchers.py --trials 8 --max-steps 50 --shards 2

Each launcher runs the same plan (LIBERO spatial task 0, blind noop policy)
into a fresh run folder; the script prints seconds, episodes per minute and
checks that every launcher recorded the same episode ids and outcomes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evaluators.store import EpisodeStore


def run(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "evaluators.cli", "eval", *args], check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--max-steps", type=int, default=50)
    p.add_argument("--shards", type=int, default=2)
    a = p.parse_args()
    runs = Path(tempfile.mkdtemp(prefix="h05-bench-launchers-"))
    plan = ["policy=noop", "tasks=[0]", f"trials_per_task={a.trials}", f"max_steps={a.max_steps}", "progress=false",
            f"runs_dir={runs}"]
    cases = {
        "inprocess": [],
        f"local x{a.shards}": ["launcher=local", f"launcher.shards={a.shards}", "launcher.poll_s=0.5"],
        f"slurm array x{a.shards}": ["launcher=slurm", f"launcher.shards={a.shards}", "launcher.poll_s=0.5"],
    }
    outcomes = {}
    print(f"plan: {a.trials} episodes x {a.max_steps} steps; runs in {runs}")
    for i, (label, extra) in enumerate(cases.items()):
        seconds = run([*plan, f"name=case{i}", *extra])
        recs = EpisodeStore(runs / f"case{i}").records()
        outcomes[label] = {r["episode_id"]: (r["status"], r["steps"], r.get("final_state_sha")) for r in recs}
        print(f"{label:>16}: {seconds:6.1f} s  {60 * len(recs) / seconds:5.1f} episodes/min  ({len(recs)} recorded)")
    first = next(iter(outcomes.values()))
    print("identical records across launchers:", all(o == first for o in outcomes.values()))


if __name__ == "__main__":
    main()
