"""Every action from random valid DoorKey states, not a policy's: the states an agent or a person reaches that the
recording policies rarely did (the door open, the agent anywhere, the key carried or left lying).

    python benchmarks/random_states.py --world doorkey8 --states 600
    python benchmarks/random_states.py --world PATH --env MiniGrid-DoorKey-8x8-v0 --states 600 --json out.json

Each state is a real reset on an unseen seed (6,000,000 + i), then set by hand to a state play can reach: even i,
the door still locked and the agent anywhere in the key's room; odd i, the door open and the agent anywhere, the
doorway included. Either way the key is carried or left where it lay, equally likely. From each, all seven
actions are tried on copies of the real env against the dream from the same real frame through the documented
calls (`trainers.evaluate.dream_every_action`); the wrong ones are named by what is ahead and what is carried.
"""
from __future__ import annotations

import argparse
from collections import Counter

import numpy as np


def place(env, index: int, rng) -> str:
    """Set a freshly reset DoorKey env to a random state play can reach; returns its phase."""
    u = env.unwrapped
    cells = [(x, y) for x in range(u.width) for y in range(u.height)]
    find = lambda kind: next(c for c in cells if u.grid.get(*c) is not None and u.grid.get(*c).type == kind)  # noqa: E731
    door, key = find("door"), find("key")
    opened = index % 2 == 1
    if opened:
        u.grid.get(*door).is_locked, u.grid.get(*door).is_open = False, True
    if rng.random() < 0.5:
        u.carrying = u.grid.get(*key)
        u.grid.set(*key, None)
    # locked: only the key's room (left of the door's wall) is reachable; open: every free cell and the doorway
    free = [c for c in cells if (u.grid.get(*c) is None or (opened and c == door)) and (opened or c[0] < door[0])
            and c != tuple(int(v) for v in u.agent_pos)]
    u.agent_pos = np.array(free[int(rng.integers(len(free)))])
    u.agent_dir = int(rng.integers(4))
    return "door open" if opened else "door locked"


def main(argv=None) -> None:
    import gymnasium as gym
    import minigrid  # noqa: F401

    from genie_env import load_world_model
    from genie_env.bridge import ENV_ACTION_NAMES
    from trainers.evaluate import dream_every_action, situation

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default="doorkey8")
    parser.add_argument("--env", default="MiniGrid-DoorKey-8x8-v0")
    parser.add_argument("--states", type=int, default=600)
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
        phase = place(env, i, rng)
        ok = dream_every_action(world, [env])[0]
        for a, name in enumerate(ENV_ACTION_NAMES):
            tried[phase, name] += 1
            right[phase, name] += bool(ok[a])
            if not ok[a]:
                wrong[f"{name}: {situation(env)}, {phase}"] += 1
    result = {"world": args.world, "env": args.env, "states": args.states, "first_seed": args.seed, "phases": {}}
    for phase in ("door locked", "door open"):
        states = tried[phase, ENV_ACTION_NAMES[0]]   # every action is tried once per state
        if not states:
            continue
        per = {name: right[phase, name] / states for name in ENV_ACTION_NAMES}
        share = float(np.mean(list(per.values())))
        result["phases"][phase] = {"states": states, "right": share, "right_per_action": per}
        print(f"{phase}: {states} states, all seven actions right {100 * share:.2f} %; "
              + ", ".join(f"{k} {100 * v:.1f} %" for k, v in per.items() if v < 1))
    result["wrong_where"] = dict(wrong.most_common(12))
    for where, count in wrong.most_common(12):
        print(f"  {count:4d}  {where}")
    if args.json:
        from genie_env.io import atomic_write_json

        atomic_write_json(args.json, result)


if __name__ == "__main__":
    main()
