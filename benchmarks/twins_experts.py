"""Expert success matrix of the twins: every feasible task x embodiment pair, N seeds (init indices 0..N-1).

    .venv/bin/python benchmarks/twins_experts.py --episodes 50 --workers 2 --out runs/twins_experts
    .venv/bin/python benchmarks/twins_experts.py --tasks stack_three --embodiments d1 g1   # a slice

Resumable: each episode is appended to ``<out>/<task>@<embodiment>.jsonl`` as it finishes, tagged
with a fingerprint of the twins code and assets; a rerun skips episodes already recorded under the
same fingerprint (episodes of other code versions are ignored, never mixed in), unless
``--reuse FP:EMB,EMB`` names an older fingerprint whose episodes still stand for those embodiments
(a change that cannot touch them); ``--verify-reuse K`` then reruns K episodes of each reused pair
under the current code and refuses the reuse unless success and step counts match. Progress goes to
stdout, one line per finished pair; the matrix (markdown) is printed and written to ``<out>/matrix.md``
from whatever is recorded, so slices run in parallel processes combine into one table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def code_fingerprint() -> str:
    """Hash of the files that decide an expert episode (twins code and assets)."""
    h = hashlib.sha256()
    for p in sorted([*(ROOT / "envs/twins").glob("*.py"), *(ROOT / "sim_assets/twins").glob("*.yaml")]):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:12]


def recorded(path: Path, fingerprint: str) -> dict[int, dict]:
    """Episodes already in ``path`` under ``fingerprint``, by init index."""
    out: dict[int, dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by an interrupted run
            if r.get("code") == fingerprint:
                out[int(r["init_index"])] = r
    return out


def recorded_for(path: Path, fingerprint: str, reuse: tuple[str, ...] = ()) -> dict[int, dict]:
    """Episodes under the current fingerprint, filled in from the reused older ones."""
    out: dict[int, dict] = {}
    for fp in reversed((fingerprint, *reuse)):
        out.update(recorded(path, fp))
    return out


def parse_reuse(items: list[str]) -> dict[str, tuple[str, ...]]:
    """``FP:EMB,EMB`` items -> embodiment -> reused fingerprints."""
    out: dict[str, tuple[str, ...]] = {}
    for item in items:
        fp, _, embs = item.partition(":")
        if not fp or not embs:
            raise SystemExit(f"--reuse {item!r}: expected FINGERPRINT:EMBODIMENT[,EMBODIMENT...]")
        for e in embs.split(","):
            out[e] = out.get(e, ()) + (fp,)
    return out


def verify_reuse(task: str, emb: str, out_dir: Path, reuse: tuple[str, ...], k: int) -> list[str]:
    """Rerun the first ``k`` reused episodes under the current code; describe any that differ."""
    from envs.twins.benchmark import find_pair
    from envs.twins.env import TwinEnv
    from envs.twins.expert import run_expert_episode

    old = recorded_for(out_dir / f"{task}@{emb}.jsonl", "", reuse)
    env = TwinEnv(find_pair(task, emb), render=False)
    bad = []
    for i in sorted(old)[:k]:
        r = run_expert_episode(env, i)
        if (r["success"], r["steps"]) != (old[i]["success"], old[i]["steps"]):
            bad.append(f"{task}@{emb}#{i}: now {r['success']}/{r['steps']} steps, recorded {old[i]['success']}/{old[i]['steps']}")
    env.close()
    return bad


def run_pair(args: tuple[str, str, int, str, str, tuple[str, ...]]) -> dict:
    """Run the missing episodes of one pair, appending each to its jsonl; return the pair's summary."""
    from envs.twins.benchmark import find_pair
    from envs.twins.env import TwinEnv
    from envs.twins.expert import run_expert_episode

    task, emb, n, out_dir, fingerprint, reuse = args
    path = Path(out_dir) / f"{task}@{emb}.jsonl"
    done = recorded_for(path, fingerprint, reuse)
    t0 = time.perf_counter()
    todo = [i for i in range(n) if i not in done]
    if todo:
        env = TwinEnv(find_pair(task, emb), render=False)
        with path.open("a") as f:
            for i in todo:
                e0 = time.perf_counter()
                try:
                    r = run_expert_episode(env, i)
                except Exception as exc:  # recorded as a failed episode, never silently dropped
                    r = {"success": False, "steps": 0, "error": f"{type(exc).__name__}: {exc}"}
                rec = {"init_index": i, "success": r["success"], "steps": r["steps"], "code": fingerprint,
                       "seconds": round(time.perf_counter() - e0, 3)} | ({"error": r["error"]} if "error" in r else {})
                f.write(json.dumps(rec) + "\n")
                f.flush()
                done[i] = rec
        env.close()
    eps = [done[i] for i in range(n)]
    return {"task": task, "embodiment": emb, "successes": sum(r["success"] for r in eps), "episodes": n,
            "failed_init_indices": [r["init_index"] for r in eps if not r["success"]],
            "new_episodes": len(todo), "seconds": time.perf_counter() - t0}


