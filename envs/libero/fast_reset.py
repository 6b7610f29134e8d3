"""LIBERO hard resets without recompiling the same MJCF, bit-identical to robosuite 1.4's hard reset.

robosuite's hard reset (``MujocoEnv.reset``, ``hard_reset=True``) frees the sim (``MjSim.free``,
which ends in a full ``gc.collect()``), rebuilds the MJCF in Python (``_load_model``), compiles it
(``MjModel.from_xml_string``: meshes, textures and their BVHs, ~270-310 MB per LIBERO scene),
and only then LIBERO draws the fixture placements from numpy's global RNG and writes them into
the new model's ``body_pos`` / ``body_quat``. The MJCF text is therefore the same at every
reset of a task, and the compile was ~60% of a blind reset, the full collection ~15%.

With :func:`install_model_cache` on a robosuite env:

* ``_load_model`` still runs every reset (same Python objects, same RNG draws); only the compile
  is replaced, and only when the text equals the last compiled text exactly (any difference
  compiles anew). A text passed explicitly (``reset_from_xml_string``, e.g. distractors added
  by ``envs.shift``) is compiled as before and not cached.
* The env keeps the compiled model untouched (the pristine model); each new sim gets a copy:
  every array field, ``opt``, ``vis`` and ``stat`` copied into the memory of the previous
  episode's model of the same text (no fresh 300 MB allocation; the first reset reuses the
  constructor's model), or ``copy.copy`` when that memory is not free. Compiling is
  deterministic, so this equals a fresh compile byte for byte (``tests/test_libero_fast_reset.py``
  compares ``mj_saveModel`` bytes, full states, observations and images with the default path).
* The old sim is released as ``MjSim.free`` does, without its ``gc.collect()``: the sim, its
  data and render context are freed by reference counting (the collection found nothing after
  the first reset; the test checks the old objects are gone). Python's own collector still runs.
  The previous model's memory is reused only when nothing but this module refers to it.
* With cameras, robosuite renders each one three times while it rebuilds (every new observable
  calls its sensor once to learn the frame's shape, the existing observable checks the new
  sensor again, and ``reset`` returns a first observation). The harness discards all three:
  ``LiberoEnv.reset`` ignores that observation and ``set_init_state`` replaces every observable's
  value before a frame is read. Inside :func:`blank_reset_renders` those frames are zero arrays
  of the rendered frame's shape and dtype; the harness's first frame is the last settle step's,
  as before (the test compares images bit for bit).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import sys
from typing import Any, Iterator

import mujoco
import numpy as np

from envs.libero.switches import switch_on

ENV_VAR = "H05_LIBERO_FAST_RESET"
PATH_NAMES = {True: "compiled-model cache", False: "compile per reset"}
_STRUCTS = ("opt", "vis", "stat")


def fast_reset_enabled() -> bool:
    """The switch: ``H05_LIBERO_FAST_RESET`` = 1 (default) or 0; anything else is an error."""
    return switch_on(ENV_VAR)


def reset_path() -> str:
    """Which reset path LIBERO envs of this process run, as recorded in episode records' versions."""
    return PATH_NAMES[fast_reset_enabled()]


def copy_model_into(dst: mujoco.MjModel, src: mujoco.MjModel, arrays: tuple[str, ...]) -> None:
    """Overwrite ``dst`` with ``src`` (same MJCF, so same sizes): every array field and the structs."""
    for name in arrays:
        np.copyto(getattr(dst, name), getattr(src, name))
    for name in _STRUCTS:
        setattr(dst, name, getattr(src, name))  # the bindings copy the struct by value


