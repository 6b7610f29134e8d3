"""Image-space shifts on uint8 HxWx3 frames; parameters are drawn once per episode."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np


def draw_color_jitter(rng: np.random.Generator, p: dict[str, float]) -> dict[str, Any]:
    sign = lambda: rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0)  # noqa: E731 - at least half the level
    return {
        "brightness": 1 + sign() * p["brightness"],
        "contrast": 1 + sign() * p["contrast"],
        "saturation": 1 + sign() * p["saturation"],
        "hue_deg": sign() * p["hue_deg"],
    }


def color_jitter(img: np.ndarray, q: dict[str, Any]) -> np.ndarray:
    x = img.astype(np.float32) * q["brightness"]
    mean = x.mean()
    x = (x - mean) * q["contrast"] + mean
    gray = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    x = gray[..., None] + (x - gray[..., None]) * q["saturation"]
    x = np.clip(x, 0, 255).astype(np.uint8)
    if q["hue_deg"]:
        hsv = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)  # OpenCV hue is 0..179 (2-degree units)
        hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + int(round(q["hue_deg"] / 2))) % 180).astype(np.uint8)
        x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return x


def gaussian_noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    noisy = img.astype(np.float32) + rng.normal(0.0, sigma, img.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def blur(img: np.ndarray, sigma_px: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigmaX=sigma_px, sigmaY=sigma_px, borderType=cv2.BORDER_REFLECT)


def draw_occlusion(rng: np.random.Generator, p: dict[str, float], shape: tuple[int, ...]) -> list[dict[str, Any]]:
    h, w = shape[:2]
    side = max(1, int(round(p["size_frac"] * min(h, w) * 2)))
    out = []
    for _ in range(int(p["patches"])):
        y, x = int(rng.integers(0, max(1, h - side))), int(rng.integers(0, max(1, w - side)))
        out.append({"y": y, "x": x, "side": side, "rgb": rng.integers(0, 256, 3).tolist()})
    return out


def occlude(img: np.ndarray, patches: list[dict[str, Any]]) -> np.ndarray:
    out = img.copy()
    for q in patches:
        out[q["y"] : q["y"] + q["side"], q["x"] : q["x"] + q["side"]] = np.asarray(q["rgb"], dtype=np.uint8)
    return out
