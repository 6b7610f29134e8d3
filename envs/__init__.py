"""Simulation environments (no torch): LIBERO, RoboCasa, the embodiment twins.

MuJoCo picks its GL backend when it is first imported, so headless EGL is
chosen here, before any simulator module loads (a user's MUJOCO_GL wins).
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
