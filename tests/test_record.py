import json
import os
import subprocess
import sys

import gymnasium as gym
import minigrid  # noqa: F401
import numpy as np
import pytest
from minigrid.wrappers import RGBImgObsWrapper

from genie_env.dataset import Dataset, read_shard
from genie_env.policies import expert_action
from trainers.record import RecordConfig, record


def test_output_format(tiny_data):
    manifest = json.loads((tiny_data / "manifest.json").read_text())
    assert manifest["env_id"] == "MiniGrid-Empty-5x5-v0" and manifest["counts"]["episodes"] == 6
    assert [s["file"] for s in manifest["shards"]] == ["shard_00000.npz", "shard_00001.npz"]
    shard = read_shard(tiny_data / "shard_00000.npz")
    assert shard["frames"].dtype == np.uint8 and shard["frames"].shape[1:] == (64, 64, 3)
    assert len(shard["frames"]) == len(shard["actions"]) + len(shard["episode_lengths"])
    assert set(np.unique(shard["actions"])) <= set(range(7))
    assert shard["terminated"].dtype == bool and shard["truncated"].dtype == bool


def test_frames_equal_rgb_img_obs_wrapper(tmp_path):
    out = tmp_path / "d"
    record(RecordConfig(env="MiniGrid-DoorKey-8x8-v0", episodes=2, policy="random", out=str(out), workers=1))
    data = Dataset.load(out)
    env = RGBImgObsWrapper(gym.make("MiniGrid-DoorKey-8x8-v0"), tile_size=8)
    obs, _ = env.reset(seed=int(data.seeds[0]))
    assert np.array_equal(obs["image"], data.frames[0])
    for t in range(5):
        obs, *_ = env.step(int(data.actions[t]))
        assert np.array_equal(obs["image"], data.frames[t + 1])


def test_deterministic_across_workers(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    record(RecordConfig(env="MiniGrid-Empty-5x5-v0", episodes=4, out=str(a), episodes_per_shard=1, workers=1))
    record(RecordConfig(env="MiniGrid-Empty-5x5-v0", episodes=4, out=str(b), episodes_per_shard=1, workers=2))
    for s in range(4):
        x, y = read_shard(a / f"shard_{s:05d}.npz"), read_shard(b / f"shard_{s:05d}.npz")
        assert all(np.array_equal(x[k], y[k]) for k in x)


def test_kill_and_resume_equals_uninterrupted(tmp_path, kill_once_written):
    args = ["--env", "MiniGrid-Empty-8x8-v0", "--episodes", "12", "--episodes-per-shard", "2", "--workers", "1",
            "--policy", "random"]
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run([sys.executable, "-m", "trainers.record", *args, "--out", str(full)], check=True, capture_output=True)
    kill_once_written([sys.executable, "-m", "trainers.record", *args, "--out", str(killed)], killed / "shard_00001.npz")
    assert not (killed / "manifest.json").exists(), "the run finished before it could be killed"
    assert all(not name.endswith(".tmp") or name.startswith(".") for name in os.listdir(killed))
    subprocess.run([sys.executable, "-m", "trainers.record", *args, "--out", str(killed), "--resume"], check=True,
                   capture_output=True)
    assert not list(killed.glob(".*.tmp"))
    for shard in sorted(full.glob("shard_*.npz")):
        x, y = read_shard(shard), read_shard(killed / shard.name)
        assert all(np.array_equal(x[k], y[k]) for k in x)
    assert json.loads((full / "manifest.json").read_text()) == json.loads((killed / "manifest.json").read_text())


@pytest.mark.parametrize("change, message", [
    ({"env": "MiniGrid-NoSuchEnv-v0"}, "unknown env id"),
    ({"episodes": 0}, "--episodes must be > 0"),
    ({"episodes": -3}, "--episodes must be > 0"),
])
def test_bad_arguments_write_nothing(tmp_path, change, message):
    out = tmp_path / "d"
    with pytest.raises(ValueError, match=message):
        record(RecordConfig(**{"out": str(out), "episodes": 2, "workers": 1, **change}))
    assert not out.exists()


def test_folder_with_another_dataset_is_refused_untouched(tiny_data, tmp_path):
    before = {p.name: p.read_bytes() for p in tiny_data.iterdir()}
    with pytest.raises(ValueError, match="holds another dataset"):
        record(RecordConfig(env="MiniGrid-Empty-8x8-v0", episodes=2, out=str(tiny_data), workers=1, resume=True))
    with pytest.raises(ValueError, match="already holds this dataset"):
        record(RecordConfig(env="MiniGrid-Empty-5x5-v0", episodes=6, policy="explore", out=str(tiny_data),
                            episodes_per_shard=3, workers=1))
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds no GenieDream dataset"):
        record(RecordConfig(episodes=2, out=str(other), workers=1))
    assert {p.name: p.read_bytes() for p in tiny_data.iterdir()} == before
    assert [p.name for p in other.iterdir()] == ["notes.txt"]


def test_cli_reports_bad_arguments(tmp_path):
    result = subprocess.run([sys.executable, "-m", "trainers.record", "--env", "Nope-v0", "--out", str(tmp_path / "x")],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "unknown env id" in result.stderr


def test_noisy_expert_solves_doorkey():
    env = gym.make("MiniGrid-DoorKey-8x8-v0")
    solved = 0
    for seed in range(5):
        env.reset(seed=seed)
        for _ in range(200):
            _, reward, terminated, truncated, _ = env.step(expert_action(env))
            if terminated or truncated:
                solved += reward > 0
                break
    assert solved == 5


def test_noisy_expert_data_has_pickups_drops_toggles(tmp_path):
    out = tmp_path / "dk"
    record(RecordConfig(env="MiniGrid-DoorKey-5x5-v0", episodes=20, policy="noisy-expert", out=str(out), workers=1))
    data = Dataset.load(out)
    changed = ~(data.frames[data.step_frame] == data.frames[data.step_frame + 1]).all((1, 2, 3))
    effective = set(np.unique(data.actions[changed]))
    assert {3, 5} <= effective  # pickups and door toggles that changed the frame
    assert data.terminated.sum() >= 15
