"""The training loop behind ``h05 train`` (config: h05/conf/train.yaml, docs/training.md).

Order of work: open and check every dataset (bad data fails here, before a
model exists), build the normalisation metadata, decode videos into memory,
build or load the model, freeze what post-training keeps, then step.

Resume: ``<out>/train_state.pt`` holds fp32 weights, optimizer, scheduler,
step and RNG states; batches and flow noise are functions of
``(seed, step, rank)``, so a run killed at any step and restarted continues
with the same data order and optimizer state as an uninterrupted one.
Checkpoints are written in the released layout (``h05.checkpoint``) with
``training_manifest.json``, ``train_config.yaml`` and the per-embodiment
``<metadata_name>_metadata.json``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from h05.config import BeingHConfig
from h05.data.lerobot import DatasetError, LeRobotDataset, open_dataset
from h05.data.mixture import MixtureSampler, build_metadata
from h05.modeling.being_h05 import BeingH05, Observation, TrainingTargets
from h05.modeling.compiling import COMPILE_SCOPES, compile_model
from h05.tokens import PromptBuilder, load_tokenizer
from h05.training import distributed as data_parallel

STATE_FILE = "train_state.pt"
MANIFEST_FILE = "training_manifest.json"
MANIFEST_FORMAT = "h05-training-manifest/1"


class TrainConfigError(ValueError):
    """A training config value is wrong (names the key)."""


# ----------------------------------------------------------------------------- data
def _task_name(instruction: str) -> str:
    """Twin task name of an instruction when it is a twin task, else the instruction itself."""
    try:
        from envs.twins.tasks import TASKS
    except Exception:  # pragma: no cover - twins not importable
        return instruction
    for t in TASKS:
        if t.instruction == instruction:
            return t.name
    return instruction


def open_datasets(cfg: dict) -> tuple[list[LeRobotDataset], list[float], list[dict]]:
    """Open and check the configured datasets; drop held-out (task, embodiment) rows."""
    entries = cfg.get("datasets") or []
    if not entries:
        raise TrainConfigError("datasets: give at least one {path: ..., weight: ...}")
    holdout = {tuple(h.split("@", 1)) for h in (cfg.get("holdout") or [])}
    out, weights, trained = [], [], []
    for e in entries:
        e = {"path": e} if isinstance(e, str) else dict(e)
        if "path" not in e:
            raise TrainConfigError(f"datasets entry {e} has no path")
        ds = open_dataset(e["path"], embodiment=e.get("embodiment"), name=e.get("name"), cameras=e.get("cameras"))
        names = [_task_name(t) for t in ds.tasks]
        keep = np.array([(names[i], ds.embodiment) not in holdout for i in ds.task_index], bool)
        if not keep.all():
            ds = _subset(ds, keep)
        if len(ds) == 0:
            continue
        out.append(ds)
        weights.append(float(e.get("weight", 1.0)))
        for i in sorted(set(ds.task_index.tolist())):
            pair = {"task": names[i], "embodiment": ds.embodiment, "instruction": ds.tasks[i],
                    "dataset": str(ds.root), "frames": int((ds.task_index == i).sum()),
                    "episodes": int(len(np.unique(ds.episode[ds.task_index == i])))}
            if cfg.get("benchmark"):
                pair["benchmark"] = cfg["benchmark"]
            trained.append(pair)
    if not out:
        raise DatasetError("every dataset row is held out: nothing to train on")
    return out, weights, trained


def _subset(ds: LeRobotDataset, keep: np.ndarray) -> LeRobotDataset:
    idx = np.flatnonzero(keep)
    new_pos = np.full(len(keep), -1, np.int64)
    new_pos[idx] = np.arange(len(idx))
    ends = np.zeros(len(idx), np.int64)
    ep = ds.episode[idx]
    change = np.flatnonzero(np.diff(ep)) + 1
    bounds = np.concatenate([[0], change, [len(idx)]])
    for a, b in zip(bounds[:-1], bounds[1:]):
        ends[a:b] = b
    sub = LeRobotDataset(ds.root, ds.name, ds.embodiment, ds.fps, ds.cameras, ds.tasks, ds.state[idx], ds.action[idx],
                         ep, ends, ds.task_index[idx], ds.stats, ds.state_mask, ds.action_mask,
                         {c: v[idx] for c, v in ds.video_frames.items()}, {c: v[idx] for c, v in ds.video_files.items()})
    sub.info_video_template = ds.info_video_template
    return sub


# ---------------------------------------------------------------------------- model
def build_model(cfg: dict, device: torch.device) -> BeingH05:
    from h05.checkpoint import load_checkpoint

    m = cfg["model"]
    over: dict[str, Any] = {}
    if m.get("chunk_length"):
        over["action_chunk_length"] = over["action_token_num"] = int(m["chunk_length"])
    uac, mpg, mof = cfg.get("uac", {}), cfg.get("mpg", {}), cfg.get("mof", {})
    if uac.get("enabled"):
        over["use_training_time_rtc"] = True
        over["simulated_delay"] = int(uac.get("max_delay", 0))
        over["h05_uac_max_delay"] = {k: int(v) for k, v in (uac.get("per_embodiment") or {}).items()}
        over["rtc_delay_exp_weight"] = bool(uac.get("exp_weight", True))
    if mpg.get("enabled"):
        over.update(use_mpg=True, mpg_lambda=float(mpg.get("lambda", 0.1)),
                    mpg_gate_temperature=float(mpg.get("tau", 1.0)))
    if mof.get("enabled"):
        over.update(h05_use_mof=True, h05_mof_num_experts=int(mof.get("num_experts", 4)),
                    h05_mof_top_k=int(mof.get("top_k", 1)), h05_mof_shared_layers=int(mof.get("shared_layers", 0)),
                    h05_mof_balance_weight=float(mof.get("balance_weight", 0.01)))
    if m.get("init_checkpoint"):
        model, config, _ = load_checkpoint(m["init_checkpoint"], dtype="float32", device=device)
        for k in ("use_training_time_rtc", "simulated_delay", "h05_uac_max_delay", "rtc_delay_exp_weight"):
            if k in over:
                setattr(config, k, over[k])
        param_keys = {"use_mpg", "h05_use_mof", "action_chunk_length"}
        changed = [k for k in param_keys if k in over and over[k] != getattr(config, k)]
        if changed:
            raise TrainConfigError(f"post-training keeps the loaded architecture; {changed} differ from "
                                   f"{m['init_checkpoint']}/config.json")
        config.validate()
        return model.train()
    torch.manual_seed(int(cfg.get("seed", 0)))
    config = BeingHConfig.preset(m.get("preset", "tiny"), **over)
    model = BeingH05(config).to(device)
    model.reset_buffers()
    if m.get("text_head", "train") == "zero":
        # Action-only training never uses the untied text head: keep it at zero (ships compressed).
        with torch.no_grad():
            model.language_model.lm_head.weight.zero_()
    return model.train()


def action_expert_parameter(name: str) -> bool:
    """Parameters of the action expert: ``_mot_gen`` layers, the expert norm, state/action heads, MoF router."""
    heads = ("proprio_encoder_robot.", "action_encoder.", "action_decoder.", "mof_router.", "vlm_to_action_proj.",
             "action_to_vlm_proj.")
    return "_mot_gen" in name or name.startswith(heads) or ".experts." in name or "norm_mot_gen" in name


def apply_trainable(model: BeingH05, cfg: dict) -> dict[str, Any]:
    """Freeze per ``train.trainable``: all | action_expert | embodiment_slots (needs ``train.embodiment``)."""
    from h05.checkpoint import _released_name

    mode = cfg["train"].get("trainable", "all")
    info: dict[str, Any] = {"trainable": mode}
    if mode == "all":
        for p in model.parameters():
            p.requires_grad_(True)
        return info
    if mode == "action_expert":
        for name, p in model.named_parameters():
            p.requires_grad_(action_expert_parameter(_released_name(name)))
        return info
    if mode == "embodiment_slots":
        from envs.unified_space import embodiment as mapping_of

        emb = cfg["train"].get("embodiment")
        if not emb:
            raise TrainConfigError("train.trainable=embodiment_slots needs train.embodiment=<name>")
        mask = torch.from_numpy(mapping_of(emb).mask("action"))
        for p in model.parameters():
            p.requires_grad_(False)
        enc, dec = model.action_encoder.W1, model.action_decoder.layer2
        col = mask.to(enc.weight.device, enc.weight.dtype)
        row = mask.to(dec.weight.device, dec.weight.dtype)
        enc.weight.requires_grad_(True)
        dec.weight.requires_grad_(True)
        dec.bias.requires_grad_(True)
        enc.weight.register_hook(lambda g: g * col[None, :])
        dec.weight.register_hook(lambda g: g * row[:, None])
        dec.bias.register_hook(lambda g: g * row)
        info.update(embodiment=emb, slots=np.flatnonzero(mask.numpy()).tolist())
        return info
    raise TrainConfigError(f"train.trainable={mode!r}; use all, action_expert or embodiment_slots")


# ------------------------------------------------------------------------- helpers
PRECISIONS = ("auto", "bf16", "fp32")


def autocast_bf16(precision: str, device: torch.device) -> bool:
    """Whether the step runs under bf16 autocast: ``bf16``, or ``auto`` on a GPU (parameters stay fp32)."""
    if precision not in PRECISIONS:
        raise TrainConfigError(f"precision={precision!r}; known: {', '.join(PRECISIONS)}")
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")


def _compile_scope(cfg: dict, world: int) -> str:
    """The ``compile`` setting (none | layers | model), checked before anything is built."""
    scope = str(cfg.get("compile", "none") or "none")
    if scope not in COMPILE_SCOPES:
        raise TrainConfigError(f"compile={scope!r}; known: {', '.join(COMPILE_SCOPES)}")
    if scope != "none" and world > 1 and cfg.get("distributed", {}).get("strategy", "ddp") == "fsdp":
        raise TrainConfigError(f"compile={scope!r} is not supported with distributed.strategy=fsdp; "
                               "use ddp or compile=none")
    return scope


def _lr_lambda(warmup: int, total: int, min_ratio: float) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        prog = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * prog))
    return f


def _rng_state() -> dict:
    st = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict) -> None:
    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def flow_seed(seed: int, step: int, rank: int) -> int:
    """Seed of the flow noise / time / UAC delays of one step: distinct per (seed, step, rank).

    (An earlier version masked a hash with ``& 2**62``, a single bit: every step drew the same
    noise, the loss collapsed to ~0.002 by memorising it, and sampling from fresh noise failed.)
    """
    return int(np.random.SeedSequence([int(seed), int(step), int(rank)]).generate_state(1, np.uint64)[0] >> 1)


def batch_digest(rows: np.ndarray, dataset: int) -> str:
    return hashlib.sha256(np.asarray(rows, np.int64).tobytes() + bytes([dataset % 256])).hexdigest()[:16]


class _LossModule(nn.Module):
    """DDP needs a forward(): this one returns the training loss dict."""

    def __init__(self, model: BeingH05) -> None:
        super().__init__()
        self.model = model

    def forward(self, obs: Observation, targets: TrainingTargets, generator: torch.Generator) -> dict:
        return self.model.training_loss(obs, targets, generator=generator)


def _dist_env() -> tuple[int, int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


# ----------------------------------------------------------------------------- main
def train(cfg: dict, stop_after: int | None = None, on_step: Callable[[int, dict], None] | None = None) -> dict:
    """Run (or resume) training as configured; returns a summary with the per-step history.

    ``stop_after``: raise ``KeyboardInterrupt`` after that many steps of this call
    without any final save (tests use it to simulate a kill).
    """
    rank, world, local = _dist_env()
    dev_name = cfg.get("device", "auto")
    if dev_name == "auto":
        dev_name = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    device = torch.device(dev_name)
    use_bf16 = autocast_bf16(cfg.get("precision", "auto"), device)
    compile_scope = _compile_scope(cfg, world)
    # None in one process; "ddp" | "fsdp" under torchrun (checked before anything is built)
    strategy = data_parallel.check_strategy(cfg.get("distributed", {}).get("strategy", "ddp"),
                                            cfg["train"].get("trainable", "all"), world)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    tcfg = cfg["train"]
    out = Path(cfg["out"])
    is_main = rank == 0
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    datasets, weights, trained = open_datasets(cfg)       # bad data fails here, before any model exists
    norm = cfg.get("normalization", {})
    metadata = build_metadata(datasets, norm.get("state", "q99"), norm.get("action", "q99"),
                              norm.get("binary_slots", []) or [])
    model = build_model(cfg, device)
    config = model.config
    size = config.force_image_size
    workers = int(cfg.get("data", {}).get("decode_threads", 4))
    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(lambda d: d.load_images(size, str(device)), datasets))
    if is_main:
        print(f"h05 train: {len(datasets)} datasets, {sum(len(d) for d in datasets)} frames, "
              f"decoded in {time.time() - t0:.1f}s; model {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params "
              f"on {device}", file=sys.stderr, flush=True)
    freeze = apply_trainable(model, cfg)
    if cfg["model"].get("text_head", "train") == "zero":
        model.language_model.lm_head.weight.requires_grad_(False)
    sampler = MixtureSampler(datasets, weights, metadata, config.action_chunk_length, int(tcfg["batch_size"]),
                             int(cfg.get("seed", 0)), device, cfg.get("augment"), rank)
    tokenizer = load_tokenizer(cfg["model"].get("tokenizer"))
    prompts = PromptBuilder(tokenizer, config.image_tokens_per_camera, config.action_chunk_length)
    state_path = out / STATE_FILE
    start = 0
    history: list[dict] = []
    st = None
    if cfg.get("resume", True) and state_path.is_file():
        st = torch.load(state_path, map_location=device, weights_only=False)
        model.load_state_dict(st["model"])  # full weights, before any sharding
    compile_model(model, compile_scope, dynamic=None)  # prompt widths vary: automatic dynamic shapes
    runner: nn.Module = _LossModule(model)
    if strategy:
        runner = data_parallel.wrap(runner, model, strategy, device)
    # After wrapping: FSDP replaces the parameters by sharded DTensors.
    params = [p for p in model.parameters() if p.requires_grad]
    decay = 0.0 if freeze["trainable"] == "embodiment_slots" else float(tcfg.get("weight_decay", 0.0))
    # One fused kernel per step on a GPU (foreach elsewhere, and under FSDP's sharded parameters).
    fused = device.type == "cuda" and cfg.get("distributed", {}).get("strategy", "ddp") != "fsdp"
    opt = torch.optim.AdamW(params, lr=float(tcfg["lr"]), betas=(0.9, 0.95), weight_decay=decay, fused=fused)
    steps = int(tcfg["steps"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(int(tcfg.get("warmup", 0)), steps,
                                                              float(tcfg.get("min_lr_ratio", 0.1))))
    if st is not None:
        data_parallel.load_optimizer(model, opt, st["optimizer"], strategy, st.get("strategy"))
        sched.load_state_dict(st["scheduler"])
        _set_rng_state(st["rng"])
        start, history = int(st["step"]), list(st.get("history", []))
        del st
        if is_main:
            print(f"h05 train: resumed from {state_path} at step {start}", file=sys.stderr, flush=True)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use_bf16 else nullcontext
    save_every = int(tcfg.get("save_every", 0) or 0)
    log_every = max(1, int(tcfg.get("log_every", 10)))
    bar = None
    if is_main and cfg.get("progress", True):
        from tqdm import tqdm

        bar = tqdm(total=steps, initial=start, desc="h05 train", unit="step", dynamic_ncols=True, file=sys.stderr)
    seed = int(cfg.get("seed", 0))
    seen_tokens: set[int] = set()
    for ds in datasets:  # every prompt the data can produce (resume-independent)
        for cams in {len(ds.cameras)}:
            seen_tokens.update(prompts.build(list(ds.tasks), cams).input_ids.unique().tolist())
    max_seconds = float(tcfg.get("max_minutes") or 0) * 60
    done_here = 0
    t_last, n_last = time.time(), 0
    step = start
    while step < steps:
        batch = sampler.batch(step)
        gen = torch.Generator().manual_seed(flow_seed(seed, step, rank))
        prompt = prompts.build(batch.instructions, batch.pixels.shape[1])
        seen_tokens.update(prompt.input_ids.unique().tolist())
        prompt = prompt.to(device)
        obs = Observation(prompt, batch.pixels, batch.state)
        targets = TrainingTargets(batch.actions, batch.action_mask, batch.embodiments)
        with autocast():
            parts = runner(obs, targets, gen)
        loss = parts["loss"]
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at step {step} (dataset {datasets[batch.dataset].root})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(params, float(tcfg.get("grad_clip", 1.0)))
        opt.step()
        sched.step()
        step += 1
        done_here += 1
        n_last += len(batch.rows)
        rec = {"step": step, "loss": float(loss.detach()), "grad_norm": data_parallel.grad_norm_value(gnorm),
               "lr": sched.get_last_lr()[0], "batch": batch_digest(batch.rows, batch.dataset), "dataset": batch.dataset}
        history.append(rec)
        if on_step:
            on_step(step, rec)
        if bar is not None:
            bar.update(1)
            if step % log_every == 0 or step == steps:
                dt = max(time.time() - t_last, 1e-9)
                bar.set_postfix(loss=f"{np.mean([h['loss'] for h in history[-log_every:]]):.4f}",
                                samples_s=f"{n_last * world / dt:.0f}")
                t_last, n_last = time.time(), 0
        if save_every and step % save_every == 0 and step < steps:
            model_state, opt_state = data_parallel.full_state(model, opt, strategy)  # every rank (FSDP gathers)
            if is_main:
                save_training_state(model_state, opt_state, sched, step, history, state_path, strategy)
                if tcfg.get("keep_checkpoints", False):
                    write_checkpoint(_writable(model, model_state, strategy), out / f"checkpoint-{step:07d}",
                                     tokenizer, metadata, cfg, trained, freeze, step, history)
        if stop_after is not None and done_here >= stop_after:
            raise KeyboardInterrupt(f"stopped after {done_here} steps (stop_after)")
        if max_seconds and time.time() - t0 > max_seconds:
            if is_main:
                print(f"h05 train: train.max_minutes reached at step {step}; saving", file=sys.stderr, flush=True)
            break
    if bar is not None:
        bar.close()
    summary = {"steps": step, "seconds": time.time() - t0, "history": history, "trained": trained}
    model_state, opt_state = data_parallel.full_state(model, opt, strategy)  # every rank (FSDP gathers)
    if is_main:
        save_training_state(model_state, opt_state, sched, step, history, state_path, strategy)
        final_model = _writable(model, model_state, strategy)
        if cfg.get("save_prune_vocab", False):
            prune_unseen_vocab(final_model, seen_tokens)
        final = write_checkpoint(final_model, out / "final", tokenizer, metadata, cfg, trained, freeze, step, history)
        summary["checkpoint"] = str(final)
        (out / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    if world > 1:
        torch.distributed.barrier()
    return summary


def prune_unseen_vocab(model: BeingH05, seen: set[int]) -> int:
    """Zero the embedding rows of tokens no training prompt contained (they never affect outputs)."""
    emb = model.language_model.model.embed_tokens.weight
    keep = torch.zeros(emb.shape[0], dtype=torch.bool, device=emb.device)
    keep[torch.tensor(sorted(seen), dtype=torch.long, device=emb.device)] = True
    with torch.no_grad():
        emb[~keep] = 0
    return int((~keep).sum())


def save_training_state(model_state: dict, opt_state: dict, sched, step: int, history: list, path: Path,
                        strategy: str | None = None) -> None:
    """``train_state.pt``: full model/optimizer state (``data_parallel.full_state``), scheduler, step, RNG."""
    _atomic_save({"model": model_state, "optimizer": opt_state, "scheduler": sched.state_dict(),
                  "step": step, "rng": _rng_state(), "history": history, "strategy": strategy}, path)


def _writable(model: BeingH05, model_state: dict, strategy: str | None) -> BeingH05:
    """The model to write a released checkpoint from: itself, or under FSDP a copy with the gathered weights."""
    return data_parallel.unsharded_copy(model, model_state) if strategy == "fsdp" else model


def launch_info(cfg: dict) -> dict[str, Any]:
    """How this run was launched: world size, strategy, and the Slurm job when it ran under Slurm."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    info: dict[str, Any] = {"world_size": world,
                            "strategy": cfg.get("distributed", {}).get("strategy", "ddp") if world > 1 else None}
    if os.environ.get("SLURM_JOB_ID"):
        info["slurm"] = {"job_id": os.environ["SLURM_JOB_ID"], "nodelist": os.environ.get("SLURM_JOB_NODELIST"),
                         "ntasks": os.environ.get("SLURM_NTASKS")}
    return info


