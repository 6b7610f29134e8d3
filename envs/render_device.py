"""Which EGL device renders: NVIDIA GPUs where there are any, Mesa llvmpipe elsewhere.

MuJoCo (and robosuite) render headless through EGL and pick the device with
``MUJOCO_EGL_DEVICE_ID``, an index into ``eglQueryDevicesEXT``'s list. That
list holds every vendor's devices (glvnd: ``libEGL_nvidia`` for each GPU,
``libEGL_mesa`` for the llvmpipe software device). This module

- lists the devices (``probe_egl_devices``; in a short child process, so the
  evaluator never loads a GL driver itself) and classifies them by their EGL
  extensions: ``EGL_NV_device_cuda`` -> NVIDIA (with its CUDA ordinal),
  ``EGL_MESA_device_software`` -> llvmpipe;
- resolves the ``render_device`` setting (``auto`` | ``cpu`` | ``gpu`` | a CUDA
  ordinal) to the devices env workers rotate over: worker k renders on
  device k mod n, GPUs in ``CUDA_VISIBLE_DEVICES`` order;
- reads what a live GL context actually is (``current_render_device``:
  GL_VENDOR / GL_RENDERER and the EGL device behind the current display), which
  is what the episode records carry, rather than what was asked for.

Env workers do no CUDA work: their environment drops ``CUDA_VISIBLE_DEVICES``
(robosuite would otherwise reinterpret it as an EGL index), so CUDA ordinals
here are those of the machine with every GPU visible.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from typing import Any

EGL_EXTENSIONS = 0x3055
EGL_DEVICE_EXT = 0x322C
EGL_CUDA_DEVICE_NV = 0x323A
GL_VENDOR, GL_RENDERER, GL_VERSION = 0x1F00, 0x1F01, 0x1F02
RENDER_DEVICE_MODES = ("auto", "cpu", "gpu")
RESOLVED_ENV = "H05_RENDER_DEVICE_CHOSEN"  # set in env workers: the parent chose their device


class RenderDeviceError(ValueError):
    """A bad ``render_device`` value, or one this machine cannot honour (names both)."""


@dataclass(frozen=True)
class EglDevice:
    """One entry of ``eglQueryDevicesEXT``: its index there, its kind, its CUDA ordinal if NVIDIA."""

    index: int
    kind: str  # "nvidia", "llvmpipe" or "other"
    cuda: int | None = None
    extensions: str = ""

    @property
    def label(self) -> str:
        return f"nvidia:{self.cuda}" if self.kind == "nvidia" else self.kind


# -- EGL through ctypes (libEGL.so.1 is the glvnd dispatcher) -------------------------------

def _egl() -> Any:
    lib = ctypes.CDLL("libEGL.so.1")
    lib.eglGetProcAddress.restype = ctypes.c_void_p
    lib.eglGetProcAddress.argtypes = [ctypes.c_char_p]
    return lib


def _ext(lib: Any, name: str, restype: Any, *argtypes: Any) -> Any:
    ptr = lib.eglGetProcAddress(name.encode())
    if not ptr:
        raise OSError(f"EGL has no {name} (EGL_EXT_device_enumeration missing)")
    return ctypes.CFUNCTYPE(restype, *argtypes)(ptr)


def _describe_device(lib: Any, handle: int, index: int) -> EglDevice:
    query_string = _ext(lib, "eglQueryDeviceStringEXT", ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int)
    exts = (query_string(handle, EGL_EXTENSIONS) or b"").decode(errors="replace")
    if "EGL_NV_device_cuda" in exts:
        query_attrib = _ext(lib, "eglQueryDeviceAttribEXT", ctypes.c_uint, ctypes.c_void_p, ctypes.c_int,
                            ctypes.POINTER(ctypes.c_ssize_t))
        value = ctypes.c_ssize_t(-1)
        ok = query_attrib(handle, EGL_CUDA_DEVICE_NV, ctypes.byref(value))
        return EglDevice(index, "nvidia", int(value.value) if ok else None, exts)
    if "EGL_MESA_device_software" in exts:
        return EglDevice(index, "llvmpipe", None, exts)
    return EglDevice(index, "other", None, exts)


def list_egl_devices_here() -> list[EglDevice]:
    """The EGL devices as this process sees them (loads the EGL vendor libraries)."""
    lib = _egl()
    query = _ext(lib, "eglQueryDevicesEXT", ctypes.c_uint, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                 ctypes.POINTER(ctypes.c_int))
    n = ctypes.c_int(0)
    if not query(0, None, ctypes.byref(n)):
        raise OSError("eglQueryDevicesEXT failed")
    handles = (ctypes.c_void_p * max(n.value, 1))()
    query(n.value, handles, ctypes.byref(n))
    return [_describe_device(lib, handles[i], i) for i in range(n.value)]


def worker_base_env() -> dict[str, str]:
    """The environment env workers (and the probe) start from: this one without CUDA_VISIBLE_DEVICES."""
    env = dict(os.environ)
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


_probe_cache: list[EglDevice] | None = None
_probe_lock = threading.Lock()


def probe_egl_devices(timeout_s: float = 60.0) -> list[EglDevice]:
    """The EGL devices an env worker will see, listed once per process in a child process.

    A machine without EGL or device enumeration gives an empty list.
    """
    global _probe_cache
    with _probe_lock:
        if _probe_cache is None:
            try:
                out = subprocess.run([sys.executable, "-m", "envs.render_device"], capture_output=True, text=True,
                                     timeout=timeout_s, env=worker_base_env(), check=True,
                                     cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
                _probe_cache = [EglDevice(**d) for d in json.loads(out.stdout.strip().splitlines()[-1])]
            except (OSError, subprocess.SubprocessError, ValueError, IndexError):
                _probe_cache = []
        return list(_probe_cache)


# -- the render_device setting ------------------------------------------------------------------

def parse_render_device(value: Any) -> str | int:
    """``auto``, ``cpu``, ``gpu`` or a CUDA ordinal >= 0; anything else is an error naming it."""
    if isinstance(value, bool):
        raise RenderDeviceError(f"render_device must be auto, cpu, gpu or a GPU index >= 0, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise RenderDeviceError(f"render_device must be auto, cpu, gpu or a GPU index >= 0, got {value!r}")
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in RENDER_DEVICE_MODES:
            return v
        if v.isdigit():
            return int(v)
    raise RenderDeviceError(f"render_device must be auto, cpu, gpu or a GPU index >= 0, got {value!r}")


def _visible_order() -> list[int] | None:
    """CUDA ordinals in CUDA_VISIBLE_DEVICES order, or None when unset / not plain integers."""
    raw = os.environ.get("CUDA_VISIBLE_DEVICES")
    if raw is None or not raw.strip():
        return None
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    return [int(p) for p in parts] if all(p.isdigit() for p in parts) else None


def resolve_render_devices(value: Any, devices: list[EglDevice], visible: list[int] | None = None) -> list[EglDevice]:
    """The devices workers rotate over for ``value``; raises when the machine cannot honour it.

    ``auto``: the NVIDIA devices (in ``visible`` order where given) if any, else llvmpipe,
    else [] (MuJoCo's own default). ``gpu``: NVIDIA only. ``cpu``: llvmpipe only.
    An integer: the NVIDIA device with that CUDA ordinal.
    """
    mode = parse_render_device(value)
    nvidia = sorted((d for d in devices if d.kind == "nvidia"), key=lambda d: (d.cuda is None, d.cuda or 0, d.index))
    if visible is not None:
        chosen = [d for c in visible for d in nvidia if d.cuda == c]
        nvidia = chosen or nvidia
    software = [d for d in devices if d.kind == "llvmpipe"][:1]
    listed = ", ".join(f"{d.index}:{d.label}" for d in devices) or "none"
    if mode == "auto":
        return nvidia or software
    if mode == "gpu":
        if not nvidia:
            raise RenderDeviceError(f"render_device=gpu but no NVIDIA EGL device is present (EGL devices: {listed})")
        return nvidia
    if mode == "cpu":
        if not software:
            raise RenderDeviceError(f"render_device=cpu but no Mesa llvmpipe EGL device is present (EGL devices: {listed})")
        return software
    match = [d for d in nvidia if d.cuda == mode]
    if not match:
        raise RenderDeviceError(f"render_device={mode} names no NVIDIA EGL device (EGL devices: {listed})")
    return match


class RenderDevicePlan:
    """The process-wide choice: which EGL device each env worker (and in-process env) renders on."""

    def __init__(self) -> None:
        self.setting: str | int = "auto"
        self.devices: list[EglDevice] | None = None  # None: not resolved yet
        self._next = 0
        self._applied: str | None = None  # the MUJOCO_EGL_DEVICE_ID this plan set in os.environ
        self._lock = threading.Lock()

    def _user_device(self) -> bool:
        """Whether MUJOCO_EGL_DEVICE_ID was set by the user (not by ``apply_in_process``)."""
        value = os.environ.get("MUJOCO_EGL_DEVICE_ID")
        return value is not None and value != self._applied

    def configure(self, value: Any, resolve: bool = True) -> list[EglDevice] | None:
        """Validate ``value``; with ``resolve`` also pick the devices now (errors before any env is built).

        Without ``resolve`` the devices are picked when the first env needs them.
        """
        setting = parse_render_device(value)
        if not resolve:
            with self._lock:
                self.setting, self.devices, self._next = setting, None, 0
            return None
        if os.environ.get("MUJOCO_GL", "egl") != "egl":
            if setting != "auto":
                raise RenderDeviceError(f"render_device={value!r} needs MUJOCO_GL=egl, got MUJOCO_GL={os.environ['MUJOCO_GL']!r}")
            devices: list[EglDevice] = []
        elif setting == "auto" and self._user_device():
            devices = []  # the user chose a device: leave it to MuJoCo
        else:
            devices = resolve_render_devices(setting, probe_egl_devices(), _visible_order())
        with self._lock:
            self.setting, self.devices, self._next = setting, devices, 0
        return devices

    def next_worker_env(self) -> dict[str, str]:
        """The environment of the next env worker: worker k gets device k mod n."""
        if self.devices is None:
            self.configure(self.setting)
        env = worker_base_env()
        env[RESOLVED_ENV] = "1"
        with self._lock:
            if self.devices:
                env["MUJOCO_EGL_DEVICE_ID"] = str(self.devices[self._next % len(self.devices)].index)
            self._next += 1
        return env

    def apply_in_process(self) -> None:
        """Point this process's own rendering at the first chosen device (unless the user set one).

        A no-op inside an env worker: its parent chose its device.
        """
        if os.environ.get(RESOLVED_ENV) == "1":
            return
        if self.devices is None:
            self.configure(self.setting)
        if self.devices and (self.setting != "auto" or not self._user_device()):
            self._applied = os.environ["MUJOCO_EGL_DEVICE_ID"] = str(self.devices[0].index)


PLAN = RenderDevicePlan()


# -- what the live context is ---------------------------------------------------------------------

def render_fields(env: Any, rendered: bool) -> dict[str, Any]:
    """Record fields saying what rendered ``env``'s last observation.

    An env worker's env reports its own context (``RemoteEnv.render_info``); an
    env in this process is asked through this thread's current GL context.
    """
    if not rendered:
        return {"render_device": "none"}
    from envs.worker_client import RemoteEnv

    info = env.render_info if isinstance(env, RemoteEnv) else current_render_device()
    if not info:
        return {"render_device": "unknown"}
    return {"render_device": info["render_device"], "gl_renderer": info.get("gl_renderer", "")}


def current_render_device() -> dict[str, Any] | None:
    """GL vendor/renderer of this thread's current GL context and a short device label; None without one.

    The label is ``nvidia:<cuda ordinal>`` for NVIDIA's EGL, ``llvmpipe`` for Mesa's
    software rasteriser, else ``<vendor>: <renderer>``.
    """
    try:
        gl = ctypes.CDLL("libOpenGL.so.0")
    except OSError:
        try:
            gl = ctypes.CDLL("libGL.so.1")
        except OSError:
            return None
    gl.glGetString.restype = ctypes.c_char_p
    gl.glGetString.argtypes = [ctypes.c_uint]
    vendor = gl.glGetString(GL_VENDOR)
    if not vendor:
        return None
    renderer = (gl.glGetString(GL_RENDERER) or b"").decode(errors="replace")
    info: dict[str, Any] = {"gl_vendor": vendor.decode(errors="replace"), "gl_renderer": renderer,
                            "gl_version": (gl.glGetString(GL_VERSION) or b"").decode(errors="replace")}
    egl_device = _current_egl_device()
    if egl_device is not None and egl_device.kind == "nvidia":
        label = egl_device.label
    elif "llvmpipe" in renderer.lower():
        label = "llvmpipe"
    elif "nvidia" in info["gl_vendor"].lower():
        label = "nvidia:?"
    else:
        label = f"{info['gl_vendor']}: {renderer}"
    info["render_device"] = label
    return info


def _current_egl_device() -> EglDevice | None:
    """The EGL device behind the current display (EGL_EXT_device_query), if EGL is in use."""
    try:
        lib = _egl()
        lib.eglGetCurrentDisplay.restype = ctypes.c_void_p
        display = lib.eglGetCurrentDisplay()
        if not display:
            return None
        query = _ext(lib, "eglQueryDisplayAttribEXT", ctypes.c_uint, ctypes.c_void_p, ctypes.c_int,
                     ctypes.POINTER(ctypes.c_ssize_t))
        handle = ctypes.c_ssize_t(0)
        if not query(display, EGL_DEVICE_EXT, ctypes.byref(handle)) or not handle.value:
            return None
        return _describe_device(lib, handle.value, -1)
    except OSError:
        return None


if __name__ == "__main__":  # the probe: print this process's EGL devices as one JSON line
    try:
        found = [asdict(d) for d in list_egl_devices_here()]
    except OSError:
        found = []
    print(json.dumps(found))
