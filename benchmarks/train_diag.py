"""Flow loss and open-loop action error of a checkpoint on a LeRobot dataset (no simulator).

    python benchmarks/train_diag.py CHECKPOINT DATASET [--batches 4] [--batch-size 32]

Prints the flow-matching loss (normalised space; training reaches ~0.002 on its own data),
the same with images blanked (how much the model uses vision), and the mean absolute error
of sampled chunks against the recorded actions per mapped slot, in native units.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from h05.checkpoint import load_checkpoint
from h05.data.lerobot import open_dataset
from h05.data.mixture import MixtureSampler
from h05.modeling.being_h05 import Observation, TrainingTargets
from h05.tokens import PromptBuilder, load_tokenizer


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("checkpoint")
    p.add_argument("dataset")
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args()
    dev = torch.device(a.device)
    model, cfg, meta = load_checkpoint(a.checkpoint, dtype="float32", device=dev)
    md = meta[next(iter(meta))]
    ds = open_dataset(a.dataset)
    ds.load_images(cfg.force_image_size, str(dev))
    s = MixtureSampler([ds], [1.0], md, cfg.action_chunk_length, a.batch_size, 123, dev, {"enabled": False})
    pb = PromptBuilder(load_tokenizer(), cfg.image_tokens_per_camera, cfg.action_chunk_length)
    losses, blank, errs = [], [], []
    st = md.side(ds.embodiment, "action")
    m = torch.from_numpy(ds.action_mask).to(dev)
    with torch.no_grad():
        for i in range(a.batches):
            b = s.batch(i)
            obs = Observation(pb.build(b.instructions, b.pixels.shape[1]).to(dev), b.pixels, b.state)
            tg = TrainingTargets(b.actions, b.action_mask, b.embodiments)
            losses.append(model.training_loss(obs, tg, generator=torch.Generator().manual_seed(i))["flow_loss"].item())
            o2 = Observation(obs.prompt, torch.zeros_like(b.pixels), b.state)
            blank.append(model.training_loss(o2, tg, generator=torch.Generator().manual_seed(i))["flow_loss"].item())
            x = model.sample(obs, generator=torch.Generator().manual_seed(i)).cpu().numpy()
            pred = st.denormalize(x)
            gt = st.denormalize(b.actions.cpu().numpy())
            errs.append(np.abs(pred - gt)[..., ds.action_mask].mean((0, 1)))
    print(f"{a.dataset}: flow loss {np.mean(losses):.4f}, images blanked {np.mean(blank):.4f}")
    print("open-loop |pred - recorded| per mapped action slot (native units):",
          dict(zip(np.flatnonzero(ds.action_mask).tolist(), np.round(np.mean(errs, 0), 4).tolist())))


if __name__ == "__main__":
    main()
