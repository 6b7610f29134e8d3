"""Being-H0.5 training throughput (random weights): samples/s and MFU of full training steps.

One step = ``BeingH05.training_loss`` forward (vision tower on 2 cameras, MoT over the
221-token prefix + 16 noisy action tokens, flow-matching loss) under bf16 autocast with
float32 parameters, backward, fused AdamW step over every trainable parameter
(the LM head gets no gradient from the flow loss and is skipped by AdamW).

FLOPs: measured with ``torch.utils.flop_counter.FlopCounterMode`` over one forward +
backward at the benchmark batch (matmuls, convolutions and SDPA; elementwise work and the
optimizer are not counted). An analytic 6 * params * tokens figure per component is
printed beside it as a cross-check. MFU = counted FLOPs per second / peak (H100 SXM dense
bf16: 989 TFLOP/s by default, --peak-tflops).

Speed options: ``--precision bf16|fp32`` (autocast dtype; parameters stay float32),
``--compile none|layers|model`` (torch.compile of each ViT and MoT layer, or of the whole ViT
and the whole MoT stack; static shapes, ``--compile-mode``), ``--fused-adam`` (default on CUDA).

    python benchmarks/model_train_throughput.py --preset full --device cuda --batch 16 --json out.json
    python benchmarks/model_train_throughput.py --preset full --precision bf16 --compile layers --batch 32
    python benchmarks/model_train_throughput.py --preset tiny --device cpu --batch 2 --steps 2   # smoke test
"""

from __future__ import annotations

import argparse
import contextlib
import time

from h05_bench_common import DTYPES, build_model, build_obs, build_targets, machine_info, sync, write_json

from h05.modeling.compiling import COMPILE_SCOPES, compile_model  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402


@contextlib.contextmanager
def _countable_gqa():
    """FlopCounterMode cannot count SDPA with grouped kv heads (enable_gqa): while counting, share each
    kv head across its query heads explicitly. Same attention FLOPs; only used for the count."""
    orig = F.scaled_dot_product_attention

    def sdpa(q, k, v, *args, enable_gqa=False, **kw):
        if enable_gqa and k.shape[-3] != q.shape[-3]:
            rep = q.shape[-3] // k.shape[-3]
            k, v = (t.repeat_interleave(rep, dim=-3) for t in (k, v))
        return orig(q, k, v, *args, **kw)

    F.scaled_dot_product_attention = sdpa
    try:
        yield
    finally:
        F.scaled_dot_product_attention = orig


