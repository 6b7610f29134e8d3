"""Batched Being-H0.5 inference: queries/s at batch 1, 8, 16, 32, as ``H05Policy`` serves a batch.

One query-batch = the policy's host work (uint8 224 px frames of 2 cameras ->
normalised tensors, prompt ids, per-row noise) + inputs to the device +
``BeingH05.sample`` (4 Euler steps, 16-action chunk; replayed from one CUDA
graph with ``graph``, eager with a KV cache with ``kv``) + the chunk back to
the host. Random weights of the chosen preset (``full`` = the released sizes,
h05/config.py PRESET_SIZES) in bf16. Queries/s = batch / median latency.
Host work is timed separately too, so ``throughput_compose.py`` can use
either.

    python benchmarks/batched_inference.py --preset full --device cuda --json $OUT/batched_inference.json
    .venv/bin/python benchmarks/batched_inference.py --preset tiny --device cpu --batch 1 2 --runs 2   # smoke test
"""

from __future__ import annotations

import argparse
import statistics
import time

from h05_bench_common import DTYPES, inference_setup, percentiles, sync, write_json

import numpy as np  # noqa: E402
import torch  # noqa: E402

from h05.policy import preprocess_images  # noqa: E402
from h05.tokens import PromptBuilder, load_tokenizer  # noqa: E402
from h05_bench_common import INSTRUCTION  # noqa: E402
from h05.modeling.being_h05 import Observation  # noqa: E402


def host_inputs(prompts: PromptBuilder, frames: np.ndarray, batch: int, cameras: int, size: int, chunk: int,
                device: str = "cpu"):
    """What ``H05Policy.infer`` builds for ``batch`` rows (images converted on ``device``, as the policy does)."""
    pixels = preprocess_images([frames[(i + c) % len(frames)] for i in range(batch) for c in range(cameras)], size,
                               device).view(batch, cameras, 3, size, size)
    if pixels.is_cuda:
        torch.cuda.synchronize()
    prompt = prompts.build([INSTRUCTION] * batch, cameras)
    state = torch.zeros(batch, 200)
    noise = torch.stack([torch.randn(chunk, 200, generator=torch.Generator().manual_seed(i)) for i in range(batch)])
    return prompt, pixels, state, noise


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="full")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8, 16, 32])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4, help="Euler steps per chunk")
    ap.add_argument("--modes", nargs="+", default=["graph", "kv"], choices=["graph", "kv"],
                    help="graph needs CUDA; skipped elsewhere")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    dtype, info, model, cfg, build_s = inference_setup(args)
    cuda = torch.device(args.device).type == "cuda"
    size, chunk = cfg.force_image_size, cfg.action_chunk_length
    prompts = PromptBuilder(load_tokenizer(None), cfg.image_tokens_per_camera, chunk)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (8, 224, 224, 3), dtype=np.uint8)  # camera frames as the env delivers them
    modes = [m for m in args.modes if cuda or m != "graph"]
    results: list[dict] = []
    out: dict = {"machine": info, "args": vars(args), "build_s": build_s, "results": results,
                 "model": {"preset": args.preset, "image_size": size, "chunk": chunk,
                           "params": sum(p.numel() for p in model.parameters())}}
    for b in args.batch:
        host_ms = []
        for _ in range(max(3, args.runs // 2)):
            t1 = time.perf_counter()
            prompt, pixels, state, noise = host_inputs(prompts, frames, b, args.cameras, size, chunk, args.device)
            host_ms.append((time.perf_counter() - t1) * 1e3)
        host = statistics.median(host_ms)
        for mode in modes:
            row = {"batch": b, "mode": mode, "host_ms": host, "prefix_tokens": int(prompt.input_ids.shape[1])}
            try:
                dev_prompt = prompt.to(args.device)
                if mode == "graph":
                    from h05.modeling.graphs import GraphedSampler

                    t1 = time.perf_counter()
                    sampler = GraphedSampler(model, dev_prompt, args.cameras, args.steps)
                    row["capture_s"] = time.perf_counter() - t1

                    def call(o, n):
                        return sampler(o, n)
                else:
                    def call(o, n):
                        return model.sample(o, noise=n, steps=args.steps, use_cache=True)
                times = []
                with torch.no_grad():
                    for i in range(args.warmup + args.runs):
                        sync(args.device)
                        t1 = time.perf_counter()
                        obs = Observation(dev_prompt, pixels.to(args.device, dtype, non_blocking=True),
                                          state.to(args.device, non_blocking=True))
                        chunk_out = call(obs, noise.to(args.device, non_blocking=True)).float().cpu()
                        if i >= args.warmup:
                            times.append((time.perf_counter() - t1) * 1e3)
                row.update(percentiles(times))
                row["query_ms"] = row["median_ms"] + host  # one batch, host work included
                row["queries_per_s"] = b / row["query_ms"] * 1e3
                row["finite"] = bool(torch.isfinite(chunk_out).all())
            except Exception as exc:  # one failing mode/batch must not lose the others
                row["error"] = f"{type(exc).__name__}: {exc}"[:500]
            results.append(row)
            print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
            write_json(args.json, out)  # after every row: a later crash keeps what exists
        if cuda:
            torch.cuda.empty_cache()
    out["peak_gpu_gib"] = torch.cuda.max_memory_allocated(args.device) / 2**30 if cuda else None
    print(f"\npreset={args.preset} {args.dtype} random weights, {args.cameras} cameras {size}px, {args.steps} Euler "
          f"steps, chunk {chunk}; {info.get('gpu') or info.get('cpu')}")
    print(f"{'batch':>5} {'mode':>6} {'model ms':>9} {'host ms':>8} {'queries/s':>10}")
    for r in results:
        if "error" in r:
            print(f"{r['batch']:>5} {r['mode']:>6}  ERROR {r['error']}")
        else:
            print(f"{r['batch']:>5} {r['mode']:>6} {r['median_ms']:>9.2f} {r['host_ms']:>8.2f} {r['queries_per_s']:>10.1f}")
    write_json(args.json, out)


if __name__ == "__main__":
    main()
