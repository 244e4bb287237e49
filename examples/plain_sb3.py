"""Plain Stable-Baselines3, as a user would write it, trained only in the dream; then measured in the real env.

    python examples/plain_sb3.py --actions latent --steps 50000 --episodes 50 --json runs/plain-sb3-latent.json
    python examples/plain_sb3.py --actions env --steps 50000 --episodes 50 --json runs/plain-sb3-env.json
    python examples/plain_sb3.py --real --steps 50000      # the same settings in the real env (64x64 frames)

Settings are issue 10's: PPO("CnnPolicy", make_vec_env(lambda: gym.make("GenieDream-v0"), n_envs=8),
n_steps=128, batch_size=256, n_epochs=4, learning_rate=2.5e-4, ent_coef=0.01, gamma=0.99). With
`--actions latent` the real env runs the agent's latents through the world's bridge from the current real frame
(`world.latent_to_env_action`); with `--actions env` the agent already speaks MiniGrid's actions.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

from genie_env.config import run_cli


def make_env(args):
    import minigrid  # noqa: F401

    import genie_env  # noqa: F401  (registers GenieDream-v0)
    from genie_env.frames import RealFrames

    if args.real:
        return lambda: RealFrames(gym.make(args.env))
    return lambda: gym.make("GenieDream-v0", world=args.world, actions=args.actions, device="cpu")


def run_real(model, args) -> dict:
    import minigrid  # noqa: F401

    from genie_env import load_world_model
    from genie_env.frames import render_frame

    world = None if args.real or args.actions == "env" else load_world_model(args.world)
    env = gym.make(args.env)
    successes, returns, lengths = [], [], []
    for episode in range(args.episodes):
        env.reset(seed=args.seed + episode)
        total, steps, done = 0.0, 0, False
        while not done:
            frame = render_frame(env)
            action, _ = model.predict(frame, deterministic=True)
            action = int(action)
            if world is not None:
                action = int(world.latent_to_env_action(frame[None], np.array([action]))[0])
            _, reward, terminated, truncated, _ = env.step(action)
            total, steps, done = total + reward, steps + 1, terminated or truncated
        successes.append(total > 0)
        returns.append(total)
        lengths.append(steps)
    return {"real_success_rate": float(np.mean(successes)), "real_mean_return": float(np.mean(returns)),
            "real_mean_length": float(np.mean(lengths)), "real_episodes": args.episodes, "first_seed": args.seed}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default="empty8")
    parser.add_argument("--env", default="MiniGrid-Empty-8x8-v0", help="the real env the agent is measured in")
    parser.add_argument("--actions", choices=("latent", "env"), default="latent")
    parser.add_argument("--real", action="store_true", help="train in the real env instead (the baseline)")
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=100_000, help="first real evaluation seed")
    parser.add_argument("--train-seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    envs = make_vec_env(make_env(args), n_envs=8, seed=args.train_seed)
    model = PPO("CnnPolicy", envs, n_steps=128, batch_size=256, n_epochs=4, learning_rate=2.5e-4, ent_coef=0.01,
                gamma=0.99, seed=args.train_seed, device="cpu", verbose=0)
    start = time.time()
    model.learn(total_timesteps=args.steps)
    result = {"trained_in": "real" if args.real else f"dream ({args.world}, actions={args.actions})",
              "steps": args.steps, "train_seconds": round(time.time() - start, 1), **run_real(model, args)}
    envs.close()
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    run_cli(main)
