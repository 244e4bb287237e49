"""Train a PPO agent only inside the dream, then let it play the real MiniGrid through the action bridge.

    python examples/train_agent_in_dream.py --steps 150000 --out runs/example-agent   # about 4 min on 2 cores

The agent never sees the real env while it learns: it acts in the world's latent actions, in GenieDream-v0's
batched vector env. In the real env each latent it picks is turned into the env action with the same effect by
the world's bridge. The full command with every option is `python -m trainers.ppo_dream`; learning curves of
several runs are drawn by `examples/plot_learning_curves.py`.
"""
from __future__ import annotations

import argparse

from genie_env.config import run_cli
from genie_env.agent import Agent
from genie_env.world import load_world_model
from genie_lab.agents import run_real_episodes
from trainers.ppo_dream import PPOConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default="empty8")
    parser.add_argument("--steps", type=int, default=150_000)
    parser.add_argument("--out", default="runs/example-agent")
    parser.add_argument("--episodes", type=int, default=20, help="real episodes to play at the end")
    args = parser.parse_args()

    info = train(PPOConfig(world=args.world, steps=args.steps, out=args.out, eval_every=0))
    print(f"trained {info['timesteps']} steps in the dream in {info['train_seconds']:.0f} s")

    agent, world = Agent(args.out), load_world_model(args.world)
    real = run_real_episodes(agent.act, world, "MiniGrid-Empty-8x8-v0", args.episodes, seed=100_000)
    print(f"real MiniGrid-Empty-8x8-v0: success {real['success_rate']:.0%}, mean return {real['mean_return']:.3f}, "
          f"mean length {real['mean_length']:.1f} over {args.episodes} episodes")


if __name__ == "__main__":
    run_cli(main)
