"""Expert success matrix of the twins: every feasible task x embodiment pair, N seeds (init indices 0..N-1).

    .venv/bin/python benchmarks/twins_experts.py --episodes 50 --workers 2 --out runs/twins_experts.json
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def run_pair(args: tuple[str, str, int]) -> dict:
    from envs.twins.benchmark import find_pair
    from envs.twins.env import TwinEnv
    from envs.twins.expert import run_expert_episode

    task, emb, n = args
    env = TwinEnv(find_pair(task, emb), render=False)
    t0 = time.perf_counter()
    results = [run_expert_episode(env, i)["success"] for i in range(n)]
    return {"task": task, "embodiment": emb, "successes": int(sum(results)), "episodes": n,
            "failed_init_indices": [i for i, ok in enumerate(results) if not ok], "seconds": time.perf_counter() - t0}


def main() -> None:
    from envs.twins.embodiments import embodiment_names, load_embodiment
    from envs.twins.tasks import TASKS

    p = argparse.ArgumentParser()
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--tasks", nargs="*", default=None)
    p.add_argument("--embodiments", nargs="*", default=None)
    p.add_argument("--out", default="runs/twins_experts.json")
    a = p.parse_args()
    embs = a.embodiments or list(embodiment_names())
    jobs = [(t.name, e, a.episodes) for t in TASKS if (a.tasks is None or t.name in a.tasks)
            for e in embs if t.feasible(load_embodiment(e))]
    out = []
    with ProcessPoolExecutor(a.workers) as pool:
        for r in pool.map(run_pair, jobs):
            out.append(r)
            print(f"{r['task']:14s} {r['embodiment']:12s} {r['successes']}/{r['episodes']}  {r['seconds']:.1f}s", flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1))
    tasks = [t.name for t in TASKS if a.tasks is None or t.name in a.tasks]
    print("\n| task | " + " | ".join(embs) + " |\n|---|" + "---|" * len(embs))
    for t in tasks:
        cells = []
        for e in embs:
            r = next((x for x in out if x["task"] == t and x["embodiment"] == e), None)
            cells.append("-" if r is None else f"{r['successes']}/{r['episodes']}")
        print(f"| {t} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
