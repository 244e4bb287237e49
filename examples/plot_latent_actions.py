"""t-SNE of the latent action model's embeddings of real transitions, coloured by the true action.

    python examples/plot_latent_actions.py --world PATH --transitions 2000 --png latent_actions.png
    python examples/plot_latent_actions.py --world empty8 runs/empty8-unsup/world --png side_by_side.png

With several worlds (`--world A B ...`) each gets a panel, side by side, over the very same real transitions, so an
unsupervised world (issue 26: no label in training) can be read beside the anchored one.

Transitions are recorded on the fly from MiniGrid-Empty-8x8-v0 under random actions, with episode seeds training
never saw (`--seed`, default 1000: trainers.pipeline's held-out seed); a transition that left the frame unchanged
(bumping a wall, pickup with nothing ahead) is labelled "no-op". Each point is the LAM encoder's continuous output
before quantisation (`lam.encode`), so the plot shows whether the real actions separate before the bottleneck
rounds them to K latents.
"""
from __future__ import annotations

import argparse

import gymnasium as gym
import minigrid  # noqa: F401  (registers the MiniGrid envs)
import numpy as np
import torch

from genie_env.config import run_cli
from genie_env import load_world_model
from genie_env.world import EFFECT_NAMES, NOOP
from genie_env.policies import random_policy
from genie_lab.episodes import record_episode

REAL_ENV = "MiniGrid-Empty-8x8-v0"


def record_windows(count: int, context: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` real transitions as uint8 windows (N, W + 1, 64, 64, 3) and true labels (N,), 7 = no-op.

    A window holds the W frames up to the step, the first frame repeated before the episode starts (as at reset
    in the dream and in `WorldModel.infer_actions`), then the next frame.
    """
    env = gym.make(REAL_ENV)
    windows, labels = [], []
    episode = 0
    while sum(len(l) for l in labels) < count:
        recorded = record_episode(env, random_policy, seed, episode)
        frames, actions = recorded["frames"], recorded["actions"]                # (T + 1, 64, 64, 3), (T,)
        index = np.maximum(np.arange(len(actions))[:, None] + np.arange(-context + 1, 2)[None], 0)   # (T, W + 1)
        windows.append(frames[index])
        unchanged = (frames[1:] == frames[:-1]).all((1, 2, 3))
        labels.append(np.where(unchanged, NOOP, actions))
        episode += 1
    env.close()
    return np.concatenate(windows)[:count], np.concatenate(labels)[:count]


@torch.no_grad()
def embed(world, windows: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """uint8 windows (N, W + 1, 64, 64, 3) -> the LAM's pre-quantisation latents (N, latent_dim)."""
    return np.concatenate([world.lam.encode(world.frames_to_ids(windows[i : i + batch_size])).cpu().numpy()
                           for i in range(0, len(windows), batch_size)])


def plot(panels: list[tuple[np.ndarray, str]], labels: np.ndarray, path: str, title: str) -> None:
    """One panel a world: (t-SNE points (N, 2), panel title), each point coloured by the true action."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5), squeeze=False)
    for ax, (points, name) in zip(axes[0], panels):
        for effect in np.unique(labels):
            chosen = labels == effect
            ax.scatter(*points[chosen].T, s=6, alpha=0.7, color=plt.cm.tab10(effect),
                       label=f"{EFFECT_NAMES[effect]} ({chosen.sum()})")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(markerscale=3, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def describe(world) -> str:
    """How the world's latents were made: anchored by labels or from frames alone (issue 26)."""
    return "anchored by labels" if world.anchored else "frames alone (no label in training)"


def main(argv=None) -> None:
    from sklearn.manifold import TSNE

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", nargs="+", default=[None],
                        help="shipped worlds' names or world folders, a panel each (default: the shipped one)")
    parser.add_argument("--transitions", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--png", default="latent_actions.png")
    args = parser.parse_args(argv)

    worlds = [load_world_model(name, device="auto") for name in args.world]
    context = max(world.context for world in worlds)
    windows, labels = record_windows(args.transitions, context, args.seed)
    panels = []
    for name, world in zip(args.world, worlds):
        latents = embed(world, windows[:, context - world.context :])
        # t-SNE needs perplexity < number of points; 30 is its default for large sets.
        points = TSNE(perplexity=min(30.0, (len(latents) - 1) / 3), init="pca", random_state=args.seed).fit_transform(latents)
        panels.append((points, f"{name or 'shipped world'}: {describe(world)}, K = {world.num_actions}"))
        print(f"{name or 'shipped world'}: {len(labels)} transitions, {latents.shape[1]}-d latents")
    plot(panels, labels, args.png, f"LAM embeddings before quantisation (t-SNE), {len(labels)} real transitions")
    print(f"-> {args.png}")


if __name__ == "__main__":
    run_cli(main)