def matrix(out_dir: Path, n: int, fingerprint: str, reuse: dict[str, tuple[str, ...]] | None = None) -> str:
    """Markdown task x embodiment table of successes over the first ``n`` init indices."""
    from envs.twins.embodiments import embodiment_names, load_embodiment
    from envs.twins.tasks import TASKS

    embs = list(embodiment_names())
    lines = ["| task | " + " | ".join(embs) + " |", "|---|" + "---|" * len(embs)]
    for t in TASKS:
        cells = []
        for e in embs:
            if not t.feasible(load_embodiment(e)):
                cells.append("infeasible (one arm)")
                continue
            done = recorded_for(out_dir / f"{t.name}@{e}.jsonl", fingerprint, (reuse or {}).get(e, ()))
            eps = [done[i] for i in range(n) if i in done]
            ok = sum(r["success"] for r in eps)
            cell = f"{ok}/{len(eps)}" if eps else "not run"
            cells.append(f"**{cell}**" if eps and (len(eps) < n or ok < 0.9 * n) else cell)
        lines.append(f"| {t.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    from envs.twins.embodiments import embodiment_names, load_embodiment
    from envs.twins.tasks import TASKS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--tasks", nargs="*", default=None)
    p.add_argument("--embodiments", nargs="*", default=None)
    p.add_argument("--out", default="runs/twins_experts", help="directory of per-pair jsonl files")
    p.add_argument("--table-only", action="store_true", help="print the matrix from what is recorded, run nothing")
    p.add_argument("--reuse", action="append", default=[], metavar="FP:EMB,EMB",
                   help="episodes recorded under older code FP still count for these embodiments")
    p.add_argument("--verify-reuse", type=int, default=3, metavar="K",
                   help="rerun K reused episodes per reused pair and refuse the reuse on any difference")
    a = p.parse_args()
    known_tasks = [t.name for t in TASKS]
    for name in a.tasks or []:
        if name not in known_tasks:
            p.error(f"unknown task {name!r}; known: {', '.join(known_tasks)}")
    embs = a.embodiments or list(embodiment_names())
    for e in embs:
        load_embodiment(e)  # raises naming the known embodiments
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    fp = code_fingerprint()
    reuse = parse_reuse(a.reuse)
    jobs = [(t.name, e, a.episodes, str(out), fp, reuse.get(e, ())) for t in TASKS if (a.tasks is None or t.name in a.tasks)
            for e in embs if t.feasible(load_embodiment(e))]
    if reuse and a.verify_reuse > 0:
        bad: list[str] = []
        for task, e, *_ in jobs:
            if e in reuse:
                bad += verify_reuse(task, e, out, reuse[e], a.verify_reuse)
        if bad:
            raise SystemExit("reused episodes differ under the current code:\n" + "\n".join(bad))
        print(f"reuse verified: {a.verify_reuse} episodes per reused pair replay identically", flush=True)
    if not a.table_only:
        print(f"code {fp}: {len(jobs)} pairs x {a.episodes} episodes, {a.workers} workers -> {out}", flush=True)
        with ProcessPoolExecutor(a.workers) as pool:
            for k, fut in enumerate(as_completed([pool.submit(run_pair, j) for j in jobs]), 1):
                r = fut.result()
                print(f"[{k}/{len(jobs)}] {r['task']:14s} {r['embodiment']:12s} {r['successes']}/{r['episodes']}"
                      f"  ({r['new_episodes']} new, {r['seconds']:.0f}s)  failed: {r['failed_init_indices']}", flush=True)
    table = matrix(out, a.episodes, fp, reuse)
    head = f"code {fp}" + "".join(f"; {e}: also episodes of code {','.join(f)}" for e, f in reuse.items())
    (out / "matrix.md").write_text(f"{head}, {a.episodes} episodes per pair\n\n{table}\n")
    print(f"\n{head}, {a.episodes} episodes per pair (bold: below 90% or incomplete)\n\n{table}")


if __name__ == "__main__":
    main()
