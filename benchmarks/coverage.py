"""How much of a MiniGrid env's state space a recorder covers: distinct states per real env step, and situations.

    python benchmarks/coverage.py --env MiniGrid-DoorKey-8x8-v0 --steps 30000
    python benchmarks/coverage.py --env MiniGrid-LavaGapS7-v0 MiniGrid-SimpleCrossingS9N1-v0 MiniGrid-KeyCorridorS3R1-v0 MiniGrid-Unlock-v0 --steps 20000

For each env, the recording mixture (`genie_env.policies`, episodes of at most --max-steps steps, a new layout
each episode, as `trainers.pipeline` records them) and the Go-Explore recorder (`genie_lab.explore`, --legs legs of
--leg-steps steps a layout, as `trainers.record --policy explore-archive`; with --patience, a layout is left once
that many legs in a row found nothing new) each spend about --steps env steps.
Reported per recorder: distinct states (`genie_lab.explore.state_key`, per layout), distinct (state, action) pairs
tried, both per env step, the explorer's replay-equivalent steps (what returning by replaying prefixes instead of
snapshots would cost), and how many distinct states fall in each situation (`genie_lab.situations`). Seeds
5,000,000+ (no recording uses them).
"""
from __future__ import annotations

import argparse
import json
from collections import Counter

import numpy as np

from genie_env.config import run_cli


def mixture_coverage(env_id: str, steps: int, max_steps: int, seed: int) -> dict:
    import gymnasium as gym

    from genie_env.policies import make_policy
    from genie_lab.explore import state_key
    from genie_lab.situations import Situation

    env = gym.make(env_id, **({"max_steps": max_steps} if max_steps else {}))
    states, pairs, situations, taken, episode = set(), set(), Counter(), 0, 0
    while taken < steps:
        rng = np.random.default_rng([seed, episode])
        env.reset(seed=seed + episode)
        situation, policy, previous = Situation(env), make_policy("mixture", rng), None
        key = (episode, state_key(env))
        states.add(key)
        situations[situation.of(env)] += 1
        while taken < steps:
            previous = policy(env, rng, previous)
            pairs.add((key, previous))
            _, _, terminated, truncated, _ = env.step(previous)
            taken += 1
            key = (episode, state_key(env))
            if key not in states:
                states.add(key)
                situations[situation.of(env)] += 1
            if terminated or truncated:
                break
        episode += 1
    return {"env_steps": taken, "layouts": episode, "states": len(states), "pairs": len(pairs),
            "states_per_step": len(states) / taken, "pairs_per_step": len(pairs) / taken,
            "situations": dict(sorted(situations.items()))}


def explorer_coverage(env_id: str, steps: int, max_steps: int, seed: int, legs: int, leg_steps: int,
                      patience: int = 0) -> dict:
    import gymnasium as gym

    from genie_lab.explore import explore_layout, restore
    from genie_lab.situations import Situation

    env = gym.make(env_id, **({"max_steps": max_steps} if max_steps else {}))
    totals, situations, pairs, layout = Counter(), Counter(), 0, 0
    while totals["env_steps"] < steps:
        archive, counts = explore_layout(env, seed + layout, np.random.default_rng([seed, layout]), legs, leg_steps,
                                         patience=patience)
        totals.update(counts)
        pairs += sum(len(tried) for tried in archive.tried.values())
        env.reset(seed=seed + layout)
        situation = Situation(env)
        for prefix in archive.prefixes.values():
            restore(env, seed + layout, prefix)
            situations[situation.of(env)] += 1
        layout += 1
    taken = totals["env_steps"]
    return {"env_steps": taken, "replay_equivalent_steps": totals["replay_equivalent_steps"], "layouts": layout,
            "states": totals["states"], "pairs": pairs, "states_per_step": totals["states"] / taken,
            "pairs_per_step": pairs / taken, "cells": totals["cells"], "situations": dict(sorted(situations.items()))}


def main(argv=None) -> None:
    import minigrid  # noqa: F401  (registers the MiniGrid envs)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", nargs="+", default=["MiniGrid-DoorKey-8x8-v0"])
    parser.add_argument("--steps", type=int, default=30000, help="env steps each recorder spends")
    parser.add_argument("--max-steps", type=int, default=200, help="episode cut, as the DoorKey pipeline records")
    parser.add_argument("--legs", type=int, default=30)
    parser.add_argument("--leg-steps", type=int, default=20)
    parser.add_argument("--patience", type=int, default=0,
                        help="leave a layout after this many legs in a row found no new state (0: never)")
    parser.add_argument("--seed", type=int, default=5_000_000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.legs < 1 or args.leg_steps < 1 or args.max_steps < 0:
        parser.error("--steps, --legs and --leg-steps must be >= 1 and --max-steps >= 0")
    results = {}
    for env_id in args.env:
        mixture = mixture_coverage(env_id, args.steps, args.max_steps, args.seed)
        explorer = explorer_coverage(env_id, args.steps, args.max_steps, args.seed, args.legs, args.leg_steps,
                                     args.patience)
        results[env_id] = {"mixture": mixture, "explorer": explorer,
                           "states_per_step_ratio": explorer["states_per_step"] / mixture["states_per_step"],
                           "pairs_per_step_ratio": explorer["pairs_per_step"] / mixture["pairs_per_step"]}
        print(f"{env_id}: distinct states per env step, mixture {mixture['states_per_step']:.3f} "
              f"({mixture['states']} in {mixture['env_steps']}), explorer {explorer['states_per_step']:.3f} "
              f"({explorer['states']} in {explorer['env_steps']}; by replay {explorer['replay_equivalent_steps']} steps): "
              f"{results[env_id]['states_per_step_ratio']:.2f}x; (state, action) pairs "
              f"{results[env_id]['pairs_per_step_ratio']:.2f}x", flush=True)
        for name in sorted(set(mixture["situations"]) | set(explorer["situations"])):
            print(f"    {mixture['situations'].get(name, 0):7d} {explorer['situations'].get(name, 0):7d}  {name}")
    if args.json:
        from genie_env.io import atomic_write_json

        atomic_write_json(args.json, results)
    else:
        print(json.dumps({k: {"ratio": v["states_per_step_ratio"]} for k, v in results.items()}))


if __name__ == "__main__":
    run_cli(main)
