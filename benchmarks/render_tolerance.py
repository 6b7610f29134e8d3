"""Same scenes, two renderers: how far NVIDIA EGL images are from Mesa llvmpipe ones.

``render`` draws a fixed set of twins scenes (every embodiment, two tasks, every
camera, init indices 0 and 1, at reset and after a fixed action sequence; the
physics runs on the CPU either way, so only rasterisation differs) and writes
the uint8 images plus the GL renderer that drew them to an ``.npz``.
``compare`` gives per-image max / mean absolute difference, the fraction of
pixels differing by more than 8 (any channel) and PSNR, and a summary.

    MUJOCO_GL=egl .venv/bin/python benchmarks/render_tolerance.py render --device cpu --out benchmarks/data/render_llvmpipe.npz
    python benchmarks/render_tolerance.py render --device gpu --out $OUT/render_nvidia.npz       # on the GPU machine
    python benchmarks/render_tolerance.py compare benchmarks/data/render_llvmpipe.npz $OUT/render_nvidia.npz --json $OUT/tol.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

TASKS = ("place_on_pad", "place_left_of")
INIT_INDICES = (0, 1)
STEPS = 6  # frames at reset and after STEPS actions
DIFF_THRESHOLD = 8


def fixed_actions(noop: np.ndarray, mask: np.ndarray, steps: int) -> list[np.ndarray]:
    """The hold action plus a small deterministic sway on the embodiment's own action slots."""
    k = np.arange(mask.size)
    return [(noop + 0.02 * np.sin(0.7 * (t + 1) + 0.3 * k) * mask).astype(np.float32) for t in range(steps)]


def render_scenes(device: str) -> tuple[dict[str, np.ndarray], dict]:
    """Images keyed ``task@embodiment/init<i>/step<s>/<camera>`` and what rendered them."""
    from envs.render_device import PLAN, current_render_device
    from envs.rendering import configure_headless_rendering

    PLAN.configure(device)
    configure_headless_rendering()
    from envs.benchmarks import find_task, get_benchmark
    from envs.twins.embodiments import embodiment_names
    from envs.unified_space import embodiment

    bench = get_benchmark("twins")
    images: dict[str, np.ndarray] = {}
    info: dict | None = None
    for task_name in TASKS:
        for emb in embodiment_names():
            task = find_task(bench, "spatial", f"{task_name}@{emb}")
            env = bench.make_env(task, render=True)
            try:
                mask = embodiment(emb).mask("action").astype(np.float32)
                for init in INIT_INDICES:
                    obs, reset_info = env.reset(seed=0, options={"init_index": init})
                    info = info or current_render_device()
                    frames = {0: obs["images"]}
                    for action in fixed_actions(reset_info["noop_action"], mask, STEPS):
                        obs = env.step(action)[0]
                    frames[STEPS] = obs["images"]
                    for step, cams in frames.items():
                        for cam, img in cams.items():
                            images[f"{task_name}@{emb}/init{init}/step{step}/{cam}"] = np.asarray(img, np.uint8)
            finally:
                env.close()
    return images, info or {}


def compare(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict:
    """Per-image and summary differences between two image sets with the same keys."""
    keys = sorted(set(a) & set(b))
    missing = sorted(set(a) ^ set(b))
    if not keys:
        raise ValueError("the two files share no image keys")
    rows = []
    for k in keys:
        x, y = a[k].astype(np.int16), b[k].astype(np.int16)
        if x.shape != y.shape:
            raise ValueError(f"{k}: shapes differ, {x.shape} vs {y.shape}")
        d = np.abs(x - y)
        mse = float((d.astype(np.float64) ** 2).mean())
        rows.append({"image": k, "max_abs": int(d.max()), "mean_abs": float(d.mean()),
                     "frac_gt8": float((d.max(axis=-1) > DIFF_THRESHOLD).mean()),
                     "psnr_db": float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))})
    finite = [r["psnr_db"] for r in rows if np.isfinite(r["psnr_db"])]
    summary = {"images": len(rows), "missing_keys": missing,
               "identical_images": sum(r["max_abs"] == 0 for r in rows),
               "max_abs": max(r["max_abs"] for r in rows),
               "mean_abs_mean": float(np.mean([r["mean_abs"] for r in rows])),
               "mean_abs_worst": max(r["mean_abs"] for r in rows),
               "frac_gt8_mean": float(np.mean([r["frac_gt8"] for r in rows])),
               "frac_gt8_worst": max(r["frac_gt8"] for r in rows),
               "psnr_db_min": min(finite) if finite else float("inf"),
               "psnr_db_median": float(np.median(finite)) if finite else float("inf")}
    return {"summary": summary, "per_image": rows}


def load(path: str) -> tuple[dict[str, np.ndarray], dict]:
    with np.load(path) as z:
        images = {k: z[k] for k in z.files if k != "__meta__"}
        meta = json.loads(str(z["__meta__"])) if "__meta__" in z.files else {}
    return images, meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render", help="render the fixed scenes to an .npz")
    r.add_argument("--device", default="auto", help="render_device: auto, cpu, gpu or a GPU index")
    r.add_argument("--out", required=True)
    c = sub.add_parser("compare", help="differences between two .npz files")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.cmd == "render":
        images, info = render_scenes(args.device)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        meta = {"render": info, "tasks": TASKS, "init_indices": INIT_INDICES, "steps": STEPS}
        np.savez_compressed(args.out, __meta__=np.array(json.dumps(meta)), **images)
        print(f"wrote {len(images)} images rendered by {info.get('render_device')} ({info.get('gl_renderer')}) to {args.out}")
        return
    (a, meta_a), (b, meta_b) = load(args.a), load(args.b)
    result = compare(a, b)
    result["a"] = {"path": args.a, **meta_a.get("render", {})}
    result["b"] = {"path": args.b, **meta_b.get("render", {})}
    s = result["summary"]
    print(f"{result['a'].get('render_device')} vs {result['b'].get('render_device')}: {s['images']} images, "
          f"{s['identical_images']} identical; max |diff| {s['max_abs']}, mean |diff| {s['mean_abs_mean']:.3f} "
          f"(worst image {s['mean_abs_worst']:.3f}); pixels > {DIFF_THRESHOLD}: {100 * s['frac_gt8_mean']:.3f}% "
          f"(worst {100 * s['frac_gt8_worst']:.3f}%); PSNR min {s['psnr_db_min']:.1f} dB, median {s['psnr_db_median']:.1f} dB")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