def analytic_flops(model, cfg, batch: int, cameras: int) -> float:
    """6 * params * tokens per component (dense matmul work only; attention scores excluded)."""
    def count(mod, pred=lambda n: True):
        return sum(p.numel() for n, p in mod.named_parameters() if pred(n))

    layers = model.language_model.model.layers
    und = count(layers, lambda n: "_mot_gen" not in n)
    gen = count(layers, lambda n: "_mot_gen" in n)
    patches = (cfg.force_image_size // int(cfg.vit_config["patch_size"])) ** 2
    vit_tokens = cameras * (patches + 1)
    img_tokens = cameras * cfg.image_tokens_per_camera
    k = cfg.action_chunk_length
    prompt_tokens = model._bench_prompt_tokens
    und_tokens = prompt_tokens - 1            # all but the state token
    gen_tokens = 1 + k
    heads = count(model.proprio_encoder_robot) + k * (count(model.action_encoder) + count(model.action_decoder))
    per_sample = (count(model.vit_model) * vit_tokens + count(model.connector) * img_tokens
                  + und * und_tokens + gen * gen_tokens + heads)
    return 6.0 * per_sample * batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="full")
    ap.add_argument("--batch", type=int, nargs="+", default=[16], help="one or more batch sizes (OOM is recorded)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--precision", "--dtype", dest="dtype", default="bfloat16", choices=sorted(DTYPES),
                    help="autocast dtype (float32: no autocast; TF32 matmuls on CUDA)")
    ap.add_argument("--compile", nargs="?", const="layers", default="none", choices=COMPILE_SCOPES,
                    help="torch.compile scope: none, layers (each ViT and MoT layer; bare --compile), "
                         "model (the whole ViT and the whole MoT stack)")
    ap.add_argument("--compile-mode", default="default",
                    choices=["default", "max-autotune-no-cudagraphs", "max-autotune", "reduce-overhead"])
    ap.add_argument("--fused-adam", action=argparse.BooleanOptionalAction, default=None,
                    help="fused AdamW kernel (default: on for CUDA)")
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20, help="timed optimizer steps per batch size")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="H100 SXM dense bf16")
    ap.add_argument("--tokenizer", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    dtype = DTYPES[args.dtype]
    cuda = "cuda" in args.device
    info = machine_info(args.device)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    model, cfg = build_model(args.preset, args.device, torch.float32)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    n_params = sum(p.numel() for p in params)
    fused = cuda if args.fused_adam is None else args.fused_adam
    opt = torch.optim.AdamW(params, lr=args.lr, fused=fused)
    compiled = False
    flops_per_sample = None

    def step(obs, targets, gen, do_opt=True):
        with torch.autocast(device_type=torch.device(args.device).type, dtype=dtype, enabled=dtype != torch.float32):
            out = model.training_loss(obs, targets, gen)
        out["loss"].backward()
        if do_opt:
            opt.step()
            opt.zero_grad(set_to_none=True)
        return out["loss"].detach()

    results = []
    for b in args.batch:
        row = {"batch": b, "compile": args.compile, "compile_mode": args.compile_mode, "precision": args.dtype,
               "fused_adam": fused}
        try:
            obs = build_obs(cfg, b, args.cameras, args.device, dtype, args.tokenizer)
            targets = build_targets(cfg, b, args.device)
            model._bench_prompt_tokens = obs.prompt.input_ids.shape[1]
            gen = torch.Generator().manual_seed(0)
            # FLOPs of one forward + backward, counted once on the eager model (compiled code is not seen by
            # the counter); FLOPs per sample do not depend on the batch size (no cross-sample work).
            if flops_per_sample is None:
                with FlopCounterMode(display=False) as fc, _countable_gqa():
                    with torch.autocast(device_type=torch.device(args.device).type, dtype=dtype,
                                        enabled=dtype != torch.float32):
                        loss = model.training_loss(obs, targets, gen)["loss"]
                    loss.backward()
                opt.zero_grad(set_to_none=True)
                flops_per_sample = float(fc.get_total_flops()) / b
            flops = flops_per_sample * b
            if args.compile != "none" and not compiled:
                compile_model(model, args.compile, args.compile_mode)
                compiled = True
            t1 = time.perf_counter()
            for _ in range(args.warmup):
                step(obs, targets, gen)
            sync(args.device)
            row["warmup_s"] = round(time.perf_counter() - t1, 1)
            losses = []
            t1 = time.perf_counter()
            for _ in range(args.steps):
                losses.append(step(obs, targets, gen))
            sync(args.device)
            dt = time.perf_counter() - t1
            step_s = dt / args.steps
            row.update(step_ms=step_s * 1e3, samples_per_s=b / step_s, flops_per_step=flops,
                       flops_per_sample_tflop=flops / b / 1e12,
                       analytic_flops_per_sample_tflop=analytic_flops(model, cfg, b, args.cameras) / b / 1e12,
                       tflops_per_s=flops / step_s / 1e12, mfu=flops / step_s / (args.peak_tflops * 1e12),
                       loss_first=float(losses[0]), loss_last=float(losses[-1]),
                       prefix_tokens=obs.prompt.input_ids.shape[1])
            if cuda:
                row["peak_gpu_gib"] = torch.cuda.max_memory_allocated(args.device) / 2**30
        except torch.OutOfMemoryError as exc:
            row["error"] = f"OutOfMemoryError: {str(exc)[:200]}"
        except Exception as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"[:500]
        opt.zero_grad(set_to_none=True)
        obs = targets = None
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(args.device)
        results.append(row)
        print(row, flush=True)

    print("\n=== Being-H0.5 training throughput ===")
    for k in ("command", "gpu", "torch", "transformers", "cuda", "host", "cpu_count"):
        print(f"{k:>13}: {info.get(k)}")
    print(f"{'model':>13}: preset={args.preset}, random weights, fp32 params + {args.dtype} autocast, "
          f"{'fused' if fused else 'foreach'} AdamW over {n_params / 1e9:.3f}B trainable params, "
          f"{args.cameras} cameras, compile={args.compile} ({args.compile_mode})")
    print(f"{'FLOPs':>13}: FlopCounterMode over one fwd+bwd (matmul/conv/SDPA); MFU vs {args.peak_tflops} TFLOP/s")
    print(f"{'batch':>5} {'step ms':>9} {'samples/s':>10} {'TFLOP/sample':>13} {'(6NT)':>7} {'TFLOP/s':>8} "
          f"{'MFU':>6} {'peak GiB':>9}")
    for r in results:
        if "error" in r:
            print(f"{r['batch']:>5}  ERROR {r['error']}")
            continue
        print(f"{r['batch']:>5} {r['step_ms']:>9.1f} {r['samples_per_s']:>10.2f} {r['flops_per_sample_tflop']:>13.3f} "
              f"{r['analytic_flops_per_sample_tflop']:>7.3f} {r['tflops_per_s']:>8.1f} {100 * r['mfu']:>5.1f}% "
              f"{r.get('peak_gpu_gib', float('nan')):>9.1f}")
    write_json(args.json, {"machine": info, "args": vars(args), "results": results})


if __name__ == "__main__":
    main()
