"""The on-disk dataset: sharded, compressed recordings of real MiniGrid play.

A dataset folder holds
- ``dataset.json``: what is being recorded (env id, policy, seed, episode count, shard size), written first;
- ``shard_00000.npz`` ...: ``np.savez_compressed`` archives, each written atomically, each holding whole episodes:
  ``frames`` (F, 64, 64, 3) uint8, ``actions`` (S,) int8, ``rewards`` (S,) float32, ``terminated`` (S,) bool,
  ``truncated`` (S,) bool, ``episode_lengths`` (E,) int32 and ``episode_seeds`` (E,) int64, where an episode of
  T steps stores T + 1 frames (its first frame, then one per step) so F = S + E; and, from explorer recordings,
  ``episode_offsets`` (E,) int32: the real steps replayed from the reset on ``episode_seeds`` before the episode's
  first frame (0, or absent: the episode starts at a reset), so a reward's time ``t`` is offset + step + 1;
- ``manifest.json``: written last, listing shards and counts. Its presence means the dataset is complete.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from genie_env.frames import FRAME_SIZE
from genie_env.io import atomic_write_bytes, read_json, sha256_file

FORMAT_VERSION = 1
SHARD_KEYS = ("frames", "actions", "rewards", "terminated", "truncated", "episode_lengths", "episode_seeds")
OPTIONAL_KEYS = ("episode_offsets", "episode_twins")   # absent in older shards: every episode there starts at a
# reset, and none has a rotated twin (genie_lab.twins: the shard-local index of an episode's twin, -1 for none)


def dataset_digest(paths) -> str:
    """SHA-256 over the manifests of dataset folders `paths` (a manifest lists every shard, its episodes and seeds):
    what a resumed run compares to know it reads the same data."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    return hashlib.sha256("".join(sha256_file(Path(p) / "manifest.json") for p in paths).encode()).hexdigest()


@lru_cache(maxsize=None)
def time_limit(env_id: str, max_steps: int = 0) -> int:
    """The step limit a real MiniGrid env runs under: `max_steps` when it was cut (> 0), else the env's own."""
    if max_steps > 0:
        return max_steps
    import gymnasium as gym
    import minigrid  # noqa: F401  (registers the MiniGrid envs)

    env = gym.make(env_id)
    limit = int(env.unwrapped.max_steps)
    env.close()
    return limit


def shard_name(index: int) -> str:
    return f"shard_{index:05d}.npz"


def write_shard(path, episodes: list[dict]) -> dict:
    """Write whole episodes (dicts of frames, actions, rewards, terminated, truncated, seed) atomically."""
    arrays = {
        "frames": np.concatenate([e["frames"] for e in episodes]).astype(np.uint8),
        "actions": np.concatenate([e["actions"] for e in episodes]).astype(np.int8),
        "rewards": np.concatenate([e["rewards"] for e in episodes]).astype(np.float32),
        "terminated": np.concatenate([e["terminated"] for e in episodes]).astype(bool),
        "truncated": np.concatenate([e["truncated"] for e in episodes]).astype(bool),
        "episode_lengths": np.array([len(e["actions"]) for e in episodes], dtype=np.int32),
        "episode_seeds": np.array([e["seed"] for e in episodes], dtype=np.int64),
        "episode_offsets": np.array([e.get("offset", 0) for e in episodes], dtype=np.int32),
    }
    if any("twin" in e for e in episodes):
        arrays["episode_twins"] = np.array([e.get("twin", -1) for e in episodes], dtype=np.int32)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())
    return {"file": Path(path).name, "episodes": len(episodes), "steps": int(len(arrays["actions"]))}


NUM_ENV_ACTIONS = 7   # MiniGrid's actions: left, right, forward, pickup, drop, toggle, done


