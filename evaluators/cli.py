"""The ``h05`` console command.

Subcommands are listed in ``COMMANDS`` (name -> "module:function", help);
each function takes the remaining argv. Modules load only when their
subcommand runs, so ``h05 list`` never imports torch.
"""

from __future__ import annotations

import importlib
import sys
from typing import Sequence

COMMANDS: dict[str, tuple[str, str]] = {
    "eval": ("evaluators.cli:eval_main", "evaluate a policy: h05 eval [key=value ...] (hydra overrides)"),
    "list": ("evaluators.cli:list_main", "list benchmarks, suites, tasks or embodiments"),
    "ablate": ("evaluators.ablate:ablate_main", "delay x UAC x MPG x sensory-shift grid, curves and table: h05 ablate --suites ... --delays 0 1 2 3 4"),
    "demos": ("envs.twins.demos:demos_main", "record scripted-expert demos as LeRobot v3.0 datasets: h05 demos --benchmark twins ..."),
    "train": ("h05.training.command:train_main", "train / post-train Being-H0.5 on LeRobot v3.0 datasets: h05 train [key=value ...] (hydra overrides)"),
    "serve": ("evaluators.serving.server:serve_main", "serve a policy over websocket+msgpack: h05 serve policy=noop [port=8765]"),
    "status": ("evaluators.status:status_main", "progress of a run folder: h05 status runs/<name> [--json]"),
    "leaderboard": ("leaderboards.command:leaderboard_main", "tables, matrices and plots from runs: h05 leaderboard runs/<name> ..."),
}

# Errors a user can cause with bad input: printed as one line, exit code 2.
USER_ERRORS = (
    "envs.benchmarks:UnknownNameError",
    "envs.unified_space:UnifiedSpaceError",
    "envs.observation:ActionError",
    "evaluators.config:ConfigError",
    "evaluators.policies:PolicyConfigError",
    "evaluators.store:StoreMismatchError",
    "envs.shift.levels:ShiftError",
    "evaluators.store:StoreWriteError",
    "evaluators.serving.server:ServingConfigError",
    "evaluators.serving.client:RemotePolicyError",
    "evaluators.launchers:LaunchError",
    "h05.data.lerobot:DatasetError",
)


def _user_error_types() -> tuple[type, ...]:
    out = []
    for ref in USER_ERRORS:
        module, attr = ref.split(":")
        out.append(getattr(importlib.import_module(module), attr))
    return tuple(out) + (ValueError,)


def eval_main(argv: Sequence[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print("usage: h05 eval [key=value ...]\n\nConfig: evaluators/conf/eval.yaml; e.g.\n"
              "  h05 eval policy=noop suites=[libero_spatial,libero_goal] trials_per_task=50 name=myrun")
        return 0
    from evaluators.eval_command import run_eval

    run_eval(argv)
    return 0


def list_main(argv: Sequence[str]) -> int:
    import argparse

    from envs.benchmarks import BENCHMARK_FACTORIES, get_benchmark
    from envs.unified_space import EMBODIMENTS

    p = argparse.ArgumentParser(prog="h05 list")
    p.add_argument("what", choices=["benchmarks", "suites", "tasks", "embodiments"])
    p.add_argument("--benchmark", default=None, help="restrict to one benchmark")
    p.add_argument("--suite", default=None, help="restrict tasks to one suite")
    args = p.parse_args(argv)
    names = [args.benchmark] if args.benchmark else list(BENCHMARK_FACTORIES)
    if args.what == "benchmarks":
        for name in names:
            bench = get_benchmark(name)
            print(f"{name}\tsuites: {', '.join(bench.suites())}")
    elif args.what == "suites":
        for name in names:
            for suite in get_benchmark(name).suites():
                tasks = get_benchmark(name).tasks(suite)
                print(f"{name}\t{suite}\t{len(tasks)} tasks\tmax_steps {tasks[0].max_steps if tasks else '-'}")
    elif args.what == "tasks":
        for name in names:
            bench = get_benchmark(name)
            lister = getattr(bench, "print_tasks", None)
            if lister is not None and args.suite is None:
                lister()
                continue
            suites = [args.suite] if args.suite else bench.suites()
            for suite in suites:
                for i, t in enumerate(bench.tasks(suite)):
                    print(f"{name}\t{suite}\t{i}\t{t.name}\t{t.embodiment}\tmax_steps={t.max_steps}\t{t.instruction}")
    else:
        for name, m in sorted(EMBODIMENTS.items()):
            print(f"{name}\tstate {m.native_dim('state')}-D\taction {m.native_dim('action')}-D\t{m.description}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: h05 <command> [args]\n\ncommands:")
        for name, (_, help_text) in COMMANDS.items():
            print(f"  {name:12s} {help_text}")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"h05: unknown command {name!r}; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module, attr = COMMANDS[name][0].split(":")
    try:
        return int(getattr(importlib.import_module(module), attr)(rest) or 0)
    except KeyboardInterrupt:
        print("h05: interrupted; finished episodes are kept, rerun the same command to resume", file=sys.stderr)
        return 130
    except _user_error_types() as exc:
        print(f"h05 {name}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
