"""Where does a dream first go wrong, and why? A diagnosis, not a score (the score is `trainers.evaluate world`).

    python benchmarks/first_wrong.py --world doorkey8 --policy uniform --episodes 40
    python benchmarks/first_wrong.py --world PATH --env MiniGrid-DoorKey-8x8-v0 --policy wander --no-guard

Drives the real env with `--policy` (genie_env.policies) on unseen seeds and the dream in lockstep through the
documented frame-only calls, as `trainers.evaluate world` does. At the first step of an episode whose dreamed
ids differ from the real frame's, it asks every latent what it would have dreamed from the real frame before
that step and names the failure:
- "latent": some latent dreams the real next frame, but the bridge chose another (or the chosen one's change was
  made up where the real env does nothing: pickup with nothing ahead dreamed a key vanishing elsewhere);
- "dynamics": no latent dreams the real next frame (the model does not know this rule here).
Each failure is listed with the env action taken, the real change's effect class (the bridge's reading), and the
number of tiles the dream got wrong. `--no-guard` dreams without the world's change guard.
"""
from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from genie_env.config import run_cli


def first_wrong(world, env_id: str, policy: str, episodes: int, seed: int, horizon: int = 50) -> tuple[Counter, list]:
    import gymnasium as gym
    import minigrid  # noqa: F401

    from genie_env.bridge import EFFECT_NAMES, ENV_ACTION_NAMES, NOOP
    from genie_env.frames import render_frame
    from genie_env.policies import make_policy

    counts, failures = Counter(), []
    tiles = world.dynamics.to_tiles
    for episode in range(episodes):
        env = gym.make(env_id)
        env.reset(seed=seed + episode)
        rng = np.random.default_rng([seed, episode])
        act, previous = make_policy(policy, rng), None
        real = render_frame(env)
        dreamed = real.copy()
        outcome = "right through step %d" % horizon
        for t in range(horizon):
            action = int(act(env, rng, previous))
            previous = action
            latent = world.env_to_latent_action(dreamed[None], np.array([action]))
            nxt = world.dream(dreamed[None, None], latent[:, None])[0, 0]
            before = real
            _, _, terminated, truncated, _ = env.step(action)
            real = render_frame(env)
            ids_before, ids_real = world.frames_to_ids(before[None]), world.frames_to_ids(real[None])
            ids_dreamed = world.frames_to_ids(nxt[None])
            if not bool((ids_dreamed == ids_real).all()):
                changed = bool((ids_before != ids_real).any())
                effect = int(world.bridge.classify(world.signature(ids_before, ids_real))[0]) if changed else NOOP
                able = [k for k in range(world.num_actions)
                        if bool((world.frames_to_ids(world.dream(before[None, None], np.array([[k]]))[0, 0][None])
                                 == ids_real).all())]
                kind = "latent" if able else "dynamics"
                outcome = (kind, ENV_ACTION_NAMES[action], EFFECT_NAMES[effect])
                failures.append({"episode": episode, "step": t, "kind": kind, "action": ENV_ACTION_NAMES[action],
                                 "real_effect": EFFECT_NAMES[effect], "latent": int(latent[0]), "latents_able": able,
                                 "tiles_wrong": int((tiles(ids_dreamed) != tiles(ids_real)).sum())})
                break
            dreamed = nxt
            if terminated or truncated:
                outcome = "ended before step %d, right" % horizon
                break
        counts[outcome] += 1
        env.close()
    return counts, failures


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default="empty8")
    parser.add_argument("--env", default=None, help="default: the env the world was trained on")
    parser.add_argument("--policy", default="uniform")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7_000_000)
    parser.add_argument("--horizon", type=int, default=50)
    parser.add_argument("--no-guard", action="store_true")
    args = parser.parse_args(argv)

    from genie_env.world import load_world_model

    world = load_world_model(args.world)
    if args.no_guard:
        world.guard = None
    env_id = args.env or world.info.get("env_id")
    if not env_id:
        raise SystemExit("error: this world does not name its env; pass --env")
    counts, failures = first_wrong(world, env_id, args.policy, args.episodes, args.seed, args.horizon)
    print(f"{args.world} on {env_id} under {args.policy}, {args.episodes} episodes from seed {args.seed}:")
    for outcome, n in counts.most_common():
        print(f"  {n:3d}  {outcome}")
    for failure in failures:
        print("  ", failure)


if __name__ == "__main__":
    run_cli(main)
