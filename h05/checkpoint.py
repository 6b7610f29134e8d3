"""Checkpoint IO in the released Being-H0.5 folder layout.

A folder holds ``config.json`` (``BeingHConfig``), one or many
``*.safetensors`` files (sharded ones with ``model.safetensors.index.json``),
the tokenizer files and ``<dataset>_metadata.json``. Tensor names are the
released ones: InternVL's ORIGINAL vision/connector names (fused ``qkv``,
``ls1``/``ls2``, ``norm1``/``norm2``, ``connector.mlp1.{0,1,3}``) are mapped
to and from transformers' native InternVL modules here, in one table.
Loading is strict and lists every missing, unexpected or wrong-shaped key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Mapping

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from h05.config import CONFIG_FILE, BeingHConfig
from h05.modeling.being_h05 import BeingH05
from h05.normalization import DatasetMetadata, load_metadata

INDEX_FILE = "model.safetensors.index.json"
DTYPES = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32, "fp32": torch.float32}

# One table of (released name, native name) templates: {n} = layer index, {w} = weight|bias.
NAME_MAP: tuple[tuple[str, str], ...] = (
    ("vit_model.embeddings.class_embedding", "vit_model.embeddings.cls_token"),
    ("vit_model.embeddings.position_embedding", "vit_model.embeddings.position_embeddings"),
    ("vit_model.embeddings.patch_embedding.{w}", "vit_model.embeddings.patch_embeddings.projection.{w}"),
    ("vit_model.encoder.layers.{n}.ls1", "vit_model.encoder.layer.{n}.lambda_1"),
    ("vit_model.encoder.layers.{n}.ls2", "vit_model.encoder.layer.{n}.lambda_2"),
    ("vit_model.encoder.layers.{n}.attn.proj.{w}", "vit_model.encoder.layer.{n}.attention.projection_layer.{w}"),
    ("vit_model.encoder.layers.{n}.mlp.fc1.{w}", "vit_model.encoder.layer.{n}.mlp.fc1.{w}"),
    ("vit_model.encoder.layers.{n}.mlp.fc2.{w}", "vit_model.encoder.layer.{n}.mlp.fc2.{w}"),
    ("vit_model.encoder.layers.{n}.norm1.{w}", "vit_model.encoder.layer.{n}.layernorm_before.{w}"),
    ("vit_model.encoder.layers.{n}.norm2.{w}", "vit_model.encoder.layer.{n}.layernorm_after.{w}"),
    ("connector.mlp1.0.{w}", "connector.layer_norm.{w}"),
    ("connector.mlp1.1.{w}", "connector.linear_1.{w}"),
    ("connector.mlp1.3.{w}", "connector.linear_2.{w}"),
)
# The fused released q/k/v and the native split ones.
QKV_RELEASED = "vit_model.encoder.layers.{n}.attn.qkv.{w}"
QKV_NATIVE = "vit_model.encoder.layer.{n}.attention.{part}_proj.{w}"


def _regex(template: str) -> re.Pattern:
    pattern = re.escape(template).replace(r"\{n\}", r"(?P<n>\d+)").replace(r"\{w\}", r"(?P<w>weight|bias)")
    return re.compile(pattern.replace(r"\{part\}", r"(?P<part>[qkv])"))


_COMPILED = tuple((_regex(r), _regex(n), r, n) for r, n in NAME_MAP)
_QKV = _regex(QKV_RELEASED)
_QKV_NATIVE = _regex(QKV_NATIVE)


def _native_name(name: str) -> str:
    for released_re, _, _, native in _COMPILED:
        m = released_re.fullmatch(name)
        if m:
            return native.format(**m.groupdict())
    return name


def _released_name(name: str) -> str:
    for _, native_re, released, _ in _COMPILED:
        m = native_re.fullmatch(name)
        if m:
            return released.format(**m.groupdict())
    return name


class CheckpointError(ValueError):
    """A checkpoint folder does not match the model: lists what is wrong."""

    def __init__(self, folder: Path, missing: list[str], unexpected: list[str],
                 wrong_shape: list[tuple[str, tuple, tuple]], other: list[str] | None = None) -> None:
        self.missing, self.unexpected, self.wrong_shape = missing, unexpected, wrong_shape
        lines = [f"checkpoint {folder} does not match the Being-H0.5 model it configures:"]
        lines += list(other or [])
        for title, items in (("missing keys", missing), ("unexpected keys", unexpected)):
            if items:
                shown = ", ".join(items[:20]) + (f", ... ({len(items) - 20} more)" if len(items) > 20 else "")
                lines.append(f"  {len(items)} {title}: {shown}")
        if wrong_shape:
            shown = ", ".join(f"{k} (file {list(f)}, model {list(m)})" for k, f, m in wrong_shape[:20])
            lines.append(f"  {len(wrong_shape)} wrong-shape keys: {shown}")
        super().__init__("\n".join(lines))


def to_released(native: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Model state dict (native transformers names) -> released names, fusing vision q/k/v."""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for name, tensor in native.items():
        m = _QKV_NATIVE.fullmatch(name)
        if m:
            qkv.setdefault((m["n"], m["w"]), {})[m["part"]] = tensor
            continue
        out[_released_name(name)] = tensor
    for (layer, kind), parts in qkv.items():
        out[QKV_RELEASED.format(n=layer, w=kind)] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out


