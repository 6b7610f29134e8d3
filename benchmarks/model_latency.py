"""Being-H0.5 inference latency per action chunk (random weights), as ``H05Policy`` runs it.

One timed call = host inputs (prompt ids, 2 camera images, state, noise) to the device,
``BeingH05.sample`` (vision tower + prefix prefill into a KV cache once, then the action
expert alone for each Euler step), chunk back to the host; CUDA-synchronised wall time.
Modes: ``graph`` (the whole call replayed from one CUDA graph, h05.modeling.graphs, what
``H05Policy(cuda_graphs=True)`` uses), ``kv`` (eager, KV cache, the policy default) and
``recompute`` (eager, whole sequence re-run every Euler step, as the reference code does).

    python benchmarks/model_latency.py --preset full --device cuda --batch 1 16 --json out.json
    python benchmarks/model_latency.py --preset tiny --device cpu --runs 3      # smoke test
"""

from __future__ import annotations

import argparse
import time

from h05_bench_common import (DTYPES, build_obs, inference_setup, obs_to, percentiles, sync,
                              write_json)

import torch  # noqa: E402

from h05.modeling.graphs import GraphedSampler  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="full")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4, help="Euler steps per chunk")
    ap.add_argument("--modes", nargs="+", default=["graph", "kv", "recompute"],
                    choices=["graph", "kv", "recompute"], help="graph needs CUDA; skipped elsewhere")
    ap.add_argument("--cuda-graphs", dest="cuda_graphs", action=argparse.BooleanOptionalAction, default=True,
                    help="--no-cuda-graphs drops the graph mode")
    ap.add_argument("--recompute-max-batch", type=int, default=1, help="recompute mode only up to this batch")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--tokenizer", default=None, help="Qwen3 tokenizer folder (default: the installed one)")
    ap.add_argument("--json", default=None, help="write results here")
    args = ap.parse_args()

    dtype, info, model, cfg, build_s = inference_setup(args)
    modes = [m for m in args.modes if not (m == "graph" and (not args.cuda_graphs or "cuda" not in args.device))]
    results = []
    for b in args.batch:
        host = build_obs(cfg, b, args.cameras, args.device, dtype, args.tokenizer, on_host=True)
        noise = torch.randn(b, cfg.action_chunk_length, 200, generator=torch.Generator().manual_seed(7))
        n_prefix = host.prompt.input_ids.shape[1]
        outs = {}
        for mode in modes:
            if mode == "recompute" and b > args.recompute_max_batch:
                continue
            row = {"batch": b, "mode": mode, "prefix_tokens": n_prefix, "cameras": args.cameras,
                   "euler_steps": args.steps, "chunk": cfg.action_chunk_length}
            try:
                if mode == "graph":
                    t1 = time.perf_counter()
                    g = GraphedSampler(model, host.prompt.to(args.device), args.cameras, args.steps)
                    row["capture_s"] = round(time.perf_counter() - t1, 2)

                    def call(o):
                        return g(o, noise.to(args.device, non_blocking=True))
                else:
                    use_cache = mode == "kv"

                    def call(o, use_cache=use_cache):
                        return model.sample(o, noise=noise.to(args.device, non_blocking=True), steps=args.steps,
                                            use_cache=use_cache)
                runs = args.runs if mode != "recompute" else max(3, args.runs // 5)
                times = []
                with torch.no_grad():
                    for i in range(args.warmup + runs):
                        sync(args.device)
                        t1 = time.perf_counter()
                        out = call(obs_to(host, args.device)).cpu()
                        dt = (time.perf_counter() - t1) * 1e3
                        if i >= args.warmup:
                            times.append(dt)
                outs[mode] = out
                row.update(percentiles(times))
                row["per_sample_ms"] = row["median_ms"] / b
                row["finite"] = bool(torch.isfinite(out).all())
            except Exception as exc:  # record and go on: one failing mode must not lose the others
                row["error"] = f"{type(exc).__name__}: {exc}"[:500]
            results.append(row)
            print(row, flush=True)
        ref = outs.get("kv")
        for mode, out in outs.items():
            if ref is not None and mode != "kv":
                diff = float((out - ref).abs().max())
                for r in results:
                    if r["batch"] == b and r["mode"] == mode:
                        r["max_abs_diff_vs_kv"] = diff
        del host
        if "cuda" in args.device:
            torch.cuda.empty_cache()

    peak = torch.cuda.max_memory_allocated(args.device) / 2**30 if "cuda" in args.device else None
    print("\n=== Being-H0.5 latency per action chunk ===")
    for k in ("command", "gpu", "torch", "transformers", "cuda", "host", "cpu_count"):
        print(f"{k:>13}: {info.get(k)}")
    print(f"{'model':>13}: preset={args.preset} dtype={args.dtype} random weights, {args.cameras} cameras "
          f"{cfg.force_image_size}px, {args.steps} Euler steps, chunk {cfg.action_chunk_length}; built in {build_s:.1f}s"
          + (f"; peak GPU memory {peak:.1f} GiB" if peak else ""))
    print(f"{'batch':>5} {'mode':>10} {'median ms':>10} {'p90 ms':>8} {'min ms':>8} {'ms/sample':>10} {'n':>4}  notes")
    for r in results:
        if "error" in r:
            print(f"{r['batch']:>5} {r['mode']:>10}  ERROR {r['error']}")
            continue
        notes = []
        if "capture_s" in r:
            notes.append(f"capture {r['capture_s']}s")
        if "max_abs_diff_vs_kv" in r:
            notes.append(f"max|diff| vs kv {r['max_abs_diff_vs_kv']:.3g}")
        print(f"{r['batch']:>5} {r['mode']:>10} {r['median_ms']:>10.2f} {r['p90_ms']:>8.2f} {r['min_ms']:>8.2f} "
              f"{r['per_sample_ms']:>10.2f} {r['n']:>4}  {'; '.join(notes)}")
    write_json(args.json, {"machine": info, "args": vars(args), "results": results, "peak_gpu_gib": peak})


if __name__ == "__main__":
    main()
