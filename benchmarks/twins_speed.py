"""Physics steps/s (no rendering) and render ms per camera for each twin.

    MUJOCO_GL=egl .venv/bin/python benchmarks/twins_speed.py
"""

import time

import mujoco

from envs.twins import make_twin
from envs.twins.embodiments import embodiment_names

for name in embodiment_names():
    env = make_twin("place_on_pad", name, render=True)
    env.reset(options={"init_index": 0})
    n = 5000
    t0 = time.perf_counter()
    mujoco.mj_step(env.model, env.data, nstep=n)
    sps = n / (time.perf_counter() - t0)
    ms = {}
    for cam in env.cameras:
        env._renderer.update_scene(env.data, camera=cam)
        env._renderer.render()
        t0 = time.perf_counter()
        for _ in range(10):
            env._renderer.update_scene(env.data, camera=cam)
            env._renderer.render()
        ms[cam] = (time.perf_counter() - t0) * 100
    print(f"| {name} | {sps:,.0f} | " + ", ".join(f"{c} {v:.1f}" for c, v in ms.items()) + " |", flush=True)
    env.close()
