"""Test helper: put LIBERO objects into their goal configuration by editing the sim state."""

from __future__ import annotations

import numpy as np


def teleport_on(env, obj: str, target: str, height: float = 0.06) -> None:
    """Place ``obj`` (a free-jointed LIBERO object) just above ``target`` and zero its velocity."""
    sim = env.sim
    le = env.libero_env
    joint = le.objects_dict[obj].joints[0]
    if target in le.objects_dict:
        pos = np.array(sim.data.body_xpos[sim.model.body_name2id(le.objects_dict[target].root_body)])
    else:  # a region: a site on an object or fixture
        pos = np.array(sim.data.site_xpos[sim.model.site_name2id(target)])
    qpos_addr = sim.model.get_joint_qpos_addr(joint)
    qvel_addr = sim.model.get_joint_qvel_addr(joint)
    qpos = sim.data.qpos.copy()
    qpos[qpos_addr[0] : qpos_addr[0] + 3] = pos + np.array([0.0, 0.0, height])
    qpos[qpos_addr[0] + 3 : qpos_addr[0] + 7] = [1.0, 0.0, 0.0, 0.0]
    sim.data.qpos[:] = qpos
    sim.data.qvel[qvel_addr[0] : qvel_addr[1]] = 0.0
    sim.forward()


def goal_pairs(env) -> list[tuple[str, str, str]]:
    """The task's goal predicates as (predicate, obj, target) from its BDDL file."""
    return [tuple(g) for g in env.libero_env.parsed_problem["goal_state"] if len(g) == 3]
