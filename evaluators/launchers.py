"""Launchers: run one evaluation plan as shards in parallel (``launcher=local|slurm``).

Every launcher splits the plan with :func:`evaluators.plan.shard`, runs each
shard as ``h05 eval ... shard.index=i shard.count=n`` semantics (writer
``shard-000i`` of the one store), waits, then merges: the tables are written
from all records. Only shards with missing episodes are (re)submitted, so
rerunning the same command resumes.

The launch folder ``runs/<name>/launch/`` holds ``shards.json`` (the planned
episode ids of each shard) and ``submissions.jsonl`` (one line per submission);
``h05 status`` reads both.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from evaluators.plan import EpisodeSpec, plan_hash, shard

LAUNCH_DIR = "launch"
SHARDS_FILE = "shards.json"
SUBMISSIONS_FILE = "submissions.jsonl"
INPROCESS = "inprocess"


class LaunchError(RuntimeError):
    """Bad launcher input, or a launched run that did not complete."""


def launch_dir(run_dir: Path) -> Path:
    return Path(run_dir) / LAUNCH_DIR


def shard_overrides(overrides: Sequence[str], run_dir: Path) -> list[str]:
    """The user's overrides for one shard: launcher and shard keys removed, run folder made absolute."""
    keep = []
    for o in overrides:
        key = o.lstrip("+~").split("=", 1)[0]
        if key.split(".", 1)[0] in ("launcher", "shard", "runs_dir", "name"):
            continue
        keep.append(o)
    return [*keep, f"runs_dir={Path(run_dir).parent.resolve()}", f"name={Path(run_dir).name}", f"launcher={INPROCESS}"]


def write_shards(run_dir: Path, specs: Sequence[EpisodeSpec], count: int) -> list[list[str]]:
    """Record which episode ids each of ``count`` shards owns; return them."""
    ids = [[s.episode_id for s in shard(specs, i, count)] for i in range(count)]
    folder = launch_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{SHARDS_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"count": count, "plan_hash": plan_hash(specs), "ids": ids}))
    os.replace(tmp, folder / SHARDS_FILE)
    return ids


def read_shards(run_dir: Path) -> dict[str, Any] | None:
    path = launch_dir(run_dir) / SHARDS_FILE
    return json.loads(path.read_text()) if path.exists() else None


def append_submission(run_dir: Path, entry: dict[str, Any]) -> None:
    entry = {"submitted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **entry}
    with open(launch_dir(run_dir) / SUBMISSIONS_FILE, "a") as fh:
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_submissions(run_dir: Path) -> list[dict[str, Any]]:
    path = launch_dir(run_dir) / SUBMISSIONS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fresh_folder(run_dir: Path, launcher: str) -> Path:
    """A new folder per submission (job ids restart when a cluster's state is wiped)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    base = launch_dir(run_dir) / f"{launcher}-{stamp}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = Path(f"{base}-{n}")
    folder.mkdir(parents=True)
    return folder


def shard_count(launcher_cfg: dict[str, Any], cfg: dict[str, Any], n_specs: int) -> int:
    """The number of shards, validated; at most one per planned episode."""
    shards = launcher_cfg.get("shards")
    if not isinstance(shards, int) or isinstance(shards, bool) or shards < 1:
        raise LaunchError(f"launcher.shards must be a positive integer, got {shards!r}")
    if cfg["shard"]["count"] != 1 or cfg["shard"]["index"] != 0:
        raise LaunchError(
            f"shard.index/shard.count ({cfg['shard']['index']}/{cfg['shard']['count']}) are set by "
            f"launcher={launcher_cfg['name']}; use launcher.shards=N instead"
        )
    if shards > n_specs:
        print(f"[h05] launcher.shards={shards} > {n_specs} planned episodes: using {n_specs} shards", file=sys.stderr)
    return min(shards, n_specs)


def launch(cfg: dict[str, Any], overrides: Sequence[str], specs: Sequence[EpisodeSpec], run_dir: Path) -> Path:
    """Run the plan through ``cfg['launcher']``; validates everything before submitting anything."""
    from evaluators.status import incomplete_shards, run_status

    lcfg = cfg["launcher"]
    name = lcfg["name"]
    if name == "local":
        from evaluators.launchers_local import LocalLauncher as Launcher
    elif name == "slurm":
        from evaluators.launchers_slurm import SlurmLauncher as Launcher  # type: ignore[assignment]
    else:
        raise LaunchError(f"unknown launcher {name!r}; known: {INPROCESS}, local, slurm")
    count = shard_count(lcfg, cfg, len(specs))
    previous = read_shards(run_dir)
    if previous is not None and previous["count"] != count and read_submissions(run_dir):
        raise LaunchError(
            f"{run_dir} was launched with {previous['count']} shards; resume it with "
            f"launcher.shards={previous['count']} (or use another name=)"
        )
    launcher = Launcher(lcfg, run_dir)
    launcher.validate()
    launcher.check_nothing_running()
    write_shards(run_dir, specs, count)
    todo = incomplete_shards(run_status(run_dir))
    if todo:
        print(f"[h05] {name}: submitting shards {todo} of {count}", file=sys.stderr, flush=True)
        launcher.submit(shard_overrides(overrides, run_dir), todo, count)
        if not lcfg.get("wait", True):
            print(f"[h05] submitted; follow with: h05 status {run_dir}", file=sys.stderr)
            return run_dir
        wait_for(run_dir, float(lcfg.get("poll_s", 5)))
    else:
        print(f"[h05] every shard of {run_dir} is complete; merging", file=sys.stderr)
    return merge(run_dir, specs)


def wait_for(run_dir: Path, poll_s: float) -> None:
    """Block until no shard task is active, printing progress when it changes."""
    from evaluators.status import run_status

    last = ""
    while True:
        status = run_status(run_dir)
        line = status.progress_line()
        if line != last:
            print(f"[h05] {line}", file=sys.stderr, flush=True)
            last = line
        if not status.any_active():
            return
        time.sleep(poll_s)


def merge(run_dir: Path, specs: Sequence[EpisodeSpec]) -> Path:
    """Write the tables from all records; raise LaunchError naming shards left incomplete."""
    from evaluators.eval_command import write_tables
    from evaluators.status import format_status, incomplete_shards, run_status
    from evaluators.store import EpisodeStore

    md = write_tables(run_dir, specs, EpisodeStore(run_dir))
    print(md)
    status = run_status(run_dir)
    if incomplete_shards(status):
        raise LaunchError(
            f"run {run_dir} is incomplete ({status.recorded}/{status.planned} episodes); rerun the same command "
            f"to resume the missing ones.\n{format_status(status)}"
        )
    print(f"records and tables in {run_dir}/", file=sys.stderr)
    return run_dir
