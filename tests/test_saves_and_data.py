"""Saves and data (docs/RELIABILITY.md): a world replaced as one unit, data checked before it is trained on, no NaN
in any JSON written, data and worlds of different envs never mixed silently."""
from __future__ import annotations

import io
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from genie_env import load_world_model
from genie_env.dataset import Dataset, read_shard
from genie_env.io import atomic_write_json, read_json
from genie_env.world_file import NEXT_WEIGHTS


def copy_world(src, dst) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("checkpoint.safetensors", "tb"))
    return dst


def saved_twice(tiny_world_path, tmp_path) -> tuple[Path, bytes, dict]:
    """A world folder, then a second save of it with another copy bonus (1 more) and a marker in its info:
    (folder, the old weights, the old json)."""
    folder = copy_world(tiny_world_path, tmp_path / "w")
    old_weights, old_meta = (folder / "world.safetensors").read_bytes(), read_json(folder / "world.json")
    world = load_world_model(folder)
    world.dynamics.copy_bonus.data += 1.0
    world.save(folder, {"marker": "second"})
    return folder, old_weights, old_meta


def test_a_save_cut_before_world_json_leaves_the_old_world(tiny_world_path, tmp_path):
    folder, old_weights, old_meta = saved_twice(tiny_world_path, tmp_path)
    new_weights = (folder / "world.safetensors").read_bytes()
    # as if cut after the new weights were written aside, before world.json was replaced
    (folder / NEXT_WEIGHTS).write_bytes(new_weights)
    (folder / "world.safetensors").write_bytes(old_weights)
    atomic_write_json(folder / "world.json", old_meta)
    world = load_world_model(folder)                                     # the old world, whole
    assert "marker" not in world.info and float(world.dynamics.copy_bonus) == float(load_world_model(tiny_world_path).dynamics.copy_bonus)


def test_a_save_cut_after_world_json_is_finished_on_load(tiny_world_path, tmp_path):
    folder, old_weights, _ = saved_twice(tiny_world_path, tmp_path)
    (folder / NEXT_WEIGHTS).write_bytes((folder / "world.safetensors").read_bytes())
    (folder / "world.safetensors").write_bytes(old_weights)              # world.json is the new one already
    world = load_world_model(folder)                                     # the new world, whole
    assert world.info["marker"] == "second"
    assert float(world.dynamics.copy_bonus) == float(load_world_model(tiny_world_path).dynamics.copy_bonus) + 1.0
    assert not (folder / NEXT_WEIGHTS).exists()                          # and the move was finished


def test_halves_of_two_saves_never_load_as_one_world(tiny_world_path, tmp_path):
    folder, old_weights, _ = saved_twice(tiny_world_path, tmp_path)
    (folder / "world.safetensors").write_bytes(old_weights)              # new json, old weights, nothing pending
    with pytest.raises(ValueError, match="different saves"):
        load_world_model(folder)


def test_json_never_holds_nan(tmp_path):
    path = tmp_path / "x.json"
    atomic_write_json(path, {"a": 1})
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="x.json"):
            atomic_write_json(path, {"a": bad})
    assert read_json(path) == {"a": 1}                                   # the old file stands


