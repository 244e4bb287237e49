"""Let long real play check a world, step by step: episodes of a policy in the real env, each step dreamed from the
real frame before it (the documented frame-only calls, `env_to_latent_action` then `dream`) and compared with the
real frame after it.

    from genie_lab.lockstep import play_checked
    report = play_checked(world, "MiniGrid-DoorKey-8x8-v0", episodes=64, steps=640, seed=7_100_000)
    report["right"], report["situations"], report["wrong"][:3]

A uniform draw over an explorer's archive weighs every reachable state once; long play weighs states as play
reaches them, far from the reset: the key carried about for a hundred steps, the door closed again, the goal
approached from behind. Those are the states a sparse reward depends on (a dream that loses the key there is a
game an agent cannot win), and the ones an optimiser finds. Each wrong step is kept with the reset seed and the
action prefix that reaches it (MiniGrid is deterministic under a seed), so a check can record new episodes there
(trainers.check --play-episodes).
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from genie_env.bridge import ENV_ACTION_NAMES
from genie_env.frames import psnr, render_frame
from genie_env.policies import make_policy
from genie_lab.explore import state_key
from genie_lab.situations import Situation, ahead
from genie_lab.states import CORRECT_DB


def play_envs(env_id: str, count: int, steps: int):
    """`count` real envs whose step limit lets an episode run `steps` steps (the env's own limit if larger)."""
    import gymnasium as gym
    import minigrid  # noqa: F401  (registers the MiniGrid envs)

    probe = gym.make(env_id)
    limit = max(steps, int(probe.unwrapped.max_steps))
    probe.close()
    return [gym.make(env_id, max_steps=limit) for _ in range(count)]


def play_checked(world, env_id: str, episodes: int, steps: int, seed: int, policy: str = "uniform",
                 progress: bool = True) -> dict:
    """`episodes` real episodes of `policy` (genie_env.policies), reset seeds seed .. seed + episodes - 1, at most
    `steps` steps each, played side by side; every step is also dreamed from the real frame before it. Returns the
    share of steps dreamed within CORRECT_DB (overall, per action, per situation, and in the episodes' last
    quarter of steps), the real steps spent, and the distinct wrong states as (reset seed, action prefix,
    situation, action) in "wrong"."""
    from tqdm import tqdm

    envs = play_envs(env_id, episodes, steps)
    rngs = [np.random.default_rng([seed, i]) for i in range(episodes)]
    policies = [make_policy(policy, rng) for rng in rngs]
    for i, env in enumerate(envs):
        env.reset(seed=seed + i)
    situations = [Situation(env) for env in envs]
    frames = np.stack([render_frame(env) for env in envs])
    prefixes = [[] for _ in envs]
    previous = [None] * episodes
    alive = np.ones(episodes, bool)
    tally = {"steps": 0, "right": 0, "late_steps": 0, "late_right": 0}
    by_action, by_situation = Counter(), Counter()
    right_action, right_situation = Counter(), Counter()
    wrong, seen, where = [], set(), Counter()
    for t in tqdm(range(steps), desc="play checked", unit="step", disable=not progress):
        live = np.flatnonzero(alive)
        if not len(live):
            break
        actions = np.array([policies[i](envs[i], rngs[i], previous[i]) for i in live], np.int64)
        names = [situations[i].of(envs[i]) for i in live]
        before = [(state_key(envs[i]), ahead(envs[i])) for i in live]
        latents = world.env_to_latent_action(frames[live], actions)
        dreamed = world.dream(frames[live][:, None], latents[:, None])[:, 0]
        for i, a in zip(live, actions):
            _, _, terminated, truncated, _ = envs[i].step(int(a))
            frames[i] = render_frame(envs[i])
            alive[i] = not (terminated or truncated)
        ok = psnr(dreamed, frames[live]) >= CORRECT_DB
        late = t >= 3 * steps // 4
        for j, (i, a) in enumerate(zip(live, actions)):
            name, right = names[j], bool(ok[j])
            tally["steps"] += 1
            tally["right"] += right
            tally["late_steps"] += late
            tally["late_right"] += late and right
            by_action[int(a)] += 1
            right_action[int(a)] += right
            by_situation[name] += 1
            right_situation[name] += right
            if not right:
                where[f"{ENV_ACTION_NAMES[a]}: {before[j][1]}, {name}"] += 1
                key = (before[j][0], int(a))
                if key not in seen:
                    seen.add(key)
                    wrong.append((seed + int(i), tuple(prefixes[i]), name, int(a)))
            prefixes[i].append(int(a))
            previous[i] = int(a)
    for env in envs:
        env.close()
    share = lambda right, total: right / total if total else None  # noqa: E731
    situations_out = {name: {"steps": by_situation[name], "right": share(right_situation[name], by_situation[name])}
                      for name in sorted(by_situation)}
    return {"env": env_id, "policy": policy, "episodes": episodes, "horizon": steps, "first_seed": seed,
            "steps": tally["steps"], "right": share(tally["right"], tally["steps"]),
            "right_late": share(tally["late_right"], tally["late_steps"]), "late_steps": tally["late_steps"],
            "right_per_action": {ENV_ACTION_NAMES[a]: share(right_action[a], by_action[a]) for a in sorted(by_action)},
            "situations": situations_out,
            "situation_min": min((s["right"] for s in situations_out.values()), default=None),
            "wrong_steps": tally["steps"] - tally["right"], "wrong_states": len(wrong),
            "wrong_where": dict(where.most_common(12)), "wrong": wrong}
