"""Twin models: compile, match the facts table, stay finite under random actions."""

import numpy as np
import pytest

from envs.twins import gym_id, make_twin
from envs.twins.embodiments import FACTS_ACTUATED_DOF, embodiment_names, load_embodiment
from envs.unified_space import embodiment, slot_group

EMBODIMENTS = list(embodiment_names())


def test_all_five_twins_exist():
    assert sorted(EMBODIMENTS) == sorted(FACTS_ACTUATED_DOF)


@pytest.mark.parametrize("name", EMBODIMENTS)
def test_actuators_and_joint_limits_match_the_table(name):
    env = make_twin("place_on_pad", name)
    spec = load_embodiment(name)
    assert env.model.nu == FACTS_ACTUATED_DOF[name] == spec.actuated_dof
    chains = list(spec.arms.values()) + [c for c in (spec.head, spec.waist) if c is not None]
    for chain in chains:
        for j in chain.joints:
            jid = env.model.joint(j.name).id
            np.testing.assert_allclose(env.model.jnt_range[jid], np.deg2rad(j.range_deg), atol=1e-5)
            np.testing.assert_allclose(env.model.actuator(j.name).ctrlrange, np.deg2rad(j.range_deg), atol=1e-5)
    for arm in spec.arms.values():
        hand = spec.hands[arm.hand]
        hand_joints = [n for n in (env.model.joint(i).name for i in range(env.model.njnt)) if n.startswith(f"{arm.name}_")
                       and not n.startswith(f"{arm.name}_shoulder") and not n.startswith(f"{arm.name}_elbow") and not n.startswith(f"{arm.name}_wrist")]
        assert len(hand_joints) == hand.joint_count


@pytest.mark.parametrize("name", EMBODIMENTS)
def test_1000_random_actions_stay_finite(name):
    env = make_twin("place_on_pad", name)
    obs, info = env.reset(seed=0, options={"init_index": 0})
    rng = np.random.default_rng(0)
    mask = embodiment(name).mask("action")
    base = info["noop_action"]
    for _ in range(1000):
        a = base.copy()
        a[mask] += rng.uniform(-0.15, 0.15, int(mask.sum())).astype(np.float32)
        for side in env.espec.arms:
            key = f"{side}_gripper" if env.robot.arms[side].hand_kind == "jaw" else f"{side}_hand"
            a[slot_group(key).slice] = rng.uniform(0, 1, slot_group(key).width)
        obs, _, term, trunc, _ = env.step(a)
        assert np.all(np.isfinite(obs["state"])) and np.all(np.isfinite(env.data.qpos))
    assert env.model.opt.timestep * env.substeps == pytest.approx(1.0 / env.espec.control_hz, rel=0.2)


def test_gym_registration_and_observation_contract():
    import gymnasium as gym

    import envs.registration  # noqa: F401  (registers every benchmark's h05/ ids)
    from envs.observation import check_observation

    env = gym.make(gym_id("stack_blocks", "d1"), render=True)
    obs, info = env.reset(seed=1, options={"init_index": 2})
    check_observation(obs)
    assert set(obs["images"]) == {"scene", "head", "right_wrist"}
    for img in obs["images"].values():
        assert img.shape == (224, 224, 3) and img.dtype == np.uint8 and img.std() > 5  # real content, not blank
    assert info["noop_action"].shape == (200,) and info["noop_action"].dtype == np.float32
    assert obs["task"] == "spatial/stack_blocks@d1" and obs["embodiment"] == "d1"
    env.close()
    blind = make_twin("stack_blocks", "d1", render=False)
    assert blind._renderer is None and blind.reset()[0]["images"] == {}


def test_bad_init_index_is_named():
    env = make_twin("place_on_pad", "so101")
    with pytest.raises(ValueError, match="init_index 5000"):
        env.reset(options={"init_index": 5000})
