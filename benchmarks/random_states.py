"""Every action from random valid DoorKey states set by hand, not a policy's and not an explorer's: every door state
(locked, closed, open) crossed with every key place (lying where it started, carried, dropped anywhere the agent
can reach), the agent anywhere it can be (either room, the doorway).

    python benchmarks/random_states.py --world doorkey8 --states 900
    python benchmarks/random_states.py --world PATH --env MiniGrid-DoorKey-8x8-v0 --states 900 --json out.json

State i is a real reset on an unseen seed (6,000,000 + i), then set by hand to a state play can reach: the door
locked, closed or open (i % 3), the key lying, carried or dropped (i // 3 % 3). With the door locked only the key's
room is reachable (for the agent and a dropped key); once unlocked, both rooms are, and the doorway when it is
open. From each, all seven actions are tried on copies of the real env against the dream from the same real frame
through the documented calls (`genie_lab.states.dream_every_action`); results are split by situation
(`genie_lab.situations`) and the wrong ones named by what is ahead.
"""
from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from genie_env.config import run_cli

DOORS = ("locked", "closed", "open")
KEYS = ("lying", "carried", "dropped")


def place(env, index: int, rng) -> str:
    """Set a freshly reset DoorKey env to a random state play can reach; returns "door D, key K"."""
    u = env.unwrapped
    cells = [(x, y) for x in range(u.width) for y in range(u.height)]
    find = lambda kind: next(c for c in cells if u.grid.get(*c) is not None and u.grid.get(*c).type == kind)  # noqa: E731
    door_at, key_at = find("door"), find("key")
    door, key = DOORS[index % 3], KEYS[index // 3 % 3]
    u.grid.get(*door_at).is_locked, u.grid.get(*door_at).is_open = door == "locked", door == "open"
    agent = tuple(int(v) for v in u.agent_pos)
    reachable = lambda c: u.grid.get(*c) is None and (door != "locked" or c[0] < door_at[0])  # noqa: E731
    if key != "lying":
        key_object = u.grid.get(*key_at)
        u.grid.set(*key_at, None)
        if key == "carried":
            u.carrying = key_object
        else:
            spots = [c for c in cells if reachable(c) and c != agent]
            u.grid.set(*spots[int(rng.integers(len(spots)))], key_object)
    free = [c for c in cells if (reachable(c) or (door == "open" and c == door_at)) and c != agent]
    u.agent_pos = np.array(free[int(rng.integers(len(free)))])
    u.agent_dir = int(rng.integers(4))
    return f"door {door}, key {key}"


def main(argv=None) -> None:
    import gymnasium as gym
    import minigrid  # noqa: F401

    from genie_env import load_world_model
    from genie_env.bridge import ENV_ACTION_NAMES
    from genie_lab.situations import Situation, ahead
    from genie_lab.states import dream_every_action

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default="doorkey8")
    parser.add_argument("--env", default="MiniGrid-DoorKey-8x8-v0")
    parser.add_argument("--states", type=int, default=900)
    parser.add_argument("--seed", type=int, default=6_000_000, help="first reset seed (training never used these)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if "DoorKey" not in args.env or args.states < 1:
        parser.error("--env must be a MiniGrid DoorKey env and --states >= 1")
    world = load_world_model(args.world, device="cpu")
    env, rng = gym.make(args.env), np.random.default_rng(0)
    right, tried, wrong = Counter(), Counter(), Counter()
    for i in range(args.states):
        env.reset(seed=args.seed + i)
        situation = Situation(env)
        place(env, i, rng)
        name = situation.of(env)
        ok = dream_every_action(world, [env])[0]
        tried[name] += 1
        right[name] += bool(ok.all())
        for a in np.flatnonzero(~ok):
            tried[name, ENV_ACTION_NAMES[a]] += 1
            wrong[f"{ENV_ACTION_NAMES[a]}: {ahead(env)}, {name}"] += 1
    names = sorted(k for k in tried if isinstance(k, str))
    result = {"world": args.world, "env": args.env, "states": args.states, "first_seed": args.seed,
              "all_right": sum(right[n] for n in names) / args.states,
              "situations": {n: {"states": tried[n], "all_right": right[n] / tried[n]} for n in names}}
    result["situation_min"] = min(v["all_right"] for v in result["situations"].values())
    print(f"all seven actions right from {100 * result['all_right']:.2f} % of {args.states} states "
          f"(worst situation {100 * result['situation_min']:.1f} %)")
    for n in names:
        print(f"  {100 * right[n] / tried[n]:6.1f} %  of {tried[n]:4d}  {n}")
    result["wrong_where"] = dict(wrong.most_common(12))
    for where, count in wrong.most_common(12):
        print(f"  {count:4d}  {where}")
    if args.json:
        from genie_env.io import atomic_write_json

        atomic_write_json(args.json, result)


if __name__ == "__main__":
    run_cli(main)
