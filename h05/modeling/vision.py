"""Vision tower (transformers' InternVL vision model) and the pixel-shuffle MLP connector."""

from __future__ import annotations

import torch
from torch import nn
from transformers import InternVLConfig, InternVLVisionConfig, Qwen3Config
from transformers.models.internvl.modeling_internvl import (
    InternVLModel,
    InternVLMultiModalProjector,
    InternVLVisionModel,
)

from h05.config import BeingHConfig

# ImageNet statistics: the InternViT normalisation (pixels in [0, 1]).
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


def vision_config(cfg: BeingHConfig) -> InternVLVisionConfig:
    """Native InternVL vision config equivalent to the released ``vit_config``."""
    v = cfg.vit_config
    if v.get("qk_normalization"):
        raise ValueError("vit_config.qk_normalization=True is not supported (InternViT-300M has none)")
    return InternVLVisionConfig(
        hidden_size=v["hidden_size"], num_hidden_layers=v["num_hidden_layers"],
        num_attention_heads=v["num_attention_heads"], intermediate_size=v["intermediate_size"],
        attention_bias=bool(v.get("qkv_bias", True)), use_qk_norm=False, hidden_act=v["hidden_act"],
        norm_type=v["norm_type"], layer_norm_eps=v["layer_norm_eps"],
        image_size=[cfg.force_image_size] * 2, patch_size=[v["patch_size"]] * 2,
        num_channels=v.get("num_channels", 3), use_mean_pooling=True,  # no final norm, as InternViT
    )


def connector_config(cfg: BeingHConfig) -> InternVLConfig:
    llm = cfg.llm_config
    return InternVLConfig(
        vision_config=vision_config(cfg).to_dict(),
        text_config=Qwen3Config(hidden_size=llm["hidden_size"], vocab_size=llm["vocab_size"]).to_dict(),
        downsample_ratio=cfg.downsample_ratio, projector_hidden_act="gelu",
    )


def build_vision_tower(cfg: BeingHConfig) -> InternVLVisionModel:
    return InternVLVisionModel(vision_config(cfg))


def build_connector(cfg: BeingHConfig) -> InternVLMultiModalProjector:
    return InternVLMultiModalProjector(connector_config(cfg))


def encode_images(vit_model: InternVLVisionModel, connector: InternVLMultiModalProjector,
                  pixel_values: torch.Tensor, downsample_ratio: float) -> torch.Tensor:
    """Normalised images [B, C, 3, S, S] -> LLM-space tokens [B, C * n, llm_hidden]."""
    b, c = pixel_values.shape[:2]
    flat = pixel_values.flatten(0, 1).to(vit_model.embeddings.cls_token.dtype)
    feats = vit_model(pixel_values=flat).last_hidden_state[:, 1:]  # drop CLS
    side = int(round(feats.shape[1] ** 0.5))
    feats = feats.reshape(feats.shape[0], side, side, -1)
    # InternVL's own pixel shuffle (a pure tensor op on the features; it reads nothing from self).
    feats = InternVLModel.pixel_shuffle(None, feats, scale_factor=downsample_ratio)
    tokens = connector(feats.reshape(feats.shape[0], -1, feats.shape[-1]))
    return tokens.reshape(b, c * tokens.shape[1], tokens.shape[-1])
