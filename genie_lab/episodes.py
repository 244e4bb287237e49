"""Real episodes and resets: the seed blocks every recorder and evaluation draws from, reset frames, and one
recorded real episode as a dataset shard stores it (genie_env.dataset.write_shard)."""
from __future__ import annotations

import numpy as np

from genie_env.frames import render_frame
from genie_env.policies import make_policy


def play_episode(env, choose, seed: int, limit: int | None = None) -> dict:
    """From the env's current state: `choose(env, step, previous_action) -> action` until the episode ends or
    `limit` steps; frames (the first, then one a step), actions, rewards, ends, the reset seed and the offset (the
    env's step count before the first frame: 0 after a reset)."""
    offset = int(env.unwrapped.step_count)
    frames, actions, rewards, terminated, truncated = [render_frame(env)], [], [], [], []
    previous, step = None, 0
    while limit is None or step < limit:
        action = int(choose(env, step, previous))
        _, reward, term, trunc, _ = env.step(action)
        frames.append(render_frame(env))
        actions.append(action)
        rewards.append(reward)
        terminated.append(term)
        truncated.append(trunc)
        previous, step = action, step + 1
        if term or trunc:
            break
    return {"frames": np.stack(frames), "actions": np.array(actions), "rewards": np.array(rewards),
            "terminated": np.array(terminated), "truncated": np.array(truncated), "seed": int(seed), "offset": offset}


def episode_seed(seed: int, index: int) -> int:
    return seed * 1_000_000 + index


# The reset bank of a world: seeds seed * 1_000_000 + 500_000 + j, which no recorded episode (index < 500,000) and no
# agent evaluation (seeds 100,000 + i) uses; the held-out recordings live in other seed blocks (seed + 1000).
START_SEED_OFFSET = 500_000


def start_seed(seed: int, index: int) -> int:
    return episode_seed(seed, START_SEED_OFFSET + index)


START_CHUNK = 1024   # resets rendered at a time for a reset bank


def reset_frames(env_id: str, seeds) -> np.ndarray:
    """The real env's first frame after a reset with each of `seeds`, uint8 (len(seeds), 64, 64, 3)."""
    import gymnasium as gym
    import minigrid  # noqa: F401  (registers the MiniGrid envs)

    env, frames = gym.make(env_id), []
    for seed in seeds:
        env.reset(seed=int(seed))
        frames.append(render_frame(env))
    env.close()
    return np.stack(frames)


def record_starts(env_id: str, seed: int, count: int, chunk: int = START_CHUNK):
    """The real env's first frames after `count` resets (seeds start_seed(seed, j)), yielded as uint8 chunks
    (n, 64, 64, 3) so a large bank never sits in memory as frames."""
    for first in range(0, count, chunk):
        yield reset_frames(env_id, [start_seed(seed, j) for j in range(first, min(first + chunk, count))])


def record_episode(env, policy, seed: int, index: int, epsilon: float = 0.2, persistence: float = 0.75) -> dict:
    """One episode; `policy` is a policy function or a policy's name (a fresh one is made for the episode)."""
    rng = np.random.default_rng([seed, index])
    env.reset(seed=episode_seed(seed, index))
    if isinstance(policy, str):
        policy = make_policy(policy, rng, epsilon, persistence)
    episode = play_episode(env, lambda env, step, previous: policy(env, rng, previous), episode_seed(seed, index))
    episode.pop("offset")   # 0: it starts at the reset
    return episode
