"""Training curves (loss, grad norm, lr) of one or more ``h05 train`` runs as a PNG.

    python benchmarks/train_curves.py OUT.png RUN_DIR_OR_HISTORY [LABEL=]... 
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out, runs = Path(argv[0]), argv[1:]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for spec in runs:
        label, _, path = spec.rpartition("=")
        p = Path(path)
        p = p / "history.jsonl" if p.is_dir() else p
        h = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
        steps = [r["step"] for r in h]
        k = max(1, len(h) // 200)
        smooth = [sum(r["loss"] for r in h[max(0, i - k):i + 1]) / len(h[max(0, i - k):i + 1]) for i in range(len(h))]
        axes[0].plot(steps, smooth, label=label or p.parent.name)
        axes[1].plot(steps, [r["grad_norm"] for r in h], lw=0.5)
        axes[2].plot(steps, [r["lr"] for r in h])
    axes[0].set_yscale("log")
    for ax, t in zip(axes, ("flow loss (running mean)", "grad norm", "learning rate")):
        ax.set_title(t)
        ax.set_xlabel("step")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1:])
