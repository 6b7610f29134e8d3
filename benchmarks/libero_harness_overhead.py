"""Harness overhead on LIBERO: the same episodes through `h05` and through a bare LIBERO loop.

Both sides replay one fixed action sequence from the same init states, so
they simulate identical trajectories (checked: the final unified states must
be bit-identical). The bare loop is what a minimal evaluation script does with the
LIBERO package directly (seed, reset, set init state, settle, step, check
success); the harness adds the unified-space mapping, image post-processing,
policy protocol, validation and one durable record per episode. Episodes
alternate between the two sides so machine load hits both alike.

    .venv/bin/python benchmarks/libero_harness_overhead.py --episodes 6 --render
    .venv/bin/python benchmarks/libero_harness_overhead.py --episodes 6 --render --same-work

By default the harness runs as it does in an evaluation: fast physics, reset and
control paths on (``envs/libero/fast_physics.py``, ``fast_reset.py``, ``fast_control.py``), 8 actions per
query, cameras rendered only for the observation a query sees; the ratio is then
the harness's end-to-end speed against the bare loop. ``--same-work`` turns
those off (robosuite's own loop, reset and substep control; with ``--render`` also one action per
query, so that every step is rendered as in the bare loop) so that both sides do
the same simulation and rendering work and the ratio is the harness's overhead alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MUJOCO_GL", "egl")

from envs.benchmarks import find_task, get_benchmark  # noqa: E402
from envs.libero.benchmark import bddl_path, init_states  # noqa: E402
from envs.libero.protocol import load_protocol  # noqa: E402
from envs.rendering import configure_headless_rendering  # noqa: E402
from envs.unified_space import embodiment  # noqa: E402
from evaluators.executors import state_digest  # noqa: E402
from evaluators.plan import build_plan  # noqa: E402
from evaluators.runner import run_episodes  # noqa: E402
from evaluators.store import EpisodeStore  # noqa: E402


class ReplayPolicy:
    """Chunks cut from one fixed native action sequence, by step index."""

    name = "replay"
    chunk_length = 16

    def __init__(self, native_actions: np.ndarray, needs_images: bool) -> None:
        mapping = embodiment("libero_panda")
        self.unified = mapping.to_unified("action", native_actions)
        self.needs_images = needs_images

    def reset(self, episode) -> None:
        pass

    def infer(self, batch):
        out = []
        for x in batch:
            idx = np.clip(np.arange(x.step, x.step + self.chunk_length), 0, len(self.unified) - 1)
            out.append(self.unified[idx])
        return np.stack(out)

    def describe(self):
        return {"name": self.name}


def bare_episode(task, index: int, seed: int, actions: np.ndarray, render: bool) -> tuple[float, str]:
    """One episode with the LIBERO package directly; returns (seconds, final state digest)."""
    from libero.libero.envs.env_wrapper import ControlEnv

    proto = load_protocol()
    t0 = time.perf_counter()
    env = ControlEnv(
        bddl_file_name=bddl_path(task), use_camera_obs=render, has_offscreen_renderer=render,
        camera_names=list(proto.cameras), camera_heights=proto.render_size, camera_widths=proto.render_size,
        control_freq=proto.control_freq, hard_reset=True,
    )
    env.seed(seed)
    env.reset()
    obs = env.set_init_state(init_states(task)[index])
    for _ in range(proto.settle_steps):
        obs, *_ = env.step(np.asarray(proto.settle_action, dtype=np.float64))
    for a in actions:
        obs, _, _, _ = env.step(a.astype(np.float64))
        if render:  # what a minimal user loop does with the frames
            _ = obs["agentview_image"][::-1, ::-1], obs["robot0_eye_in_hand_image"][::-1, ::-1]
        if env.check_success():
            break
    env.close()
    elapsed = time.perf_counter() - t0
    from robosuite.utils.transform_utils import quat2axisangle

    native = np.concatenate([obs["robot0_eef_pos"], quat2axisangle(obs["robot0_eef_quat"]), obs["robot0_gripper_qpos"]])
    return elapsed, state_digest({"state": embodiment("libero_panda").to_unified("state", native)})


def harness_episode(spec, actions: np.ndarray, render: bool, root: Path) -> tuple[float, str]:
    policy = ReplayPolicy(actions, needs_images=render)
    store = EpisodeStore(root / spec.episode_id)
    t0 = time.perf_counter()
    with store:
        rec = run_episodes([spec], store, policy, render=render, progress=False)[0]
    elapsed = time.perf_counter() - t0
    assert rec["status"] != "error", rec["error"]
    return elapsed, rec["final_state_sha"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=4)
    p.add_argument("--steps", type=int, default=120, help="env steps per episode")
    p.add_argument("--render", action="store_true", help="render both cameras (the realistic case)")
    p.add_argument("--same-work", action="store_true",
                   help="harness without its fast paths (rendered: one action per query): its overhead alone")
    args = p.parse_args()
    if args.same_work:  # read when the LIBERO envs are built
        for switch in ("H05_LIBERO_FAST_PHYSICS", "H05_LIBERO_FAST_RESET", "H05_LIBERO_FAST_CONTROL"):
            os.environ[switch] = "0"
    if args.render:
        configure_headless_rendering()
    bench = get_benchmark("libero")
    task = find_task(bench, "libero_spatial", 0)
    rng = np.random.default_rng(0)
    actions = np.concatenate([rng.uniform(-0.3, 0.3, (args.steps, 6)), -np.ones((args.steps, 1))], axis=1).astype(np.float32)
    specs = build_plan("libero", ["libero_spatial"], [0], args.episodes, policy="replay", max_steps=args.steps,
                       execute_steps=1 if args.same_work and args.render else 8)
    # Warm both paths once (imports, numba, shader cache) outside the timing.
    with tempfile.TemporaryDirectory() as tmp:
        harness_episode(specs[0], actions, args.render, Path(tmp) / "warm")
        bare_episode(task, 0, specs[0].seed, actions, args.render)
        h_times, b_times = [], []
        for spec in specs:
            hb, heef = harness_episode(spec, actions, args.render, Path(tmp))
            bb, beef = bare_episode(task, spec.init_index, spec.seed, actions, args.render)
            h_times.append(hb)
            b_times.append(bb)
            if heef != beef:
                raise SystemExit(f"trajectories differ for init {spec.init_index}: {heef} vs {beef}")
    h, b = sum(h_times), sum(b_times)
    print(f"machine: {platform.node()} {os.cpu_count()} cpus; render={args.render}; same work={args.same_work}; "
          f"load {os.getloadavg()[0]:.2f}; "
          f"{args.episodes} episodes x {args.steps} steps, libero_spatial task 0")
    print(f"harness {h:.1f}s (median {statistics.median(h_times):.2f}s/episode), "
          f"bare {b:.1f}s (median {statistics.median(b_times):.2f}s/episode), ratio {h / b:.3f}")


if __name__ == "__main__":
    main()
