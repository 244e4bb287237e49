"""Agents for the dream: the policy network, and saving/loading a trained policy without pickle.

SB3 zips hold cloudpickled objects (schedules, spaces), so besides the zip every agent is also written as
``policy.safetensors`` (the policy's weights) + ``policy.json`` (the settings that rebuild it); loading an agent
for evaluation reads only those two files.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from genie_env.checkpoint import check_value
from genie_env.io import atomic_write_json, load_tensors, read_json, save_tensors

AGENT_FORMAT_VERSION = 1


class TileCNN(BaseFeaturesExtractor):
    """SB3 features extractor for 64x64 MiniGrid frames: one 8x8-stride-8 convolution reads each grid tile
    (MiniGrid draws 8-pixel tiles), a 1x1 convolution mixes a tile's features, and a linear layer sees the board.
    Cheaper on a CPU than SB3's NatureCNN and aligned with what the frame is made of."""

    def __init__(self, observation_space: spaces.Box, features_dim: int = 256, tile_channels: int = 32):
        super().__init__(observation_space, features_dim)
        channels = observation_space.shape[0]
        self.tiles = nn.Sequential(nn.Conv2d(channels, tile_channels, 8, stride=8), nn.ReLU(),
                                   nn.Conv2d(tile_channels, tile_channels, 1), nn.ReLU(), nn.Flatten())
        with torch.no_grad():
            flat = self.tiles(torch.zeros(1, *observation_space.shape)).shape[1]
        self.head = nn.Sequential(nn.Linear(flat, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.head(self.tiles(observations))   # SB3 passes images as float (B, 3, 64, 64) in [0, 1]


class LinearDecay:
    """Learning rate that falls linearly to 0 over the run (SB3 passes the share of training left, 1 -> 0). It
    follows the run's total steps, so a resumed run continues the same schedule. Without it the last updates at
    full rate could turn a greedy policy that solved the task into one that turns in place."""

    def __init__(self, start: float):
        self.start = start

    def __call__(self, remaining: float) -> float:
        return self.start * remaining


def ppo_settings(seed: int, n_steps: int, learning_rate: float, ent_coef: float, anneal: bool = True) -> dict:
    """The PPO hyper-parameters shared by the dream-trained agent and the real-env baseline."""
    return {"n_steps": n_steps, "batch_size": 256, "n_epochs": 4, "gamma": 0.99, "gae_lambda": 0.95,
            "learning_rate": LinearDecay(learning_rate) if anneal else learning_rate, "ent_coef": ent_coef,
            "clip_range": 0.2, "seed": seed,
            "policy_kwargs": {"features_extractor_class": TileCNN, "normalize_images": True}}


def make_ppo(env, settings: dict, tensorboard_log: str | None = None, device: str = "cpu"):
    from stable_baselines3 import PPO

    return PPO("CnnPolicy", env, tensorboard_log=tensorboard_log, device=device, verbose=0, **settings)


def save_agent(folder, model, info: dict) -> None:
    """Write policy.safetensors + policy.json (and SB3's own zip, for SB3 users)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_policy(folder, model.policy.state_dict(), int(model.action_space.n), model.observation_space.shape, info)
    model.save(folder / "sb3_model.zip")


def write_policy(folder, state_dict: dict, num_actions: int, observation_shape, info: dict) -> None:
    """policy.safetensors (the weights) + policy.json (what rebuilds it), the agent format every trainer writes."""
    folder = Path(folder)
    save_tensors(folder / "policy.safetensors", {k: v.cpu() for k, v in state_dict.items()})
    atomic_write_json(folder / "policy.json", {"format": "genie-agent", "version": AGENT_FORMAT_VERSION,
                                               "num_actions": int(num_actions),
                                               "observation_shape": list(observation_shape), "info": info})


def check_agent_info(info: dict, source) -> None:
    """What evaluations read of an agent's info, each of its type: config.world (the dream it trained in, or ""
    beside a non-empty config.real_env), config.actions, trained_in, train_seconds, timesteps."""
    config = check_value(info.get("config"), f"{source}: info.config", dict)
    for key in ("world", "real_env"):
        if not isinstance(config.get(key, ""), str):
            raise ValueError(f"{source}: info.config.{key} must be a string, got {config.get(key)!r}")
    if not config.get("world") and not config.get("real_env"):
        raise ValueError(f"{source}: info.config names neither the world it trained in (world) nor a real env (real_env)")
    if config.get("actions", "latent") not in ("latent", "env"):
        raise ValueError(f"{source}: info.config.actions must be 'latent' or 'env', got {config.get('actions')!r}")
    if not isinstance(info.get("trained_in"), str):
        raise ValueError(f"{source}: info.trained_in must be a string, got {info.get('trained_in')!r}")
    check_value(info.get("train_seconds"), f"{source}: info.train_seconds", float, 0.0, 1e9)
    check_value(info.get("timesteps"), f"{source}: info.timesteps", int, 0, 10**15)


class Agent:
    """A trained policy loaded from policy.safetensors + policy.json (no unpickling). Frames in, actions out."""

    def __init__(self, folder):
        from stable_baselines3.common.policies import ActorCriticCnnPolicy

        folder = Path(folder)
        if folder.is_file():
            raise ValueError(f"{folder}: --agent is the agent's folder (with policy.json and policy.safetensors), "
                             f"not a file in it")
        meta = read_json(folder / "policy.json")
        source = folder / "policy.json"
        if meta.get("format") != "genie-agent" or not isinstance(meta.get("version"), int) \
                or meta["version"] > AGENT_FORMAT_VERSION:
            raise ValueError(f"{source}: not a GenieDream agent of a version this library reads")
        # checked before the network is built: num_actions sizes its last layer (issue 12)
        self.num_actions = check_value(meta.get("num_actions"), f"{source}: num_actions", int, 1, 256)
        # SB3 trains CNN policies on channel-first images, so the stored shape is (3, 64, 64)
        if meta.get("observation_shape") != [3, 64, 64]:
            raise ValueError(f"{source}: observation_shape must be [3, 64, 64], got {meta.get('observation_shape')!r}")
        self.info = check_value(meta.get("info"), f"{source}: info", dict)
        check_agent_info(self.info, source)
        observation_space = spaces.Box(0, 255, tuple(meta["observation_shape"]), np.uint8)
        self.policy = ActorCriticCnnPolicy(observation_space, spaces.Discrete(self.num_actions), lambda _: 0.0,
                                           features_extractor_class=TileCNN, normalize_images=True)
        tensors, _ = load_tensors(folder / "policy.safetensors")
        expected = self.policy.state_dict()
        if set(tensors) != set(expected) or any(tensors[k].shape != expected[k].shape for k in expected):
            raise ValueError(f"{folder / 'policy.safetensors'}: weights do not fit the policy network")
        self.policy.load_state_dict(tensors)
        self.policy.set_training_mode(False)

    def act(self, frames: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """uint8 frames (N, 64, 64, 3) -> actions (N,)."""
        actions, _ = self.policy.predict(frames, deterministic=deterministic)
        return np.asarray(actions, dtype=np.int64)
