"""Model presets for training, beyond ``BeingHConfig.preset`` (``full``, ``small``, ``tiny``).

``twins``: sized to ship (about 40 MB in bf16, most of it the Qwen3 vocabulary's
embedding and untied head at hidden 64) and to train in minutes on one GPU:
a narrow understanding expert (64), a wider action expert (256, MLP 512),
4 joint-attention layers (4 heads x 32), a 2-layer 128-wide ViT on 112 px
images (16 tokens per camera after pixel shuffle).
"""

from __future__ import annotations

from typing import Any

from h05.config import PRESET_SIZES, VOCAB_SIZE, BeingHConfig, _qwen3, _vit

# (llm hidden, llm MLP, expert hidden, expert MLP, layers, heads, kv heads, head_dim,
#  vit hidden, vit MLP, vit layers, vit heads, image px)
TRAIN_PRESETS: dict[str, tuple[int, ...]] = {
    "twins": (64, 128, 256, 512, 4, 4, 2, 32, 128, 256, 2, 4, 112),
}


def build_config(preset: str, **overrides: Any) -> BeingHConfig:
    """A ``BeingHConfig`` for ``preset`` (a model preset or a training preset) with ``overrides``."""
    if preset in PRESET_SIZES:
        return BeingHConfig.preset(preset, **overrides)
    if preset not in TRAIN_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(list(PRESET_SIZES) + list(TRAIN_PRESETS))}")
    (h, inter, eh, einter, layers, heads, kv, hd, vh, vinter, vlayers, vheads, img) = TRAIN_PRESETS[preset]
    llm = _qwen3(h, inter, layers, heads, kv, hd, VOCAB_SIZE, "Qwen3MoTDecoderLayer")
    llm["use_mot"] = True
    llm["expert_config"] = _qwen3(eh, einter, layers, heads, kv, hd, VOCAB_SIZE, "Qwen3DecoderLayer")
    data: dict[str, Any] = {"llm_config": llm, "vit_config": _vit(vh, vinter, vlayers, vheads, img),
                            "force_image_size": img}
    data.update(overrides)
    return BeingHConfig.from_dict(data)
