"""Is the dream as easy to win by chance as the game? Uniform random play, dream against real, through the public API.

    python benchmarks/random_play.py --world doorkey8 --env MiniGrid-DoorKey-8x8-v0 --episodes 600
    python benchmarks/random_play.py --world runs/candidate --env MiniGrid-DoorKey-8x8-v0 --json random_play.json

Real: `--episodes` episodes of MiniGrid's seven actions drawn uniformly, reset seeds 4,000,000 + i, each run to the
env's own end or limit (`genie_lab.agents.run_real_episodes`). Dream: `--envs` worlds of GenieDream-v0 stepped
together from the world's start bank with `max_episode_steps` the same limit, the same uniform env actions mapped
to latents by the world (`run_dream_episodes`, as an agent's dream return is measured), until as many episodes
have ended.
Reported for each: the share of episodes that reached the goal (with a 95 % Wilson interval), the mean return and
the mean length. A per-state figure cannot show this: a dream that is right on 99.9 % of steps can still be much
harder to win under long play, if what it gets wrong lies on the way to the goal (the key lost, the door that will
not open). With a sparse reward, that decides whether an agent trained in it ever finds the goal
(docs/RESULTS.md, issue 20, session 5: PPO in a candidate world saw no reward in 1.5M steps).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from genie_env.config import run_cli

NUM_ACTIONS = 7


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a success share."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre, half = p + z * z / (2 * n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, float((centre - half) / (1 + z * z / n))), min(1.0, float((centre + half) / (1 + z * z / n)))


def summary(successes: int, episodes: int, mean_return: float, mean_length: float) -> dict:
    low, high = wilson(successes, episodes)
    return {"episodes": episodes, "successes": successes, "success": successes / episodes, "success_95": [low, high],
            "mean_return": mean_return, "mean_length": mean_length}


def uniform(seed: int):
    """A policy of MiniGrid's seven actions drawn uniformly, as genie_lab.agents drives one: frames -> actions."""
    rng = np.random.default_rng(seed)
    return lambda frames: rng.integers(NUM_ACTIONS, size=len(frames))


def real_play(env_id: str, episodes: int, seed: int) -> dict:
    from genie_lab.agents import run_real_episodes

    r = run_real_episodes(uniform(seed), None, env_id, episodes, seed)
    return summary(int(sum(r["successes"])), episodes, r["mean_return"], r["mean_length"])


def dream_play(world: str, limit: int, episodes: int, envs: int, seed: int) -> dict:
    from genie_lab.agents import run_dream_episodes

    r = run_dream_episodes(uniform(seed), world, episodes, seed, num_envs=envs, env_actions=True, max_episode_steps=limit)
    return summary(int(round(r["dream_success_rate"] * episodes)), episodes, r["dream_mean_return"],
                   r["dream_mean_length"])


def main(argv=None) -> None:
    from genie_env.dataset import time_limit

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default="doorkey8")
    parser.add_argument("--env", default="MiniGrid-DoorKey-8x8-v0")
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--envs", type=int, default=64, help="dream worlds stepped together")
    parser.add_argument("--seed", type=int, default=4_000_000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.episodes < 1 or args.envs < 1:
        parser.error("--episodes and --envs must be >= 1")
    limit = time_limit(args.env)
    start = time.time()
    real = real_play(args.env, args.episodes, args.seed)
    real["seconds"] = round(time.time() - start, 1)
    start = time.time()
    dream = dream_play(args.world, limit, args.episodes, args.envs, args.seed)
    dream["seconds"] = round(time.time() - start, 1)
    result = {"world": args.world, "env": args.env, "limit": limit, "first_seed": args.seed, "real": real,
              "dream": dream, "success_ratio": dream["success"] / real["success"] if real["success"] else None}
    for name, r in (("real", real), ("dream", dream)):
        print(f"{name:5}: {r['successes']} of {r['episodes']} reached the goal ({100 * r['success']:.1f} %, 95 % "
              f"{100 * r['success_95'][0]:.1f}-{100 * r['success_95'][1]:.1f} %), mean return {r['mean_return']:.4f}, "
              f"mean length {r['mean_length']:.0f} ({r['seconds']} s)", flush=True)
    if args.json:
        from genie_env.io import atomic_write_json

        atomic_write_json(args.json, result)
    else:
        print(json.dumps({k: result[k] for k in ("success_ratio",)}))


if __name__ == "__main__":
    run_cli(main)