def check_shard_values(path, shard: dict) -> None:
    """Refuse a shard whose arrays are not what `write_shard` writes (ValueError naming the file and the array):
    a training run on NaN rewards wrote a world no loader accepts; actions out of range failed mid-run."""
    def fail(what):
        raise ValueError(f"{path}: {what}")

    kinds = {"frames": np.uint8, "terminated": np.bool_, "truncated": np.bool_}
    for key, dtype in kinds.items():
        if shard[key].dtype != dtype:
            fail(f"{key} must be {np.dtype(dtype).name}, got {shard[key].dtype}")
    for key in ("actions", "episode_lengths", "episode_seeds", "episode_offsets"):
        if not np.issubdtype(shard[key].dtype, np.integer):
            fail(f"{key} must be integers, got {shard[key].dtype}")
    for key in ("actions", "rewards", "terminated", "truncated", "episode_lengths", "episode_seeds", "episode_offsets"):
        if shard[key].ndim != 1:
            fail(f"{key} must be one-dimensional, got shape {shard[key].shape}")
    if not np.issubdtype(shard["rewards"].dtype, np.floating) or not np.isfinite(shard["rewards"]).all():
        fail("rewards must be finite floats (NaN or infinite values found)" if np.issubdtype(shard["rewards"].dtype, np.floating)
             else f"rewards must be floats, got {shard['rewards'].dtype}")
    actions = shard["actions"]
    if len(actions) and (actions.min() < 0 or actions.max() >= NUM_ENV_ACTIONS):
        fail(f"actions must lie in [0, {NUM_ENV_ACTIONS - 1}] (MiniGrid's actions), got {int(actions.min())} .. {int(actions.max())}")
    if (shard["episode_lengths"] < 0).any():
        fail("episode_lengths must be >= 0")
    steps = int(shard["episode_lengths"].sum())
    for key in ("rewards", "terminated", "truncated"):
        if len(shard[key]) != steps:
            fail(f"{key} holds {len(shard[key])} values for {steps} steps")


def read_shard(path) -> dict:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            shard = {k: archive[k] for k in SHARD_KEYS}
            shard["episode_offsets"] = archive["episode_offsets"] if "episode_offsets" in archive.files \
                else np.zeros(len(shard["episode_lengths"]), np.int32)
            shard["episode_twins"] = archive["episode_twins"] if "episode_twins" in archive.files \
                else np.full(len(shard["episode_lengths"]), -1, np.int32)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{path}: not a readable dataset shard ({type(e).__name__}: {e})") from None
    check_shard_values(path, shard)
    lengths = shard["episode_lengths"]
    steps, frames = int(lengths.sum()), int(lengths.sum() + len(lengths))
    if len(shard["actions"]) != steps or len(shard["frames"]) != frames or shard["frames"].shape[1:] != (FRAME_SIZE, FRAME_SIZE, 3) \
            or shard["episode_offsets"].shape != lengths.shape or (shard["episode_offsets"] < 0).any():
        raise ValueError(f"{path}: inconsistent shard (episode lengths do not match the arrays)")
    twins = shard["episode_twins"]
    if twins.shape != lengths.shape or not np.issubdtype(twins.dtype, np.integer) or (twins < -1).any() \
            or (twins >= len(lengths)).any() or any(lengths[t] != lengths[e] or twins[t] != e
                                                    for e, t in enumerate(twins) if t >= 0):
        raise ValueError(f"{path}: episode_twins must pair episodes of equal length both ways (-1: no twin)")
    return shard


def read_manifest(folder: Path) -> dict:
    """A dataset folder's manifest.json, its env id and shard list checked (ValueError naming the file)."""
    manifest = read_json(folder / "manifest.json")
    shards = manifest.get("shards")
    whole = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0   # noqa: E731
    if not isinstance(manifest.get("env_id"), str) or not isinstance(shards, list) or not all(
            isinstance(e, dict) and isinstance(e.get("file"), str) and whole(e.get("steps")) and whole(e.get("episodes"))
            for e in shards):
        raise ValueError(f"{folder / 'manifest.json'}: not a dataset manifest (env_id, and shards with file, steps, episodes)")
    return manifest


