"""Policy registry: config ``policy.name`` -> a factory taking the other keys."""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Mapping

from evaluators.policy import Policy

# name -> "module:callable"
POLICY_FACTORIES: dict[str, str] = {
    "random": "evaluators.baselines:RandomPolicy",
    "noop": "evaluators.baselines:NoOpPolicy",
    "remote": "evaluators.serving.client:RemotePolicy",
    "h05": "h05.policy:H05Policy",
    "expert_replay": "evaluators.ablate_policies:ExpertReplayPolicy",
}


class PolicyConfigError(ValueError):
    """Unknown policy name or keys its factory does not take."""


def make_policy(cfg: Mapping[str, Any]) -> Policy:
    params = dict(cfg)
    name = params.pop("name", None)
    if name not in POLICY_FACTORIES:
        raise PolicyConfigError(f"unknown policy {name!r}; known: {', '.join(POLICY_FACTORIES)}")
    module, attr = POLICY_FACTORIES[name].split(":")
    factory = importlib.import_module(module)
    for part in attr.split("."):
        factory = getattr(factory, part)
    accepted = inspect.signature(factory).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise PolicyConfigError(
                f"policy {name!r} does not take {unknown}; it takes {sorted(accepted)}"
            )
    return factory(**params)
