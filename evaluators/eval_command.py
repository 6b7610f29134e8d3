"""``h05 eval``: plan, run (resuming), and print the success table."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from envs.render_device import PLAN as RENDER_PLAN
from envs.render_device import RenderDeviceError
from evaluators.config import ConfigError, compose, to_container
from evaluators.env_pool import EnvWorkerSettings
from evaluators.executors import make_executor
from evaluators.plan import EpisodeSpec, build_plan, plan_hash, shard
from evaluators.policies import make_policy
from evaluators.runner import run_episodes
from evaluators.store import EpisodeStore
from leaderboards.success_table import records_frame, success_table, to_markdown


def _as_list(value: Any) -> list | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def plan_from_config(cfg: dict[str, Any], policy_id: str) -> list[EpisodeSpec]:
    suites = _as_list(cfg["suites"])
    if suites is None:
        raise ConfigError("suites must name at least one suite")
    benchmarks = _as_list(cfg["benchmark"]) or []
    if len(benchmarks) > 1:  # one run over several families: each suite belongs to one benchmark
        from envs.benchmarks import get_benchmark

        owned = {b: [s for s in suites if s in get_benchmark(b).suites()] for b in benchmarks}
        unclaimed = [s for s in suites if not any(s in v for v in owned.values())]
        if unclaimed or not all(owned.values()):
            raise ConfigError(f"suites {suites} do not split over benchmarks {benchmarks}: "
                              f"unclaimed {unclaimed}, per benchmark {owned}")
        return [spec for b in benchmarks for spec in plan_from_config({**cfg, "benchmark": b, "suites": owned[b]}, policy_id)]
    return build_plan(
        benchmark=benchmarks[0] if benchmarks else cfg["benchmark"],
        suites=suites,
        tasks=_as_list(cfg["tasks"]),
        trials_per_task=cfg["trials_per_task"],
        policy=policy_id,
        seed=cfg["seed"],
        executor=cfg["executor"]["name"],
        execute_steps=cfg["executor"]["execute_steps"],
        max_steps=cfg["max_steps"],
    )


def policy_identity(policy: Any) -> str:
    """A short stable id of the policy and its settings, part of every episode id."""
    desc = policy.describe()
    blob = json.dumps(desc, sort_keys=True, default=str)
    return f"{desc.get('name', policy.name)}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def write_tables(run_dir: Path, specs: Sequence[EpisodeSpec], store: EpisodeStore) -> str:
    """Write table.md and table.csv for the run and return the Markdown."""
    frame = records_frame(store.records())
    planned = [(s.suite, s.task) for s in specs]
    table = success_table(frame, planned)
    md = to_markdown(table, title=f"{run_dir.name}: success rate, 95% Wilson intervals")
    (run_dir / "table.md").write_text(md)
    table.to_csv(run_dir / "table.csv", index=False, float_format="%.6f")
    return md


def run_eval(overrides: Sequence[str]) -> Path:
    cfg = to_container(compose("eval", overrides))
    policy = make_policy(cfg["policy"])
    specs = plan_from_config(cfg, policy_identity(policy))
    # Validate everything before the run folder is touched.
    render = {"auto": None, True: True, False: False}.get(cfg["render"], cfg["render"])
    if render not in (None, True, False):
        raise ConfigError(f"render must be auto, true or false, got {cfg['render']!r}")
    workers = cfg["workers"]
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ConfigError(f"workers must be a whole number >= 1, got {workers!r}")
    env_workers = EnvWorkerSettings.from_config(cfg.get("env_workers"))
    try:  # the EGL device(s): resolved now only if this run renders (envs.render_device)
        RENDER_PLAN.configure(cfg["render_device"], resolve=render is True or (render is None and policy.needs_images))
    except RenderDeviceError as exc:
        raise ConfigError(str(exc)) from None
    executor = make_executor(cfg["executor"]["name"])
    run_dir = Path(cfg["runs_dir"]) / cfg["name"]
    store = EpisodeStore(run_dir, writer=f"shard-{cfg['shard']['index']:04d}")
    store.bind_plan(plan_hash(specs), {"config": cfg, "episodes": len(specs), "policy": policy.describe()})
    if cfg["launcher"]["name"] != "inprocess":  # shards in other processes: evaluators/launchers.py
        from evaluators.launchers import launch

        return launch(cfg, overrides, specs, run_dir)
    mine = shard(specs, cfg["shard"]["index"], cfg["shard"]["count"])
    with store:
        run_episodes(mine, store, policy, executor, render=render, progress=cfg["progress"],
                     env_workers=env_workers, workers=workers)
    md = write_tables(run_dir, specs, store)
    print(md)
    print(f"records and tables in {run_dir}/", file=sys.stderr)
    return run_dir
