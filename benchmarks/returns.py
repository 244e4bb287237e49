"""Dream return against real return for the same MiniGrid action sequence, through the public API.

    python benchmarks/returns.py --world doorkey8 --env MiniGrid-DoorKey-8x8-v0 --episodes 20
    python benchmarks/returns.py --world empty8 --env MiniGrid-Empty-8x8-v0 --episodes 20 --detours 0 15 40 90

Each episode is a real reset on an unseen seed (3,000,000 + i). Its actions: k cancelling turn pairs (left, right)
first, then the planner's path to the goal (`genie_env.policies.expert_action`, which fetches the key and opens
the door where there is one), run in the real env until it ends. The same actions then drive
`gym.make("GenieDream-v0", world=..., actions="env", max_episode_steps=<the real env's limit>)` from the real
first frame (`reset(options={"frame": ...})`). MiniGrid pays 1 - 0.9 t / T, so a world whose reward ignores the
time pays the same after 0 or 90 detours. Reported per k: mean real and dream return, the largest gap, and
whether every episode ended at the same step in both.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from genie_env.config import run_cli


def real_sequence(env, seed: int, detours: int) -> tuple[np.ndarray, list[int], float, int]:
    """(first frame, actions, return, steps) of the real episode: `detours` turn pairs, then the planner."""
    from genie_env.frames import render_frame
    from genie_env.policies import expert_action

    env.reset(seed=seed)
    first, actions, total = render_frame(env), [], 0.0
    while True:
        action = (0 if len(actions) % 2 == 0 else 1) if len(actions) < 2 * detours else expert_action(env)
        _, reward, terminated, truncated, _ = env.step(action)
        actions.append(int(action))
        total += float(reward)
        if terminated or truncated:
            return first, actions, total, len(actions)


def dream_sequence(dream, first: np.ndarray, actions: list[int]) -> tuple[float, int]:
    """(return, steps) of the dream driven by `actions` from `first`, stopped where it ends."""
    dream.reset(seed=0, options={"frame": first})
    total = 0.0
    for t, action in enumerate(actions):
        _, reward, terminated, truncated, _ = dream.step(action)
        total += float(reward)
        if terminated or truncated:
            return total, t + 1
    return total, len(actions)


def main(argv=None) -> None:
    import gymnasium as gym
    import minigrid  # noqa: F401

    import genie_env  # noqa: F401  (registers GenieDream-v0)
    from genie_env.dataset import time_limit

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default="doorkey8")
    parser.add_argument("--env", default="MiniGrid-DoorKey-8x8-v0")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--detours", type=int, nargs="+", default=[0, 15, 40, 90])
    parser.add_argument("--seed", type=int, default=3_000_000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.episodes < 1 or min(args.detours) < 0:
        parser.error("--episodes must be >= 1 and --detours >= 0")
    limit = time_limit(args.env)
    real = gym.make(args.env)
    dream = gym.make("GenieDream-v0", world=args.world, actions="env", max_episode_steps=limit)
    results = {"world": args.world, "env": args.env, "episodes": args.episodes, "first_seed": args.seed, "by_detours": {}}
    for k in args.detours:
        rows = []
        for i in range(args.episodes):
            first, actions, real_return, real_steps = real_sequence(real, args.seed + i, k)
            dream_return, dream_steps = dream_sequence(dream, first, actions)
            rows.append((real_return, dream_return, real_steps, dream_steps))
        rows = np.array(rows)
        entry = {"real_return": float(rows[:, 0].mean()), "dream_return": float(rows[:, 1].mean()),
                 "max_gap": float(np.abs(rows[:, 0] - rows[:, 1]).max()),
                 "same_end_step": float((rows[:, 2] == rows[:, 3]).mean()), "mean_steps": float(rows[:, 2].mean())}
        results["by_detours"][str(k)] = entry
        print(f"{k:3d} detours: real {entry['real_return']:.3f}, dream {entry['dream_return']:.3f}, largest gap "
              f"{entry['max_gap']:.3f}, same end step {100 * entry['same_end_step']:.0f} % "
              f"(mean {entry['mean_steps']:.1f} steps)", flush=True)
    results["max_gap"] = max(v["max_gap"] for v in results["by_detours"].values())
    results["same_end_step"] = min(v["same_end_step"] for v in results["by_detours"].values())
    if args.json:
        from genie_env.io import atomic_write_json

        atomic_write_json(args.json, results)
    else:
        print(json.dumps({k: results[k] for k in ("max_gap", "same_end_step")}))


if __name__ == "__main__":
    run_cli(main)
