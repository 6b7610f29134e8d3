"""Simulated twins of the five Being-H0.5 real embodiments: models, tasks, experts."""


def make_twin(task: str, embodiment: str, render: bool = False, max_steps: int | None = None):
    """Gymnasium entry point: the env of ``task`` on ``embodiment``."""
    from envs.twins.benchmark import find_pair
    from envs.twins.env import TwinEnv

    return TwinEnv(find_pair(task, embodiment), render=render, max_steps=max_steps)


def gym_id(task: str, embodiment: str) -> str:
    return f"h05/Twins-{task}-{embodiment}-v0"


def register_gym_envs() -> list[str]:
    """Register every feasible pair as ``h05/Twins-<task>-<embodiment>-v0``; return the ids."""
    import gymnasium as gym

    from envs.twins.embodiments import embodiment_names, load_embodiment
    from envs.twins.tasks import TASKS

    ids = []
    for t in TASKS:
        for e in embodiment_names():
            if t.feasible(load_embodiment(e)):
                env_id = gym_id(t.name, e)
                if env_id not in gym.registry:
                    gym.register(id=env_id, entry_point="envs.twins:make_twin", kwargs={"task": t.name, "embodiment": e},
                                 disable_env_checker=True)  # render=False has an empty images dict, as LIBERO
                ids.append(env_id)
    return ids


register_gym_envs()
