"""Record real MiniGrid play to a sharded dataset.

    python -m trainers.record --env MiniGrid-Empty-8x8-v0 --episodes 1000 --policy explore --out data/empty8

Episode i is reset with seed ``seed * 1_000_000 + i`` and its policy draws from ``default_rng([seed, i])``, so a
dataset depends only on its arguments, not on the number of workers or on interruptions (``--resume``).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from genie_env.config import parse_config
from genie_env.dataset import FORMAT_VERSION, shard_name, write_shard
from genie_env.frames import render_frame
from genie_env.io import atomic_write_json, make_folder, read_json

POLICIES = ("random", "explore", "noisy-expert")
NUM_ACTIONS = 7  # MiniGrid: left, right, forward, pickup, drop, toggle, done


@dataclass
class RecordConfig:
    env: str = "MiniGrid-Empty-8x8-v0"
    episodes: int = 1000
    policy: str = "explore"
    out: str = "data/empty8"
    seed: int = 0
    episodes_per_shard: int = 50
    workers: int = 2
    epsilon: float = 0.2          # noisy-expert: share of random actions
    persistence: float = 0.75     # explore: chance to repeat the previous action
    resume: bool = False


# --- policies: each is a function (env, rng, previous_action) -> action -------------------------------------

def random_policy(env, rng, previous):
    return int(rng.integers(NUM_ACTIONS))


def explore_policy(env, rng, previous, persistence=0.75):
    if previous is not None and rng.random() < persistence:
        return previous
    return int(rng.integers(NUM_ACTIONS))


DIRECTIONS = ((1, 0), (0, 1), (-1, 0), (0, -1))  # MiniGrid agent_dir 0..3: east, south, west, north


def _passable(cell) -> bool:
    return cell is None or cell.type == "goal" or (cell.type == "door" and cell.is_open)


def _bfs_first_move(grid, start, goals):
    """First cell on a shortest 4-connected path from `start` to any cell in `goals`; None if unreachable."""
    previous = {start: None}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        if cell in goals:
            while previous[cell] is not None and previous[cell] != start:
                cell = previous[cell]
            return cell
        for dx, dy in DIRECTIONS:
            nxt = (cell[0] + dx, cell[1] + dy)
            if nxt in previous or not (0 <= nxt[0] < grid.width and 0 <= nxt[1] < grid.height):
                continue
            if _passable(grid.get(*nxt)) or nxt in goals:
                previous[nxt] = cell
                queue.append(nxt)
    return None


def _turn_towards(agent_dir: int, want_dir: int) -> int:
    return 0 if (agent_dir - want_dir) % 4 == 1 else 1  # 0 = left (counter-clockwise), 1 = right


def expert_action(env) -> int:
    """Plan to the next subgoal (key, door, goal) by breadth-first search and return the action towards it."""
    u = env.unwrapped
    objects = {}
    for x in range(u.grid.width):
        for y in range(u.grid.height):
            cell = u.grid.get(x, y)
            if cell is not None and cell.type in ("key", "door", "goal", "ball", "box"):
                objects.setdefault(cell.type, []).append(((x, y), cell))
    door = objects.get("door", [(None, None)])[0]
    carrying_key = u.carrying is not None and u.carrying.type == "key"
    if door[1] is not None and door[1].is_locked and not carrying_key and "key" in objects:
        target, interact = objects["key"][0][0], 3          # pickup
    elif door[1] is not None and not door[1].is_open:
        target, interact = door[0], 5                       # toggle
    elif "goal" in objects:
        target, interact = objects["goal"][0][0], None      # walk onto it
    else:
        return 2
    agent = tuple(int(v) for v in u.agent_pos)
    front = tuple(int(v) for v in u.front_pos)
    if interact is not None and front == target:
        return interact
    if interact is not None and sum(abs(a - b) for a, b in zip(agent, target)) == 1:
        want = DIRECTIONS.index((target[0] - agent[0], target[1] - agent[1]))
        return _turn_towards(u.agent_dir, want)
    step = _bfs_first_move(u.grid, agent, {target})
    if step is None:
        return 2
    want = DIRECTIONS.index((step[0] - agent[0], step[1] - agent[1]))
    return 2 if want == u.agent_dir else _turn_towards(u.agent_dir, want)


def noisy_expert_policy(env, rng, previous, epsilon=0.2):
    if rng.random() < epsilon:
        return int(rng.integers(NUM_ACTIONS))
    return expert_action(env)


def make_policy(config: RecordConfig):
    if config.policy == "random":
        return random_policy
    if config.policy == "explore":
        return lambda env, rng, prev: explore_policy(env, rng, prev, config.persistence)
    return lambda env, rng, prev: noisy_expert_policy(env, rng, prev, config.epsilon)


# --- recording ------------------------------------------------------------------------------------------------

def episode_seed(seed: int, index: int) -> int:
    return seed * 1_000_000 + index


def record_episode(env, policy, seed: int, index: int) -> dict:
    rng = np.random.default_rng([seed, index])
    env.reset(seed=episode_seed(seed, index))
    frames, actions, rewards, terminated, truncated = [render_frame(env)], [], [], [], []
    previous = None
    while True:
        action = policy(env, rng, previous)
        _, reward, term, trunc, _ = env.step(action)
        frames.append(render_frame(env))
        actions.append(action)
        rewards.append(reward)
        terminated.append(term)
        truncated.append(trunc)
        previous = action
        if term or trunc:
            break
    return {"frames": np.stack(frames), "actions": np.array(actions), "rewards": np.array(rewards),
            "terminated": np.array(terminated), "truncated": np.array(truncated), "seed": episode_seed(seed, index)}


def record_shard(args) -> dict:
    import gymnasium as gym
    import minigrid  # noqa: F401  (registers the MiniGrid envs)

    config, shard = args
    env = gym.make(config.env)
    policy = make_policy(config)
    first = shard * config.episodes_per_shard
    last = min(first + config.episodes_per_shard, config.episodes)
    episodes = [record_episode(env, policy, config.seed, i) for i in range(first, last)]
    env.close()
    return write_shard(Path(config.out) / shard_name(shard), episodes)


def check_config(config: RecordConfig) -> None:
    """Reject bad arguments before anything is written."""
    import gymnasium as gym
    import minigrid  # noqa: F401

    if config.env not in gym.registry:
        raise ValueError(f"unknown env id {config.env!r}; MiniGrid ids look like 'MiniGrid-Empty-8x8-v0'")
    if config.episodes <= 0:
        raise ValueError(f"--episodes must be > 0, got {config.episodes}")
    if config.episodes_per_shard <= 0:
        raise ValueError(f"--episodes-per-shard must be > 0, got {config.episodes_per_shard}")
    if config.policy not in POLICIES:
        raise ValueError(f"--policy must be one of {POLICIES}, got {config.policy!r}")
    if config.workers <= 0:
        raise ValueError(f"--workers must be > 0, got {config.workers}")


def dataset_spec(config: RecordConfig) -> dict:
    spec = {k: v for k, v in asdict(config).items() if k not in ("out", "workers", "resume")}
    return {"format": "genie-dataset", "version": FORMAT_VERSION, **spec}


def prepare_folder(config: RecordConfig) -> list[int]:
    """Check the output folder and return the shards still to record."""
    out = Path(config.out)
    spec = dataset_spec(config)
    num_shards = -(-config.episodes // config.episodes_per_shard)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    existing = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if existing:
        if not (out / "dataset.json").is_file():
            raise ValueError(f"--out {out} is not empty and holds no GenieDream dataset; choose another folder")
        found = read_json(out / "dataset.json")
        if found != spec:
            changed = sorted(k for k in set(found) | set(spec) if found.get(k) != spec.get(k))
            raise ValueError(f"--out {out} holds another dataset (differs in: {', '.join(changed)}); choose another folder")
        if not config.resume:
            raise ValueError(f"--out {out} already holds this dataset; pass --resume to complete it")
    make_folder(out)
    if not existing:
        atomic_write_json(out / "dataset.json", spec)
    for leftover in out.glob(".*.tmp"):
        leftover.unlink()
    return [s for s in range(num_shards) if not (out / shard_name(s)).is_file()]


def write_manifest(config: RecordConfig) -> dict:
    from genie_env.dataset import read_shard

    out = Path(config.out)
    shards = []
    for s in range(-(-config.episodes // config.episodes_per_shard)):
        shard = read_shard(out / shard_name(s))
        shards.append({"file": shard_name(s), "episodes": int(len(shard["episode_lengths"])),
                       "steps": int(len(shard["actions"])), "seeds": [int(shard["episode_seeds"][0]), int(shard["episode_seeds"][-1])],
                       "goal_reached": int(shard["terminated"].sum())})
    manifest = {**dataset_spec(config), "env_id": config.env, "shards": shards,
                "counts": {"episodes": sum(s["episodes"] for s in shards), "steps": sum(s["steps"] for s in shards),
                           "frames": sum(s["steps"] + s["episodes"] for s in shards),
                           "terminated": sum(s["goal_reached"] for s in shards)}}
    atomic_write_json(out / "manifest.json", manifest)
    return manifest


def record(config: RecordConfig) -> dict:
    from tqdm import tqdm

    check_config(config)
    pending = prepare_folder(config)
    done = config.episodes - sum(min(config.episodes_per_shard, config.episodes - s * config.episodes_per_shard) for s in pending)
    jobs = [(config, s) for s in pending]
    with tqdm(total=config.episodes, initial=done, unit="ep", desc=f"record {config.env}") as bar:
        if config.workers == 1 or len(jobs) <= 1:
            for job in jobs:
                bar.update(record_shard(job)["episodes"])
        else:
            with mp.get_context("fork").Pool(min(config.workers, len(jobs))) as pool:
                for info in pool.imap_unordered(record_shard, jobs):
                    bar.update(info["episodes"])
    return write_manifest(config)


def main(argv=None) -> None:
    config = parse_config(RecordConfig, argv, __doc__, {"policy": POLICIES})
    try:
        manifest = record(config)
    except ValueError as e:
        sys.exit(f"error: {e}")
    counts = manifest["counts"]
    print(f"recorded {counts['episodes']} episodes, {counts['steps']} steps ({counts['terminated']} reached the goal) in {config.out}")


if __name__ == "__main__":
    main()
