"""An agent measured in the real env and in the dream: its real episodes (latent actions mapped through the
bridge), whether the dream ever started where the real env does, and its mean return in the dream."""
from __future__ import annotations

import numpy as np

from genie_env.dataset import time_limit
from genie_env.world import WorldModel, check_world_env


def run_real_episodes(act, world: WorldModel | None, env_id: str, episodes: int, seed: int) -> dict:
    """Run a policy (`act`: uint8 frames (N, 64, 64, 3) -> actions (N,)) in the real env for `episodes` episodes.

    With a `world`, the policy acts in latent actions and each is mapped to the env action with the same effect,
    read by the world's bridge in the current real frame and the recent real past, as the dream would have had.
    """
    import gymnasium as gym
    import minigrid  # noqa: F401

    from genie_env.frames import render_frame

    env = gym.make(env_id)
    returns, lengths, successes = [], [], []
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        total, steps, done = 0.0, 0, False
        recent = [render_frame(env)] * (world.context if world is not None else 1)
        while not done:
            frame = recent[-1][None]
            action = act(frame)
            if world is not None:
                action = world.latent_to_env_action(frame, action, context=np.stack(recent)[None])
            _, reward, terminated, truncated, _ = env.step(int(action[0]))
            recent = [*recent[1:], render_frame(env)]
            total, steps, done = total + reward, steps + 1, terminated or truncated
        returns.append(total)
        lengths.append(steps)
        successes.append(total > 0)
    env.close()
    return {"success_rate": float(np.mean(successes)), "mean_return": float(np.mean(returns)),
            "mean_length": float(np.mean(lengths)), "episodes": episodes, "successes": [bool(x) for x in successes]}


def starts_in_bank(world: WorldModel, env_id: str, episodes: int, seed: int) -> np.ndarray:
    """(episodes,) bool: the real start of episode i (seed + i) is one of the states the dream of `world` starts
    from, read as the dream reads frames. An agent trained only in the dream saw only those starts."""
    from genie_lab.episodes import reset_frames

    if world.start_ids is None:
        return np.zeros(episodes, bool)
    bank = {row.tobytes() for row in world.start_ids.numpy()}
    frames = reset_frames(env_id, range(seed, seed + episodes))
    return np.array([row.tobytes() in bank for row in world.frames_to_ids(frames).cpu().numpy()])


def check_same_game(world, env_id: str, flag: str) -> None:
    """Refuse to measure an agent in the dream of one MiniGrid env beside the real env of another (a DoorKey agent
    in the Empty dream measures nothing). Worlds that do not name their env are not checked."""
    from genie_env.dream import shared_world

    check_world_env(shared_world(world, "cpu"), env_id, flag)   # loaded once, shared with what measures in it


def real_time_limit(env_id: str) -> int:
    """The real MiniGrid env's own episode limit (its max_steps), which a dream measured beside it should share."""
    return time_limit(env_id)


def run_dream_episodes(act, world: str, episodes: int, seed: int, num_envs: int = 16, env_actions: bool = False,
                       temperature: float = 0.0, max_episode_steps: int = 256) -> dict:
    """The same policy's mean return inside the dream of `world` over `episodes` finished episodes, each cut at
    `max_episode_steps` (pass the real env's `real_time_limit` to compare the two).

    `env_actions`: the policy acts in real env actions (the real-trained baseline); each is mapped to the latent
    that does the same in the dream's own context, through the world's bridge.
    """
    import gymnasium as gym

    import genie_env  # noqa: F401

    envs = gym.make_vec("GenieDream-v0", num_envs=num_envs, vectorization_mode="vector_entry_point", world=world,
                        temperature=temperature, max_episode_steps=max_episode_steps)
    core = envs.unwrapped.core
    obs, _ = envs.reset(seed=seed)
    totals, steps, returns, lengths, ends = np.zeros(num_envs), np.zeros(num_envs, int), [], [], []
    restarting = np.zeros(num_envs, bool)   # next-step autoreset: the step after an episode's end only restarts
    while len(returns) < episodes:
        actions = act(obs)
        if env_actions:
            actions = core.world.latents_for(core.ids, actions).cpu().numpy()
        obs, reward, terminated, truncated, _ = envs.step(actions)
        totals, steps = totals + reward, steps + ~restarting
        restarting = terminated | truncated
        for i in np.flatnonzero(restarting):
            returns.append(totals[i])
            lengths.append(steps[i])
            ends.append(bool(terminated[i]))
            totals[i], steps[i] = 0.0, 0
    envs.close()
    return {"dream_mean_return": float(np.mean(returns[:episodes])), "dream_success_rate": float(np.mean(ends[:episodes])),
            "dream_mean_length": float(np.mean(lengths[:episodes]))}
