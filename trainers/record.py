"""Record real MiniGrid play to a sharded dataset.

    python -m trainers.record --env MiniGrid-Empty-8x8-v0 --episodes 1000 --policy mixture --out data/empty8

Episode i is reset with seed ``seed * 1_000_000 + i`` and its policy draws from ``default_rng([seed, i])``, so a
dataset depends only on its arguments, not on the number of workers or on interruptions (``--resume``).
"""
from __future__ import annotations

import multiprocessing as mp
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from genie_env.config import fail, parse_config, run_cli
from genie_env.dataset import FORMAT_VERSION, shard_name, write_shard
from genie_env.frames import check_minigrid_env, render_frame
from genie_env.io import atomic_write_bytes, atomic_write_json, make_folder, read_json
from genie_env.policies import POLICIES
from genie_lab.episodes import episode_seed, record_episode
from genie_lab.explore import archive_arrays, explore_layout
from genie_lab.twins import with_twins


@dataclass
class RecordConfig:
    env: str = "MiniGrid-Empty-8x8-v0"
    episodes: int = 1000
    policy: str = "mixture"
    out: str = "data/empty8"
    seed: int = 0
    episodes_per_shard: int = 50
    workers: int = 2
    epsilon: float = 0.2          # noisy-expert: share of random actions
    persistence: float = 0.75     # explore: chance to repeat the previous action
    max_steps: int = 0            # cut episodes after this many steps (0: the env's own limit)
    legs: int = 30                # explore-archive: legs per layout (each one recorded episode from an archived state)
    leg_steps: int = 20           # explore-archive: steps per leg
    twins: bool = False           # each episode followed by its rotated twin (genie_lab.twins; square grids only)
    resume: bool = False


# --- recording ------------------------------------------------------------------------------------------------

def record_shard(args) -> dict:
    import gymnasium as gym
    import minigrid  # noqa: F401  (registers the MiniGrid envs)

    config, shard = args
    env = gym.make(config.env, **({"max_steps": config.max_steps} if config.max_steps > 0 else {}))
    first = shard * config.episodes_per_shard
    last = min(first + config.episodes_per_shard, config.episodes)
    if config.policy == "explore-archive":
        episodes, archives, counts = [], [], {}
        for i in range(first, last):
            archive, count = explore_layout(env, episode_seed(config.seed, i), np.random.default_rng([config.seed, i]),
                                            config.legs, config.leg_steps, episodes.append, render_frame)
            archives.append(archive)
            counts = {k: counts.get(k, 0) + v for k, v in count.items()}
        # the archive first: a shard on disk means its archive is there too (--resume records missing shards only)
        save_npz(Path(config.out) / archive_name(shard), {**archive_arrays(archives),
                                                          **{k: np.array(v) for k, v in counts.items()}})
    else:
        episodes = [record_episode(env, config.policy, config.seed, i, config.epsilon, config.persistence)
                    for i in range(first, last)]
        if config.twins:
            episodes = with_twins(env, episodes)
    env.close()
    return {**write_shard(Path(config.out) / shard_name(shard), episodes), "layouts": last - first}


def archive_name(index: int) -> str:
    """The explorer's archive of shard `index` (genie_lab.explore.archive_arrays), beside the shard."""
    return f"archive_{index:05d}.npz"


def save_npz(path: Path, arrays: dict) -> None:
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def check_config(config: RecordConfig) -> None:
    """Reject bad arguments before anything is written."""
    check_minigrid_env(config.env)
    if config.episodes <= 0:
        raise ValueError(f"--episodes must be > 0, got {config.episodes}")
    if config.episodes_per_shard <= 0:
        raise ValueError(f"--episodes-per-shard must be > 0, got {config.episodes_per_shard}")
    if config.policy not in POLICIES:
        raise ValueError(f"--policy must be one of {POLICIES}, got {config.policy!r}")
    if config.workers <= 0:
        raise ValueError(f"--workers must be > 0, got {config.workers}")
    if config.legs <= 0 or config.leg_steps <= 0:
        raise ValueError(f"--legs and --leg-steps must be > 0, got {config.legs} and {config.leg_steps}")
    if config.twins and config.policy == "explore-archive":
        raise ValueError("--twins replays episodes from their reset; the explorer's legs start mid-episode")
    if config.twins:
        import gymnasium as gym

        base = gym.make(config.env).unwrapped
        base.reset(seed=0)
        if base.width != base.height:
            raise ValueError(f"--twins needs a square grid; {config.env} is {base.width}x{base.height}")


def dataset_spec(config: RecordConfig) -> dict:
    skip = ("out", "workers", "resume") + (() if config.policy == "explore-archive" else ("legs", "leg_steps")) \
        + (() if config.twins else ("twins",))   # a dataset recorded before --twins existed keeps its spec
    spec = {k: v for k, v in asdict(config).items() if k not in skip}
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
                bar.update(record_shard(job)["layouts"])
        else:
            with mp.get_context("spawn").Pool(min(config.workers, len(jobs))) as pool:
                for info in pool.imap_unordered(record_shard, jobs):
                    bar.update(info["layouts"])
    return write_manifest(config)


def main(argv=None) -> None:
    config = parse_config(RecordConfig, argv, __doc__, {"policy": POLICIES})
    try:
        manifest = record(config)
    except ValueError as e:
        fail(f"{e}")
    except OSError as e:   # a full disk, a folder made read-only mid-run: the shards written so far stay (--resume)
        fail(f"recording to {config.out} failed: {e}; free the space and rerun with --resume")
    counts = manifest["counts"]
    print(f"recorded {counts['episodes']} episodes, {counts['steps']} steps ({counts['terminated']} reached the goal) in {config.out}")


if __name__ == "__main__":
    run_cli(main)
