"""Simulated twins of the five Being-H0.5 real embodiments: models, tasks, experts."""


def make_twin(task: str, embodiment: str, render: bool = False, max_steps: int | None = None):
    """Gymnasium entry point: the env of ``task`` on ``embodiment``."""
    from envs.twins.benchmark import find_pair
    from envs.twins.env import TwinEnv

    return TwinEnv(find_pair(task, embodiment), render=render, max_steps=max_steps)


def gym_id(task: str, embodiment: str) -> str:
    """The gymnasium id of a pair (registered by ``import envs.registration``), e.g. ``h05/spatial.stack_blocks-d1-v0``."""
    from envs.registration import env_id
    from envs.twins.tasks import twin_task

    return env_id(twin_task(task).suite, f"{task}@{embodiment}")