def write_checkpoint(model: BeingH05, folder: Path, tokenizer, metadata, cfg: dict, trained: list[dict],
                     freeze: dict, step: int, history: list[dict]) -> Path:
    """Released layout + training_manifest.json + train_config.yaml."""
    from h05.checkpoint import save_checkpoint

    name = cfg.get("metadata_name", "train")
    save_checkpoint(model, folder, tokenizer=tokenizer if cfg.get("save_tokenizer", True) else None,
                    metadata={name: metadata},
                    dtype=cfg.get("save_dtype", "bfloat16"))
    pairs = {}
    for p in trained:
        pairs.setdefault((p["task"], p["embodiment"]), p)
    manifest = {
        "format": MANIFEST_FORMAT,
        "trained": [{k: v for k, v in p.items() if k in ("task", "embodiment", "benchmark")} for p in pairs.values()],
        "held_out": [dict(zip(("task", "embodiment"), h.split("@", 1))) for h in (cfg.get("holdout") or [])],
        "datasets": trained,
        "steps": step, "final_loss": float(np.mean([h["loss"] for h in history[-50:]])) if history else None,
        "trainable": freeze,
        "preset": cfg["model"].get("preset"), "init_checkpoint": cfg["model"].get("init_checkpoint"),
        "command": cfg.get("command"),
        "launch": launch_info(cfg),
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")
    try:
        from omegaconf import OmegaConf

        (folder / "train_config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(cfg)))
    except Exception:  # pragma: no cover
        (folder / "train_config.json").write_text(json.dumps(cfg, indent=1, default=str))
    return folder
