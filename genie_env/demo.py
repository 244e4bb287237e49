"""Dream a short MiniGrid episode, save it as a GIF and measure the env's speed: GenieDream's quick start.

    python -m genie_env.demo                                  # the shipped world -> dream.gif
    python -m genie_env.demo --world PATH --steps 100 --gif out.gif

The agent walks at random: real actions (left, right, forward) are mapped to latent actions in the current frame
through the world's action bridge, so it turns and travels rather than idling on latents that do nothing. A world
without a bridge gets random latent actions. Each GIF frame is captioned with the latent and what it did.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

from genie_env.config import Parser, check_args, fail, run_cli
from genie_env.frames import save_gif  # importing genie_env (this package) registers GenieDream-v0

WALK = (0, 1, 2, 2)   # env actions left, right, forward, forward: forward twice as often so the agent gets around


def choose_latent(world, frame: np.ndarray, rng: np.random.Generator) -> int:
    """A latent action for a random walk: a random real action through the bridge, else a random latent."""
    if world.bridge is None:
        return int(rng.integers(world.num_actions))
    return int(world.env_to_latent_action(frame[None], [rng.choice(WALK)])[0])


def rollout(env, steps: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """Reset with `seed` and take `steps` steps; return the steps + 1 frames and their captions.

    An episode that ends restarts from a new start frame; its last frame is shown, captioned with the end.
    """
    rng = np.random.default_rng(seed)
    world = env.unwrapped.world
    obs, _ = env.reset(seed=seed)
    frames, captions = [obs], ["start (a real frame)"]
    for t in range(1, steps + 1):
        latent = choose_latent(world, obs, rng)
        obs, reward, terminated, truncated, info = env.step(latent)
        frames.append(obs)
        captions.append(f"{t}: latent {latent} = {info['meaning']}" + (f", end r={reward:.2f}" if terminated or truncated else ""))
        if terminated or truncated:
            obs, _ = env.reset()
    return frames, captions


def steps_per_second(env, steps: int, seed: int) -> float:
    """Env steps per second over `steps` random latent actions: the speed an agent trained in the dream sees."""
    env.reset(seed=seed)
    env.action_space.seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default=None, help="a shipped world's name or a world folder (default: the shipped one)")
    parser.add_argument("--device", default="auto", help="'auto' (CUDA when present), 'cpu' or 'cuda'")
    parser.add_argument("--steps", type=int, default=50, help="steps in the GIF")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gif", default="dream.gif")
    parser.add_argument("--bench-steps", type=int, default=200, help="random steps timed for the throughput")
    args = parser.parse_args(argv)
    check_args(parser, args)
    if Path(args.gif).suffix.lower() != ".gif":
        parser.error(f"argument --gif: must name a .gif file, got {args.gif!r}")
    try:
        env = gym.make("GenieDream-v0", world=args.world, device=args.device)
    except (ValueError, FileNotFoundError) as e:   # no such world, a device this machine lacks
        fail(f"{e}")
    frames, captions = rollout(env, args.steps, args.seed)
    save_gif(args.gif, frames, captions, fps=env.metadata["render_fps"])
    speed = steps_per_second(env, args.bench_steps, args.seed)
    env.close()
    print(f"dreamed {args.steps} steps: {len(frames)} frames -> {Path(args.gif).resolve()}")
    print(f"throughput: {speed:.0f} steps/s (one env on {env.unwrapped.world.device}, {args.bench_steps} random steps)")


if __name__ == "__main__":
    run_cli(main)
