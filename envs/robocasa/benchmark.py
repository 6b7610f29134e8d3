"""RoboCasa as a benchmark of the registry: the paper's 24 tasks under their v0.1 names.

Listing tasks needs only the protocol YAML, so the evaluator's interpreter can
plan RoboCasa episodes; building an env needs RoboCasa and runs in the env
worker started with .venv-robocasa's interpreter.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from importlib import metadata
from typing import Any, Sequence

from envs.benchmarks import TaskInfo, UnknownNameError, suggest
from envs.robocasa.protocol import load_protocol

BENCHMARK_NAME = "robocasa"
SUITE = "robocasa_lite_atomic24"  # "lite": v1.0 code, own asset pack; never compare with published v0.1 numbers
OFFICIAL_SUITE = "robocasa_atomic24"
EMBODIMENT = "robocasa_panda_omron"


def _instruction(name: str) -> str:
    """A readable default; the episode's own language (ep_meta["lang"]) replaces it at reset."""
    words = []
    for ch in name:
        if ch.isupper() and words:
            words.append(" ")
        words.append(ch.lower())
    return "".join(words).replace("pn p", "pick and place").replace("cab", "cabinet")


class RoboCasaBenchmark:
    """The 24 atomic tasks; suite name says which asset pack the numbers come from."""

    name = BENCHMARK_NAME

    def __init__(self) -> None:
        self.protocol = load_protocol()

    def suites(self) -> Sequence[str]:
        return (SUITE, OFFICIAL_SUITE)

    @lru_cache(maxsize=None)
    def tasks(self, suite: str | None = None) -> tuple[TaskInfo, ...]:
        if suite is None:
            return self.tasks(SUITE)
        if suite not in self.suites():
            raise UnknownNameError(
                f"unknown suite {suite!r} in benchmark 'robocasa'{suggest(suite, self.suites())}; "
                f"known: {', '.join(self.suites())}"
            )
        return tuple(
            TaskInfo(
                benchmark=self.name,
                suite=suite,
                name=spec.name,
                instruction=_instruction(spec.name),
                embodiment=EMBODIMENT,
                max_steps=self.protocol.max_steps,
                num_init_states=self.protocol.trials_per_task,
                chunk_length=self.protocol.chunk_length,
                execute_steps=self.protocol.execute_steps,
                extra={"cls": spec.cls, "group": spec.group, "asset_pack": "lite" if suite == SUITE else "official"},
            )
            for spec in self.protocol.tasks
        )

    def make_env(self, task: TaskInfo, render: bool = True, **kwargs: Any):
        from envs.robocasa.env import RoboCasaEnv

        env = RoboCasaEnv(task, render=render, **kwargs)
        wanted = task.extra.get("asset_pack")
        if wanted and env.asset_pack.get("pack") != wanted:
            env.close()
            raise ValueError(
                f"suite {task.suite!r} needs the {wanted} RoboCasa assets but the active pack is "
                f"{env.asset_pack.get('pack')!r}; use suite {SUITE if wanted == 'official' else OFFICIAL_SUITE!r} "
                f"or install the other pack (docs/robocasa.md)"
            )
        return env

    def trials_per_task(self) -> int:
        return self.protocol.trials_per_task

    def base_seed(self) -> int:
        return self.protocol.base_seed

    def versions(self) -> dict[str, str]:
        """Versions in the interpreter that runs RoboCasa (.venv-robocasa), read without importing it."""
        site = _robocasa_site_packages()
        out = {"robocasa_protocol": "paper-24-atomic"}
        for pkg in ("praxis-robocasa", "praxis-robosuite", "mujoco", "numpy"):
            dists = list(metadata.distributions(name=pkg, path=[str(site)])) if site else []
            out[pkg] = dists[0].version if dists else "absent"
        try:
            from envs.robocasa.assets import active_pack

            root = site / "robocasa" / "models" / "assets" if site else None
            out["robocasa_assets"] = str(active_pack(root).get("version"))
        except (ModuleNotFoundError, FileNotFoundError):
            out["robocasa_assets"] = "absent"
        return out


def _robocasa_site_packages() -> Path | None:
    """site-packages holding robocasa: this interpreter's, else the RoboCasa worker interpreter's."""
    import importlib.util

    spec = importlib.util.find_spec("robocasa")
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0]).parent
    try:
        from envs.worker_python import worker_python

        venv = Path(worker_python(BENCHMARK_NAME)).parent.parent
    except (ImportError, ValueError):
        return None
    found = sorted(venv.glob("lib/python3*/site-packages/robocasa"))
    return found[0].parent if found else None
