"""Learning curves of PPO runs (trainers.ppo_dream): greedy return in the real env and in the dream against steps.

    python examples/plot_learning_curves.py runs/ppo-dream runs/ppo-real --png docs/results/ppo_curves.png
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from genie_env.config import run_cli


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="folders written by trainers.ppo_dream (each has curve.json)")
    parser.add_argument("--png", default="ppo_curves.png")
    args = parser.parse_args()

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for run in args.runs:
        record = json.loads((Path(run) / "curve.json").read_text())
        points = [p for p in record["curve"] if "real_return" in p]
        label = f"{Path(run).name} (trained in {record['trained_in']})"
        for ax, key in zip(axes, ("real_return", "dream_mean_return")):
            ax.plot([p["step"] for p in points], [p[key] for p in points], marker="o", label=label)
    for ax, title in zip(axes, ("return in the real env", "return in the dream")):
        ax.set_title(title)
        ax.set_xlabel("training steps")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean greedy return")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    Path(args.png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.png, dpi=120)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    run_cli(main)
