"""Headless rendering setup and image post-processing shared by all simulators."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

if os.environ.get("H05_WORKER_CV2_THREADS"):  # set for env workers (envs.worker_client.WORKER_THREAD_ENV)
    cv2.setNumThreads(int(os.environ["H05_WORKER_CV2_THREADS"]))


def configure_headless_rendering() -> str:
    """Choose EGL unless the user set MUJOCO_GL, and its device; keep Mesa's shader cache writable.

    Must run before MuJoCo/robosuite create a GL context. Returns the backend.
    """
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    if os.environ["MUJOCO_GL"] == "egl":
        from envs.render_device import PLAN

        PLAN.apply_in_process()  # the EGL device (GPU if any, else llvmpipe); no-op in env workers
    cache = Path(os.environ.get("H05_CACHE_DIR", Path.cwd() / ".cache")) / "mesa_shader_cache"
    if "MESA_SHADER_CACHE_DIR" not in os.environ:
        try:
            cache.mkdir(parents=True, exist_ok=True)
            os.environ["MESA_SHADER_CACHE_DIR"] = str(cache)
        except OSError:
            pass
    return os.environ["MUJOCO_GL"]


def resize_upright(frame: np.ndarray, size: int, rotate_180: bool = False) -> np.ndarray:
    """Rotate a bottom-up GL frame upright (180 degrees) and resize to ``size`` x ``size``."""
    img = frame[::-1, ::-1] if rotate_180 else frame[::-1]
    if img.shape[0] != size or img.shape[1] != size:
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img, dtype=np.uint8)


_jit_warmed = False


def warm_jit_before_gl(blind_step: Callable[[], None]) -> None:
    """Run ``blind_step`` (build a camera-less env, step it once) before the first GL context.

    robosuite JIT-compiles its controller code with numba on first use; a
    compile after an EGL/llvmpipe context exists corrupts every later frame in
    the process (both use LLVM). Once per process; skipped with NUMBA_DISABLE_JIT=1.
    """
    global _jit_warmed
    if _jit_warmed or os.environ.get("NUMBA_DISABLE_JIT") == "1":
        _jit_warmed = True
        return
    blind_step()
    _jit_warmed = True
