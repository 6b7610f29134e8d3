"""torch.compile scopes for training a ``BeingH05``: per layer, or the ViT and MoT stacks whole."""

from __future__ import annotations

from torch import nn

COMPILE_SCOPES = ("none", "layers", "model")


def compile_model(model: nn.Module, scope: str, mode: str = "default", dynamic: bool | None = False
                  ) -> list[nn.Module]:
    """Compile parts of ``model`` in place; returns them. ``dynamic=False``: one graph per input shape
    (fixed-shape benchmarks); None: torch's automatic dynamic shapes (prompt widths that vary in training).

    ``layers``: each ViT encoder layer and each MoT decoder layer (all layers of a stack share one
    graph: parameters are graph inputs); ``model``: the whole ViT and the whole MoT stack (one graph
    each, longer to compile). Embedding, heads and loss stay eager.
    """
    import torch._dynamo as dynamo

    if scope not in COMPILE_SCOPES:
        raise ValueError(f"compile scope {scope!r}; known: {', '.join(COMPILE_SCOPES)}")
    dynamo.config.cache_size_limit = max(64, dynamo.config.cache_size_limit)
    if scope == "layers":
        mods = list(model.vit_model.encoder.layer) + list(model.language_model.model.layers)
    elif scope == "model":
        mods = [model.vit_model, model.language_model.model]
    else:
        mods = []
    for mod in mods:
        mod.compile(dynamic=dynamic, mode=mode)
    return mods
