"""``BeingHConfig``: the released ``config.json`` of a Being-H0.5 checkpoint, plus presets.

The released keys (model_type ``beingh``, ``llm_config`` with a nested
``expert_config``, ``vit_config``, flow-matching, MPG and RTC keys) are read
and written unchanged; keys this code does not use are kept in ``extra`` so a
load/save round trip loses nothing. Extensions that exist only in the paper
(Mixture-of-Flow, masked motion tokens, per-embodiment UAC delays) live under
the ``h05_`` prefix and are absent (= off) in a released file.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

CONFIG_FILE = "config.json"


class ForeignArchitectureError(ValueError):
    """A config.json describes a model this code does not implement."""


class ConfigValueError(ValueError):
    """A config value is out of range or inconsistent."""


def _qwen3(hidden: int, inter: int, layers: int, heads: int, kv_heads: int, head_dim: int,
           vocab: int, layer_module: str) -> dict[str, Any]:
    return {
        "vocab_size": vocab, "max_position_embeddings": 40960, "hidden_size": hidden,
        "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
        "use_sliding_window": False, "sliding_window": 4096, "max_window_layers": layers,
        "num_key_value_heads": kv_heads, "hidden_act": "silu", "initializer_range": 0.02,
        "rms_norm_eps": 1e-06, "use_cache": False, "rope_theta": 1000000.0, "rope_scaling": None,
        "attention_bias": False, "attention_dropout": 0.0, "is_causal": True, "head_dim": head_dim,
        "qk_norm": True, "layer_module": layer_module, "model_type": "qwen3",
    }


def _vit(hidden: int, inter: int, layers: int, heads: int, image: int) -> dict[str, Any]:
    return {
        "hidden_size": hidden, "intermediate_size": inter, "dropout": 0.0, "drop_path_rate": 0.0,
        "num_hidden_layers": layers, "num_attention_heads": heads, "num_channels": 3,
        "patch_size": 14, "image_size": image, "initializer_range": 0.02, "initializer_factor": 1.0,
        "attention_dropout": 0.0, "layer_norm_eps": 1e-06, "hidden_act": "gelu",
        "norm_type": "layer_norm", "qkv_bias": True, "qk_normalization": False,
        "use_flash_attn": True, "model_type": "intern_vit_6b",
    }


# Preset sizes: (llm hidden, llm MLP, expert hidden, expert MLP, layers, heads, kv heads,
# head_dim, vit hidden, vit MLP, vit layers, vit heads, image px)
PRESET_SIZES: dict[str, tuple[int, ...]] = {
    "full": (2048, 6144, 1024, 3072, 28, 16, 8, 128, 1024, 4096, 24, 16, 224),
    "small": (256, 768, 128, 384, 4, 4, 2, 64, 128, 512, 2, 4, 224),
    "tiny": (64, 128, 32, 64, 2, 2, 1, 32, 32, 64, 1, 2, 56),
    # Sized to ship (~40 MB in bf16, mostly the vocabulary's embedding and head) and to
    # train in minutes on one GPU: narrow understanding expert, wider action expert,
    # 4 joint-attention layers, a 2-layer ViT on 112 px images (16 tokens per camera).
    "twins": (64, 128, 256, 512, 4, 4, 2, 32, 128, 256, 2, 4, 112),
}
VOCAB_SIZE = 151936  # Qwen3 embedding rows (tokenizer + reserved slots)


@dataclass
class BeingHConfig:
    """Typed view of the released config.json; ``extra`` keeps every other key."""

    llm_config: dict[str, Any]
    vit_config: dict[str, Any]
    force_image_size: int = 224
    downsample_ratio: float = 0.5
    select_layer: int = -1
    action_chunk_length: int = 16
    action_token_num: int = 16
    num_inference_timesteps: int = 4
    use_expert: bool = True
    use_flow_matching: bool = True
    attn_mode: str = "causal"
    max_num_embodiments: int = 32
    noise_beta_alpha: float = 1.5
    noise_beta_beta: float = 1.0
    num_timestep_buckets: int = 1000
    noise_s: float = 0.999
    connector_arch: str = "internvl_connector"
    use_mpg: bool = False
    mpg_num_projections: int = 32
    mpg_lambda: float = 0.1
    mpg_use_stop_gradient: bool = True
    mpg_refinement_iters: int = 1
    mpg_gate_temperature: float = 1.0
    use_training_time_rtc: bool = False
    simulated_delay: int = 0
    rtc_delay_exp_weight: bool = True
    use_inference_prefix_overwrite: bool = True
    model_type: str = "beingh"
    # --- paper-only extensions (absent from released files = off) ---
    h05_use_mof: bool = False
    h05_mof_num_experts: int = 4
    h05_mof_top_k: int = 1
    h05_mof_shared_layers: int = 0  # lower action-expert layers kept shared ("foundation")
    h05_mof_balance_weight: float = 0.01
    h05_use_motion_tokens: bool = False
    h05_motion_codebook_size: int = 512
    h05_motion_token_num: int = 16
    h05_motion_mask_ratio: float = 0.5
    h05_flow_loss_weight: float = 1.0
    h05_motion_loss_weight: float = 0.1
    h05_uac_max_delay: dict[str, int] = field(default_factory=dict)  # per embodiment
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ views
    @property
    def expert_config(self) -> dict[str, Any]:
        return self.llm_config["expert_config"]

    @property
    def image_tokens_per_camera(self) -> int:
        patches = self.force_image_size // int(self.vit_config["patch_size"])
        return int(round(patches * self.downsample_ratio)) ** 2

    def max_delay(self, embodiment: str) -> int:
        """UAC delay bound for ``embodiment`` (sampled d < bound); ``simulated_delay`` by default."""
        return int(self.h05_uac_max_delay.get(embodiment, self.simulated_delay))

    # -------------------------------------------------------------- checking
    def validate(self) -> None:
        """Raise ``ForeignArchitectureError``/``ConfigValueError`` listing every problem."""
        foreign = []
        expect = {
            "model_type": (self.model_type, "beingh"),
            "connector_arch": (self.connector_arch, "internvl_connector"),
            "llm_config.model_type": (self.llm_config.get("model_type"), "qwen3"),
            "llm_config.use_mot": (self.llm_config.get("use_mot"), True),
            "vit_config.model_type": (self.vit_config.get("model_type"), "intern_vit_6b"),
            "use_expert": (self.use_expert, True),
            "use_flow_matching": (self.use_flow_matching, True),
        }
        for key, (got, want) in expect.items():
            if got != want:
                foreign.append(f"{key}={got!r} (this code implements {want!r})")
        if "expert_config" not in self.llm_config:
            foreign.append("llm_config.expert_config is missing (no action expert)")
        if foreign:
            raise ForeignArchitectureError("config describes another architecture: " + "; ".join(foreign))
        bad = []
        llm, exp = self.llm_config, self.expert_config
        for key in ("num_attention_heads", "num_key_value_heads", "head_dim", "num_hidden_layers"):
            if llm.get(key) != exp.get(key):
                bad.append(f"expert_config.{key}={exp.get(key)} must equal llm_config.{key}={llm.get(key)}")
        if self.attn_mode != "causal":
            bad.append(f"attn_mode={self.attn_mode!r} (only 'causal' is implemented, as released)")
        if self.action_chunk_length != self.action_token_num:
            bad.append(f"action_token_num={self.action_token_num} != action_chunk_length={self.action_chunk_length}")
        patch = int(self.vit_config["patch_size"])
        if self.force_image_size % patch or (self.force_image_size // patch) % round(1 / self.downsample_ratio):
            bad.append(f"force_image_size={self.force_image_size} does not tile into patches of {patch} "
                       f"with downsample_ratio={self.downsample_ratio}")
        if self.num_inference_timesteps < 1:
            bad.append(f"num_inference_timesteps={self.num_inference_timesteps} must be >= 1")
        if self.h05_use_mof:
            n_layers = int(exp["num_hidden_layers"])
            if not 1 <= self.h05_mof_top_k <= self.h05_mof_num_experts:
                bad.append(f"h05_mof_top_k={self.h05_mof_top_k} must be in 1..h05_mof_num_experts={self.h05_mof_num_experts}")
            if not 0 <= self.h05_mof_shared_layers < n_layers:
                bad.append(f"h05_mof_shared_layers={self.h05_mof_shared_layers} must be in 0..{n_layers - 1}")
        for emb, d in self.h05_uac_max_delay.items():
            if not 0 <= int(d) < self.action_chunk_length:
                bad.append(f"h05_uac_max_delay[{emb!r}]={d} must be in 0..{self.action_chunk_length - 1}")
        if bad:
            raise ConfigValueError("invalid Being-H0.5 config: " + "; ".join(bad))

    # ------------------------------------------------------------------- IO
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BeingHConfig":
        data = copy.deepcopy(dict(data))
        if "llm_config" not in data or "vit_config" not in data:
            raise ForeignArchitectureError(
                f"config has no llm_config/vit_config (model_type={data.get('model_type')!r}); "
                "not a Being-H0.5 config"
            )
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names}
        return cls(**known, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(copy.deepcopy(self.extra))
        for f in fields(self):
            if f.name == "extra":
                continue
            value = copy.deepcopy(getattr(self, f.name))
            default = f.default_factory() if callable(f.default_factory) else f.default
            if f.name.startswith("h05_") and value == default:
                continue  # extensions at their defaults are not written: a released file stays released
            out[f.name] = value
        return out

    @classmethod
    def from_file(cls, path: str | Path) -> "BeingHConfig":
        path = Path(path)
        if path.is_dir():
            path = path / CONFIG_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"no {CONFIG_FILE} at {path}") from None
        except json.JSONDecodeError as exc:
            raise ConfigValueError(f"{path} is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / CONFIG_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "BeingHConfig":
        """``full`` (InternVL3.5-2B + Qwen3-0.6B-shaped expert), ``small``, ``tiny`` or ``twins``."""
        if name not in PRESET_SIZES:
            raise ConfigValueError(f"unknown preset {name!r}; known: {', '.join(PRESET_SIZES)}")
        (h, inter, eh, einter, layers, heads, kv, hd, vh, vinter, vlayers, vheads, img) = PRESET_SIZES[name]
        llm = _qwen3(h, inter, layers, heads, kv, hd, VOCAB_SIZE, "Qwen3MoTDecoderLayer")
        llm["use_mot"] = True
        llm["expert_config"] = _qwen3(eh, einter, layers, heads, kv, hd, VOCAB_SIZE, "Qwen3DecoderLayer")
        data: dict[str, Any] = {"llm_config": llm, "vit_config": _vit(vh, vinter, vlayers, vheads, img),
                                "force_image_size": img}
        data.update(overrides)
        return cls.from_dict(data)