@dataclass
class Dataset:
    """Every episode of one or more dataset folders, decompressed once and kept in memory.

    frames: (F, 64, 64, 3) uint8; per step: actions, rewards, terminated, truncated (S,).
    Episode e has frames[frame_start[e] : frame_start[e] + lengths[e] + 1] and steps
    [step_start[e] : step_start[e] + lengths[e]]; step s goes from frame step_frame[s] to step_frame[s] + 1.
    """

    frames: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    lengths: np.ndarray
    seeds: np.ndarray
    env_ids: list
    offsets: np.ndarray | None = None     # (E,) real steps before each episode's first frame (None: all 0)
    time_limits: np.ndarray | None = None  # (E,) the real env's step limit each episode ran under (None: unknown)
    sources: np.ndarray | None = None      # (E,) which of the loaded folders each episode came from (its index)
    twins: np.ndarray | None = None        # (E,) each episode's rotated twin (genie_lab.twins), -1 for none

    @classmethod
    def load(cls, paths) -> "Dataset":
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        manifests = [read_manifest(Path(folder)) for folder in paths]
        # frames go straight into one array sized from the manifests, so loading holds them once, not twice
        frames = np.empty((sum(e["steps"] + e["episodes"] for m in manifests for e in m["shards"]), FRAME_SIZE, FRAME_SIZE, 3), np.uint8)
        shards, env_ids, limits, sources, filled = [], [], [], [], 0
        for source, (folder, manifest) in enumerate(zip(map(Path, paths), manifests)):
            limit = time_limit(manifest["env_id"], int(manifest.get("max_steps", 0) or 0))
            for entry in manifest["shards"]:
                shard = read_shard(folder / entry["file"])
                if len(shard["actions"]) != entry["steps"] or len(shard["episode_lengths"]) != entry["episodes"]:
                    raise ValueError(f"{folder / entry['file']}: holds other counts than {folder / 'manifest.json'} lists")
                shard["episode_twins"] = np.where(shard["episode_twins"] >= 0, shard["episode_twins"] + len(env_ids), -1)
                part = shard.pop("frames")
                frames[filled : filled + len(part)] = part
                filled += len(part)
                shards.append(shard)
                env_ids += [manifest["env_id"]] * entry["episodes"]
                limits += [limit] * entry["episodes"]
                sources += [source] * entry["episodes"]
        if not shards:
            raise ValueError(f"no episodes in {paths}")
        if len(set(env_ids)) > 1:
            raise ValueError(f"data of different envs ({', '.join(sorted(set(env_ids)))}) in {[str(p) for p in paths]}: "
                             f"a world learns one env; pass the folders of one")
        cat = {k: np.concatenate([s[k] for s in shards]) for k in (*SHARD_KEYS, *OPTIONAL_KEYS) if k != "frames"}
        return cls(frames, cat["actions"], cat["rewards"], cat["terminated"], cat["truncated"],
                   cat["episode_lengths"], cat["episode_seeds"], env_ids, cat["episode_offsets"].astype(np.int64),
                   np.array(limits, np.int64), np.array(sources, np.int64), cat["episode_twins"].astype(np.int64))

    @cached_property
    def step_twin(self) -> np.ndarray:
        """(S,) the index of each step's twin step (the same step of the twin episode), -1 for none."""
        twins = np.full(self.num_episodes, -1, np.int64) if self.twins is None else self.twins
        episode = self.step_episode
        within = np.arange(len(self.actions)) - self.step_start[episode]
        twin = twins[episode]
        return np.where(twin >= 0, self.step_start[np.maximum(twin, 0)] + within, -1)

    @property
    def starts_at_reset(self) -> np.ndarray:
        """(E,) bool: episodes whose first frame is a reset frame (not a state an explorer replayed to)."""
        return np.ones(self.num_episodes, bool) if self.offsets is None else self.offsets == 0

    def reward_facts(self, steps) -> dict:
        """What `WorldModel.set_reward_rule` reads off real play at `steps`: rewards, ends, the env's step count
        after each step, the limit it ran under, and the real env's own limit (what the dream pays against)."""
        steps = np.asarray(steps)
        limits = None if self.time_limits is None else np.repeat(self.time_limits, self.lengths)[steps]
        return {"rewards": self.rewards[steps], "terminated": self.terminated[steps], "times": self.step_time[steps],
                "limits": limits, "time_limit": time_limit(self.env_ids[0]) if limits is not None else None}

    @cached_property
    def step_time(self) -> np.ndarray:
        """(S,) the real env's step count after each step (MiniGrid's `step_count`, which its reward reads)."""
        offsets = np.zeros(self.num_episodes, np.int64) if self.offsets is None else self.offsets
        return (np.arange(len(self.actions)) - np.repeat(self.step_start, self.lengths)
                + np.repeat(offsets, self.lengths) + 1)

    @property
    def num_episodes(self) -> int:
        return len(self.lengths)

    @cached_property
    def frame_start(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths + 1)[:-1]]).astype(np.int64)

    @cached_property
    def step_start(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)

    @cached_property
    def step_frame(self) -> np.ndarray:
        """For every step, the index of the frame it starts from."""
        return np.repeat(self.frame_start, self.lengths) + (np.arange(len(self.actions)) - np.repeat(self.step_start, self.lengths))

    @cached_property
    def step_episode(self) -> np.ndarray:
        return np.repeat(np.arange(self.num_episodes), self.lengths)

    def split(self, val_fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Train and validation episode indices; whole episodes go to one side only."""
        order = np.random.default_rng(seed).permutation(self.num_episodes)
        n_val = int(round(val_fraction * self.num_episodes))
        if val_fraction > 0 and self.num_episodes > 1:
            n_val = min(max(n_val, 1), self.num_episodes - 1)
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def training_split(self, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """`split`, for a trainer that validates: refuses, before any training step, a split that leaves no
        training or no validation episode (one episode, --val-fraction 0), which would otherwise end the run at its
        first evaluation (issue 12)."""
        if not 0 < val_fraction < 1:
            raise ValueError(f"--val-fraction must lie in (0, 1): validation needs episodes of its own, got {val_fraction}")
        train_eps, val_eps = self.split(val_fraction, seed)
        if not len(train_eps) or not len(val_eps):
            raise ValueError(f"the data holds {self.num_episodes} episode(s); training and validation each need at "
                             f"least one (record 2 or more episodes)")
        return train_eps, val_eps

    def frame_indices(self, episodes) -> np.ndarray:
        starts, lengths = self.frame_start[episodes], self.lengths[episodes] + 1
        return np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lengths)]) if len(episodes) else np.zeros(0, np.int64)

    def step_indices(self, episodes) -> np.ndarray:
        starts, lengths = self.step_start[episodes], self.lengths[episodes]
        return np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lengths)]) if len(episodes) else np.zeros(0, np.int64)

    def context_indices(self, steps, context: int) -> np.ndarray:
        """Frame indices (len(steps), context + 1): the `context` frames up to each step's start, then its next frame.

        Before an episode's first frame the first frame repeats, as at reset in the dream.
        """
        steps = np.asarray(steps)
        first = self.frame_start[self.step_episode[steps]]
        now = self.step_frame[steps]
        offsets = np.arange(-context + 1, 2)
        return np.maximum(now[:, None] + offsets[None, :], first[:, None])

    def clip(self, episode: int, start: int, length: int) -> np.ndarray:
        """Frames (length + 1, 64, 64, 3) of `episode` from step `start`."""
        if start < 0 or start + length > self.lengths[episode]:
            raise ValueError(f"episode {episode} has {self.lengths[episode]} steps; clip [{start}, {start + length}] is outside")
        begin = self.frame_start[episode] + start
        return self.frames[begin : begin + length + 1]
