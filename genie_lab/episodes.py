"""One recorded real episode, as a dataset shard stores it (genie_env.dataset.write_shard)."""
from __future__ import annotations

import numpy as np

from genie_env.frames import render_frame


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