def rewrite_shard(folder: Path, change) -> Path:
    """Change the arrays of the first shard of a dataset copy (written as np.savez_compressed writes shards)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    path = folder / manifest["shards"][0]["file"]
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    change(arrays)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.parametrize("change, message", [
    (lambda a: a["rewards"].__setitem__(0, np.nan), "rewards must be finite"),
    (lambda a: a["actions"].__setitem__(0, 99), r"actions must lie in \[0, 6\]"),
    (lambda a: a["actions"].__setitem__(0, -3), r"actions must lie in \[0, 6\]"),
    (lambda a: a.update(frames=a["frames"].astype(np.float64)), "frames must be uint8"),
    (lambda a: a.update(terminated=a["terminated"][:-1]), "terminated holds"),
    (lambda a: a.update(episode_lengths=-a["episode_lengths"]), "episode_lengths must be >= 0"),
    (lambda a: a.update(rewards=a["rewards"].astype(np.int64)), "rewards must be floats"),
], ids=["nan-reward", "action-99", "action-negative", "float-frames", "short-terminated", "negative-lengths", "int-rewards"])
def test_bad_shard_contents_are_refused_by_name(tiny_data, tmp_path, change, message):
    folder = tmp_path / "d"
    shutil.copytree(tiny_data, folder)
    path = rewrite_shard(folder, change)
    with pytest.raises(ValueError, match=message):
        read_shard(path)
    with pytest.raises(ValueError, match=str(path.name)):
        Dataset.load(folder)


def test_data_of_two_envs_is_not_mixed(tiny_data, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(tiny_data, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["env_id"] = "MiniGrid-Empty-8x8-v0"
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="data of different envs"):
        Dataset.load([tiny_data, other])


def test_a_world_is_not_measured_or_fitted_on_another_envs_data(tiny_world_path, tiny_data, tmp_path):
    import subprocess
    import sys

    other = tmp_path / "other"
    shutil.copytree(tiny_data, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["env_id"] = "MiniGrid-Empty-8x8-v0"
    (other / "manifest.json").write_text(json.dumps(manifest))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for args in (["trainers.bridge", "--world", str(tiny_world_path), "--data", str(other), "--out", str(tmp_path / "b")],
                 ["trainers.evaluate", "world", "--world", str(tiny_world_path), "--data", str(other)]):
        result = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode != 0 and "but --data is MiniGrid-Empty-8x8-v0" in result.stderr, result.stderr[-800:]
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "b").exists() or not (tmp_path / "b" / "world.json").exists()


def test_async_vector_env_steps_in_forked_workers():
    """gym.make_vec(..., vectorization_mode="async") forks its workers on Linux; reset then never returned."""
    import subprocess
    import sys

    script = ("import gymnasium as gym, genie_env, numpy as np, torch\n"
              "torch.set_num_threads(2)\n"
              "torch.randn(256, 256) @ torch.randn(256, 256)\n"            # the parent's thread pool is up
              "envs = gym.make_vec('GenieDream-v0', num_envs=2, vectorization_mode='async', device='cpu')\n"
              "obs, _ = envs.reset(seed=0)\n"
              "for _ in range(3):\n    obs, *_ = envs.step(np.array([0, 2]))\n"
              "envs.close()\nprint('stepped', obs.shape)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0 and "stepped (2, 64, 64, 3)" in result.stdout, result.stderr[-1500:]


@pytest.mark.parametrize("args, message", [
    (["trainers.tokenizer", "--codebook-size", "1"], r"codebook_size must lie in \[2, 4096\]"),
    (["trainers.tokenizer", "--codebook-size", "5000"], r"codebook_size must lie in \[2, 4096\]"),
    (["trainers.tokenizer", "--code-dim", "100000"], r"code_dim must lie in \[1, 1024\]"),
    (["trainers.world", "--num-actions", "300"], r"num_actions must lie in \[1, 256\]"),
    (["trainers.world", "--context", "100"], r"context must lie in \[1, 64\]"),
    (["trainers.world", "--bridge-labels", "-5"], "argument --bridge-labels: must be a count >= 1"),
    (["trainers.world", "--bridge-labels", "0"], "argument --bridge-labels: must be a count >= 1"),
], ids=["codebook-1", "codebook-5000", "code-dim", "num-actions", "context", "labels-negative", "labels-0"])
def test_trainers_refuse_what_the_loader_refuses_before_any_work(tiny_data, tiny_tokenizer, tmp_path, args, message):
    import subprocess
    import sys

    extra = ["--data", str(tiny_data), "--out", str(tmp_path / "out")]
    if args[0] == "trainers.world":
        extra += ["--tokenizer", str(tiny_tokenizer)]
    result = subprocess.run([sys.executable, "-m", *args, *extra], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-800:]
    assert __import__("re").search(message, result.stderr), result.stderr[-800:]
    assert not (tmp_path / "out").exists()


def test_a_second_run_into_the_same_out_is_refused_naming_the_first(tiny_data, tmp_path):
    import subprocess
    import sys

    from genie_env.io import lock_folder

    out = tmp_path / "tok"
    out.mkdir()
    held = lock_folder(out)                                     # a first run holds --out
    with pytest.raises(ValueError, match=f"pid {os.getpid()}"):
        lock_folder(out)
    result = subprocess.run([sys.executable, "-m", "trainers.tokenizer", "--data", str(tiny_data), "--out", str(out),
                             "--steps", "2"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode != 0 and f"another run (pid {os.getpid()})" in result.stderr, result.stderr[-800:]
    assert not (out / "tokenizer.safetensors").exists()
    held.close()                                                # the first run ends: the folder is free again
    lock_folder(out).close()


def test_json_is_read_strictly(tmp_path):
    from genie_env.io import read_json

    path = tmp_path / "x.json"
    for text, says in (('{"a": ' + "9" * 5000 + "}", "5000 digits"), ('{"a": NaN}', "NaN"),
                       ("[" * 100_000 + "]" * 100_000, "nested too deep")):
        path.write_text(text)
        with pytest.raises(ValueError, match=says):
            read_json(path)
    path.write_text('{"a": 12, "b": [1.5]}')
    assert read_json(path) == {"a": 12, "b": [1.5]}


def test_a_tampered_agent_info_is_refused_by_name():
    from genie_env.agent import check_agent_info

    good = {"config": {"world": "empty8", "real_env": ""}, "trained_in": "GenieDream-v0", "train_seconds": 1.0,
            "timesteps": 10}
    check_agent_info(good, "policy.json")
    for bad, says in (({}, "info.config"), ({**good, "config": []}, "info.config"),
                      ({**good, "config": {"world": 5}}, "info.config.world"),
                      ({**good, "config": {"real_env": ""}}, "names neither"),
                      ({**good, "timesteps": 10**30}, "info.timesteps")):
        with pytest.raises(ValueError, match=says):
            check_agent_info(bad, "policy.json")


def test_env_edges_refuse_what_they_cannot_mean(tiny_world_path):
    import gymnasium as gym

    import genie_env  # noqa: F401
    from genie_env.envs import GenieDreamVectorEnv
    from genie_env.sb3 import GenieDreamSB3VecEnv

    vec = GenieDreamSB3VecEnv(num_envs=3, world=str(tiny_world_path), device="cpu")
    vec.reset()
    for actions in (np.array([2.9, -0.9, 7.99]), np.array([True, False, True])):
        vec.step_async(actions)
        with pytest.raises(ValueError, match="actions must be 3 integers"):
            vec.step_wait()
    vec.close()
    with pytest.raises(ValueError, match="render_mode"):
        GenieDreamVectorEnv(num_envs=2, world=str(tiny_world_path), device="cpu", render_mode="bogus")
    with pytest.raises(ValueError, match="max_episode_steps must be an integer"):
        GenieDreamVectorEnv(num_envs=2, world=str(tiny_world_path), device="cpu", max_episode_steps=1.5)
    env = gym.make("GenieDream-v0", world=str(tiny_world_path), device="cpu")
    env.reset(seed=0)
    for bad in (99, -1, 2.0, True):
        with pytest.raises(ValueError, match="env_action must be a MiniGrid action"):
            env.unwrapped.latent_for(bad)


def test_a_prompt_from_another_env_is_reported():
    import gymnasium as gym
    import minigrid  # noqa: F401

    import genie_env  # noqa: F401
    from genie_env.frames import render_frame

    env = gym.make("GenieDream-v0", world="empty8", device="cpu")
    own = gym.make("MiniGrid-Empty-8x8-v0")
    own.reset(seed=3)
    _, info = env.reset(seed=0, options={"frame": render_frame(own)})
    assert info["prompt_patches_redrawn"] == 0.0 and info["prompt_psnr"] == 60.0
    other = gym.make("MiniGrid-FourRooms-v0")
    other.reset(seed=3)
    with pytest.warns(UserWarning, match="not one this world can draw"):
        _, info = env.reset(seed=0, options={"frame": render_frame(other)})
    assert info["prompt_patches_redrawn"] > 0.1 and info["prompt_psnr"] < 30
