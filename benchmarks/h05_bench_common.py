"""Shared pieces of the Being-H0.5 model benchmarks: machine info, random-weight model, batch inputs."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from h05.config import BeingHConfig  # noqa: E402
from h05.modeling.being_h05 import BeingH05, Observation, TrainingTargets  # noqa: E402
from h05.tokens import PromptBuilder, load_tokenizer  # noqa: E402

# A LIBERO-style instruction (LIBERO-spatial task 0): 221 prefix tokens with 2 cameras at full size.
INSTRUCTION = "pick up the black bowl between the plate and the ramekin and place it on the plate"
DTYPES = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32, "fp32": torch.float32,
          "float16": torch.float16, "fp16": torch.float16}


def machine_info(device: str) -> dict:
    import transformers

    info = {"host": platform.node(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name] + sys.argv)}
    if torch.device(device).type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    sm_count=props.multi_processor_count, cuda=torch.version.cuda)
    else:
        info.update(gpu=None, cpu=platform.processor() or platform.machine())
    return info


def build_model(preset: str, device: str, dtype: torch.dtype, seed: int = 0) -> tuple[BeingH05, BeingHConfig]:
    """Random weights (the model's own init), parameters in ``dtype``, RoPE frequencies kept in float32."""
    cfg = BeingHConfig.preset(preset)
    torch.manual_seed(seed)
    with torch.device(device):
        model = BeingH05(cfg)
    model = model.to(dtype=dtype)
    model.reset_buffers()  # after the cast: inv_freq back in float32
    return model, cfg


def inference_setup(args) -> tuple[torch.dtype, dict, BeingH05, BeingHConfig, float]:
    """From parsed ``--dtype --device --preset`` args: dtype, machine info, the model in eval mode (TF32 on)
    and the seconds it took to build."""
    import time

    dtype = DTYPES[args.dtype]
    info = machine_info(args.device)
    torch.backends.cuda.matmul.allow_tf32 = True
    t0 = time.perf_counter()
    model, cfg = build_model(args.preset, args.device, dtype)
    model.eval()
    return dtype, info, model, cfg, time.perf_counter() - t0


def build_obs(cfg: BeingHConfig, batch: int, cameras: int, device: str, dtype: torch.dtype,
              tokenizer_dir: str | None = None, seed: int = 0, on_host: bool = False) -> Observation:
    """A batch of ``batch`` identical-layout rows: prompt, normalised images [B, C, 3, S, S], state [B, 200]."""
    tok = load_tokenizer(tokenizer_dir)
    prompt = PromptBuilder(tok, cfg.image_tokens_per_camera, cfg.action_chunk_length).build(
        [INSTRUCTION] * batch, cameras)
    g = torch.Generator().manual_seed(seed)
    s = cfg.force_image_size
    pixels = torch.randn(batch, cameras, 3, s, s, generator=g).to(dtype)
    state = torch.randn(batch, 200, generator=g)
    if on_host:
        return Observation(prompt, pixels.pin_memory() if torch.cuda.is_available() else pixels,
                           state.pin_memory() if torch.cuda.is_available() else state)
    return Observation(prompt.to(device), pixels.to(device), state.to(device))


def obs_to(obs: Observation, device: str) -> Observation:
    return Observation(obs.prompt.to(device), obs.pixel_values.to(device, non_blocking=True),
                       obs.state.to(device, non_blocking=True))


def build_targets(cfg: BeingHConfig, batch: int, device: str, seed: int = 0) -> TrainingTargets:
    """Random normalised chunks on a LIBERO-like slot mask (EEF 0-5, gripper 18)."""
    g = torch.Generator().manual_seed(seed + 1)
    mask = torch.zeros(batch, 200, dtype=torch.bool)
    mask[:, list(range(6)) + [18]] = True
    actions = torch.randn(batch, cfg.action_chunk_length, 200, generator=g) * mask[:, None]
    return TrainingTargets(actions.to(device), mask.to(device), ["libero"] * batch)


def sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def percentiles(xs: list[float]) -> dict:
    t = torch.tensor(xs, dtype=torch.float64)
    return {"n": len(xs), "median_ms": float(t.median()), "p90_ms": float(t.quantile(0.9)),
            "mean_ms": float(t.mean()), "min_ms": float(t.min()), "max_ms": float(t.max())}


def write_json(path: str | None, data: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(data, indent=2) + "\n")
        print(f"wrote {path}")
