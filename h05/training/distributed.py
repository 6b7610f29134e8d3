"""Data-parallel wrapping for ``h05 train`` under torchrun: DDP, or FSDP2 (``distributed.strategy``).

FSDP2 (``fully_shard``) shards every MoT decoder layer and then the rest of the model; it
works on CPU meshes over gloo as well as on GPUs over NCCL. Sharded parameters are DTensors,
so the optimizer is built after wrapping, and the state written to ``train_state.pt`` or to a
released checkpoint is first gathered into full tensors (a collective: every rank calls it,
rank 0 receives the tensors on the CPU).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

STRATEGIES = ("ddp", "fsdp")


def check_strategy(strategy: str, trainable: str, world: int) -> str | None:
    """The strategy to wrap with (None in one process); refused when unknown or FSDP with gradient masks."""
    from h05.training.trainer import TrainConfigError

    if strategy not in STRATEGIES:
        raise TrainConfigError(f"distributed.strategy={strategy!r}; known: {', '.join(STRATEGIES)}")
    if world > 1 and strategy == "fsdp" and trainable == "embodiment_slots":
        raise TrainConfigError("train.trainable=embodiment_slots masks gradients of unsharded weights; "
                         "use distributed.strategy=ddp with it")
    return strategy if world > 1 else None


def wrap(runner: nn.Module, model: nn.Module, strategy: str, device: torch.device) -> nn.Module:
    """``runner`` (whose forward calls ``model.training_loss``) made data-parallel per ``strategy``."""
    if strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

        for layer in model.language_model.model.layers:
            fully_shard(layer)
        fully_shard(model)
        # training_loss, not forward, is what runs: it must unshard the root's parameters too.
        register_fsdp_forward_method(model, "training_loss")
        return runner
    return nn.parallel.DistributedDataParallel(runner, device_ids=[device.index] if device.type == "cuda" else None,
                                               find_unused_parameters=True)


def _options():
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True)


def full_state(model: nn.Module, opt: torch.optim.Optimizer, strategy: str | None) -> tuple[dict, dict]:
    """Model and optimizer state as full tensors (FSDP: gathered to rank 0; collective)."""
    if strategy != "fsdp":
        return model.state_dict(), opt.state_dict()
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    return (get_model_state_dict(model, options=_options()),
            get_optimizer_state_dict(model, opt, options=_options()))


def load_optimizer(model: nn.Module, opt: torch.optim.Optimizer, state: dict, strategy: str | None,
                   saved_strategy: str | None) -> None:
    """Restore optimizer state written by :func:`full_state` under the same kind of strategy."""
    from h05.training.trainer import TrainConfigError

    saved_fsdp, now_fsdp = saved_strategy == "fsdp", strategy == "fsdp"
    if saved_fsdp != now_fsdp:
        raise TrainConfigError(f"train_state.pt was written with distributed.strategy={saved_strategy or 'ddp'}; "
                         f"resume with that strategy (now {strategy or 'ddp'})")
    if not now_fsdp:
        opt.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    # strict=False: parameters that never received a gradient (unused outputs) have no Adam state,
    # exactly as in the run that wrote it.
    set_optimizer_state_dict(model, opt, optim_state_dict=state,
                             options=StateDictOptions(full_state_dict=True, strict=False))


def grad_norm_value(gnorm: Any) -> float:
    """``clip_grad_norm_``'s result as a float (a DTensor under FSDP)."""
    return float(gnorm.full_tensor() if hasattr(gnorm, "full_tensor") else gnorm)


def unsharded_copy(model: nn.Module, state: dict) -> nn.Module:
    """A model of ``model``'s class and config holding the gathered ``state`` (CPU; for writing)."""
    with torch.device("meta"):
        copy = type(model)(model.config)
    copy.load_state_dict(state, assign=True, strict=True)
    return copy