class ModelCache:
    """One env's compiled model of the last MJCF text, and the model memory it can reuse."""

    def __init__(self) -> None:
        self.xml: str | None = None
        self.pristine: mujoco.MjModel | None = None
        self._arrays: tuple[str, ...] = ()
        self._live: tuple[mujoco.MjModel, str] | None = None  # the current sim's model and its MJCF text
        self._spare: tuple[mujoco.MjModel, str] | None = None  # a released model whose memory can be reused
        self.counts = {"compiled": 0, "copied": 0, "reused": 0}
        self.blank_renders = False  # set by blank_reset_renders

    def adopt(self, model: mujoco.MjModel, xml: str) -> None:
        """``model``, in use by the current sim, was compiled from ``xml``: once released it may be reused."""
        self._live = (model, xml)

    def model_for(self, xml: str) -> mujoco.MjModel:
        """A model equal to ``MjModel.from_xml_string(xml)``, compiled only if ``xml`` is new."""
        if xml != self.xml:
            self.pristine = mujoco.MjModel.from_xml_string(xml)
            self.xml = xml
            self._arrays = tuple(n for n in dir(self.pristine)
                                 if not n.startswith("_") and isinstance(getattr(self.pristine, n), np.ndarray))
            self.counts["compiled"] += 1
        spare = self._spare[0] if self._spare is not None and self._spare[1] == xml else None
        self._spare = None
        # reuse only a model of the same text that nothing else refers to (`spare` and the call's argument)
        if (spare is not None and sys.getrefcount(spare) == 2 and spare.nbuffer == self.pristine.nbuffer
                and spare.names == self.pristine.names):
            copy_model_into(spare, self.pristine, self._arrays)
            self.counts["reused"] += 1
            model = spare
        else:
            model = copy.copy(self.pristine)
            self.counts["copied"] += 1
        self._live = (model, xml)
        return model

    def release(self, model: mujoco.MjModel) -> None:
        """The sim that used ``model`` is gone: keep its memory for the next copy if it is one we know."""
        if self._live is not None and model is self._live[0]:
            self._spare, self._live = self._live, None


def _blank_render(sim: Any, width: int | None = None, height: int | None = None, *, camera_name: str | None = None,
                  depth: bool = False, segmentation: bool = False, **kwargs: Any) -> Any:
    """What robosuite 1.4's ``MjSim.render`` returns, in shape and dtype, without rendering."""
    if segmentation or width is None or height is None:
        return type(sim).render(sim, width, height, camera_name=camera_name, depth=depth, segmentation=segmentation,
                                **kwargs)
    if camera_name is not None:
        sim.model.camera_name2id(camera_name)  # an unknown camera fails as it would
    rgb = np.zeros((height, width, 3), np.uint8)
    return (rgb, np.zeros((height, width), np.float32)) if depth else rgb


@contextlib.contextmanager
def blank_reset_renders(robosuite_env: Any, enabled: bool = True) -> Iterator[bool]:
    """Around ``robosuite_env.reset()``: sims it builds return blank frames (module docstring).

    Yields whether it is active (an env with the model cache and an offscreen renderer); the
    current sim renders normally again on exit, also on error.
    """
    cache = getattr(robosuite_env, "_h05_model_cache", None)
    if not enabled or cache is None or not robosuite_env.has_offscreen_renderer:
        yield False
        return
    cache.blank_renders = True
    try:
        yield True
    finally:
        cache.blank_renders = False
        if robosuite_env.sim is not None:
            vars(robosuite_env.sim).pop("render", None)


def install_model_cache(robosuite_env: Any) -> ModelCache:
    """Replace ``_initialize_sim`` / ``_destroy_sim`` of one robosuite env (instance attributes)."""
    from robosuite.utils.binding_utils import MjSim

    cache = ModelCache()
    if robosuite_env.sim is not None:  # the constructor's sim, compiled from the current MJCF text
        xml = robosuite_env.model.get_xml()
        if robosuite_env._xml_processor is not None:
            xml = robosuite_env._xml_processor(xml)
        cache.adopt(robosuite_env.sim.model._model, xml)

    def initialize_sim(xml_string: str | None = None) -> None:
        # robosuite 1.4 MujocoEnv._initialize_sim, with the compiled-model cache
        xml = xml_string if xml_string else robosuite_env.model.get_xml()
        if robosuite_env._xml_processor is not None:
            xml = robosuite_env._xml_processor(xml)
        # an explicit text (reset_from_xml_string: scene edits) compiles as before and leaves the cache alone
        model = mujoco.MjModel.from_xml_string(xml) if xml_string else cache.model_for(xml)
        robosuite_env.sim = MjSim(model)
        if cache.blank_renders:
            robosuite_env.sim.render = functools.partial(_blank_render, robosuite_env.sim)
        robosuite_env.sim.forward()
        robosuite_env.initialize_time(robosuite_env.control_freq)

    def destroy_sim() -> None:
        # robosuite 1.4 MujocoEnv._destroy_sim / MjSim.free, without the full gc.collect()
        sim = robosuite_env.sim
        if sim is None:
            return
        model = sim.model._model
        vars(sim).pop("render", None)  # a blank render refers back to the sim
        del sim._render_context_offscreen, sim.data, sim.model
        robosuite_env.sim = None
        del sim
        cache.release(model)

    robosuite_env._initialize_sim, robosuite_env._destroy_sim = initialize_sim, destroy_sim
    robosuite_env._h05_model_cache = cache
    return cache