def to_native(released: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Released names -> model state dict names, splitting the fused vision q/k/v."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in released.items():
        m = _QKV.fullmatch(name)
        if m and tensor.shape[0] % 3 == 0:
            for part, chunk in zip("qkv", tensor.chunk(3, dim=0)):
                out[QKV_NATIVE.format(n=m["n"], part=part, w=m["w"])] = chunk
            continue
        out[_native_name(name)] = tensor
    return out


def released_shapes(model: BeingH05) -> dict[str, tuple[int, ...]]:
    """Released tensor names and shapes this model expects (works on the meta device)."""
    return {k: tuple(v.shape) for k, v in to_released(model.state_dict()).items()}


def _read_tensors(folder: Path) -> dict[str, torch.Tensor]:
    files = sorted(folder.glob("*.safetensors"))
    index = folder / INDEX_FILE
    if index.is_file():
        listed = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        absent = [f for f in listed if not (folder / f).is_file()]
        if absent:
            raise CheckpointError(folder, [], [], [], [f"  {INDEX_FILE} lists absent shard files: {absent}"])
        files = [folder / f for f in listed]
    if not files:
        raise CheckpointError(folder, [], [], [], ["  no *.safetensors files in the folder"])
    tensors: dict[str, torch.Tensor] = {}
    dup = []
    for f in files:
        with safe_open(str(f), framework="pt") as fh:
            for key in fh.keys():
                if key in tensors:
                    dup.append(f"{key} ({f.name})")
                tensors[key] = fh.get_tensor(key)
    if dup:
        raise CheckpointError(folder, [], [], [], [f"  keys stored twice: {dup[:20]}"])
    return tensors


def load_checkpoint(folder: str | Path, dtype: str | torch.dtype = "bfloat16",
                    device: str | torch.device = "cpu") -> tuple[BeingH05, BeingHConfig, dict[str, DatasetMetadata]]:
    """Build the model from ``config.json`` and load its weights strictly; returns (model, config, metadata).
    ``folder`` may also be ``shipped:<name>`` (h05/shipped.py)."""
    from h05.shipped import resolve_checkpoint

    folder = resolve_checkpoint(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"checkpoint folder {folder} does not exist")
    dtype = DTYPES[dtype] if isinstance(dtype, str) and dtype in DTYPES else dtype
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"dtype {dtype!r} is not one of {sorted(DTYPES)}")
    config = BeingHConfig.from_file(folder / CONFIG_FILE)
    with torch.device("meta"):
        model = BeingH05(config)
    expected = released_shapes(model)
    tensors = _read_tensors(folder)
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted((k, tuple(tensors[k].shape), expected[k]) for k in set(expected) & set(tensors)
                   if tuple(tensors[k].shape) != expected[k])
    if missing or unexpected or wrong:
        raise CheckpointError(folder, missing, unexpected, wrong)
    native = {k: v.to(dtype) for k, v in to_native(tensors).items()}
    model = model.to_empty(device=device)
    model.load_state_dict(native, strict=True, assign=False)
    model = model.to(device=device, dtype=dtype).eval()
    model.reset_buffers()  # after the cast: RoPE frequencies stay float32 in a bf16 model
    return model, config, load_metadata(folder)


def save_checkpoint(model: BeingH05, folder: str | Path, tokenizer=None,
                    metadata: Mapping[str, DatasetMetadata] | None = None,
                    dtype: str | torch.dtype | None = None, max_shard_bytes: int = 5 * 2**30) -> Path:
    """Write the released layout: config.json, safetensors shard(s) (+ index), tokenizer, metadata."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.config.save(folder)
    dtype = DTYPES.get(dtype, dtype) if isinstance(dtype, str) else dtype
    tensors = {k: (v.to(dtype) if dtype else v).detach().cpu().contiguous()
               for k, v in to_released(model.state_dict()).items()}
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for k in sorted(tensors):
        nbytes = tensors[k].numel() * tensors[k].element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][k] = tensors[k]
        size += nbytes
    if len(shards) == 1:
        save_file(shards[0], str(folder / "model.safetensors"), metadata={"format": "pt"})
    else:
        weight_map = {}
        for i, shard in enumerate(shards, 1):
            name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
            save_file(shard, str(folder / name), metadata={"format": "pt"})
            weight_map.update({k: name for k in shard})
        (folder / INDEX_FILE).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}, indent=2))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(folder))
    for name, meta in (metadata or {}).items():
        meta.save(folder, name)
    return folder
