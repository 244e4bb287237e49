"""Shared fixtures: a tiny real dataset, tokenizer and world, made once per test session in a temp folder."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    from trainers.record import RecordConfig, record

    out = tmp_path_factory.mktemp("data") / "empty5"
    record(RecordConfig(env="MiniGrid-Empty-5x5-v0", episodes=6, policy="explore", out=str(out), seed=0,
                        episodes_per_shard=3, workers=1))
    return out


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_data, tmp_path_factory):
    from trainers.tokenizer import TrainTokenizerConfig, train

    out = tmp_path_factory.mktemp("tok")
    train(TrainTokenizerConfig(data=[str(tiny_data)], out=str(out), steps=150, batch_size=8, eval_every=150,
                               checkpoint_every=150, codebook_size=64, hidden=32))
    return out / "tokenizer.safetensors"


@pytest.fixture(scope="session")
def tiny_world_path(tiny_data, tiny_tokenizer, tmp_path_factory):
    from trainers.world import TrainWorldConfig, train

    out = tmp_path_factory.mktemp("world")
    train(TrainWorldConfig(data=[str(tiny_data)], tokenizer=str(tiny_tokenizer), out=str(out), steps=20, batch_size=8,
                           eval_every=20, checkpoint_every=20, lam_dim=32, dim=32, layers=1, bridge_labels=50,
                           start_states=64))
    return out


@pytest.fixture()
def tiny_world(tiny_world_path):
    from genie_env import load_world_model

    return load_world_model(tiny_world_path)


@pytest.fixture(scope="session")
def kill_once_written():
    """kill(command, path): run a script and SIGKILL it (no clean shutdown) as soon as `path` exists."""
    def kill(command: list, path, timeout: float = 60.0) -> None:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while not Path(path).exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    return kill
