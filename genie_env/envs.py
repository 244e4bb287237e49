"""GenieDream-v0: a learned MiniGrid world as a Gymnasium environment (single and batched)."""
from __future__ import annotations

import numpy as np
import torch
import gymnasium as gym
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from genie_env.dream import DreamCore, shared_world
from genie_env.frames import FRAME_SIZE, check_frames, render_frame

OBS_TYPES = ("rgb", "tokens")


class RealFrames(gym.ObservationWrapper):
    """A real MiniGrid env that observes what the dream shows: the 64x64 full-grid frame (genie_env.frames rule),
    so a policy can move between the dream and the real env, and baselines see the same pixels."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.observation_space = spaces.Box(0, 255, (FRAME_SIZE, FRAME_SIZE, 3), np.uint8)

    def observation(self, observation):
        return render_frame(self.env)


def _observation_space(world, obs_type: str) -> spaces.Box:
    if obs_type == "rgb":
        return spaces.Box(0, 255, (FRAME_SIZE, FRAME_SIZE, 3), np.uint8)
    if obs_type == "tokens":
        return spaces.Box(0, world.tokenizer.config.codebook_size - 1, (16, 16), np.int64)
    raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {obs_type!r}")


def _as_array(values) -> np.ndarray:
    """np.asarray, but a ragged sequence becomes an object array (refused as not integers) instead of numpy's error."""
    try:
        return np.asarray(values)
    except ValueError:
        return np.asarray(values, dtype=object)


def _start_frame(world, rng: np.random.Generator, options: dict | None) -> np.ndarray:
    if options and options.get("frame") is not None:
        return check_frames(options["frame"], "options['frame']", 3)
    if world.start_frames is None or not len(world.start_frames):
        raise ValueError("this world has no start frames; pass reset(options={'frame': image})")
    return world.start_frames[rng.integers(len(world.start_frames))]


class GenieDreamEnv(gym.Env):
    """
    ## Description
    A MiniGrid world dreamed by a learned world model: a VQ-VAE tokenizer, a latent action model that discovered
    the agent's actions from pixels alone, and a dynamics transformer that predicts the next frame. Nothing of the
    real MiniGrid runs: every frame after the first is imagined.

    ## Action Space
    `Discrete(K)`: the world's K latent actions (K = 8 for the shipped world). What each one does is read off the
    world's action bridge and reported in `info["meaning"]` (e.g. "left", "forward", "no-op").

    ## Observation Space
    `obs_type="rgb"`: `Box(0, 255, (64, 64, 3), uint8)`, the full-grid frame. `obs_type="tokens"`:
    `Box(0, codebook_size - 1, (16, 16), int64)`, the tokenizer codes of that frame.

    ## Rewards
    The reward head's prediction for the step (MiniGrid pays `1 - 0.9 * steps / max_steps` on reaching the goal).

    ## Episode End
    Terminated when the episode-end head predicts the episode ends (probability > 0.5); truncated after
    `max_episode_steps` steps (Gymnasium's `TimeLimit`, 256 by default).

    ## Arguments
    `world` (a shipped world's name or a path, default the shipped "empty8"), `device` ("auto": CUDA when present,
    else CPU), `obs_type` ("rgb" or "tokens"), `temperature` (0 = greedy dreams), `render_mode` (None,
    "rgb_array", "human"), `max_episode_steps` (through `gym.make`). `reset(options={"frame": image})` starts from
    a uint8 (64, 64, 3) prompt image instead of a real start frame from the world's bank.

    ## Version History
    * v0: first release.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 10}

    def __init__(self, world: str | None = None, device: str = "auto", obs_type: str = "rgb",
                 temperature: float = 0.0, render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.world = shared_world(world, device)
        self.obs_type, self.render_mode = obs_type, render_mode
        self.observation_space = _observation_space(self.world, obs_type)
        self.action_space = spaces.Discrete(self.world.num_actions)
        self.core = DreamCore(self.world, 1, temperature)
        self._started, self._closed, self._window = False, False, None

    def _obs(self):
        if self.obs_type == "rgb":
            return self.core.frames()[0].cpu().numpy()
        return self.core.tokens()[0].cpu().numpy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if self._closed:
            raise RuntimeError("reset() on a closed GenieDreamEnv; make a new one")
        frame = _start_frame(self.world, self.np_random, options)
        self.core.seed(int(self.np_random.integers(2**63 - 1)))
        self.core.reset(np.array([0]), frame[None])
        self._started = True
        if self.render_mode == "human":
            self.render()
        return self._obs(), {}

    def step(self, action):
        if self._closed:
            raise RuntimeError("step() on a closed GenieDreamEnv; make a new one")
        if not self._started:
            raise RuntimeError("step() before reset(): call env.reset() first")
        array = _as_array(action)
        if not np.issubdtype(array.dtype, np.integer) or array.shape not in ((), (1,)) \
                or not 0 <= int(array.reshape(())) < self.action_space.n:
            raise ValueError(f"action must be an integer in [0, {self.action_space.n - 1}] (Discrete({self.action_space.n})), got {action!r}")
        latent = torch.tensor([int(array.reshape(()))], device=self.world.device)
        reward, ended, effect = self.core.step(latent)
        meaning, env_action = self.core.describe(effect)
        info = {"latent_action": int(latent[0]), "meaning": meaning[0], "env_action": env_action[0]}
        if self.render_mode == "human":
            self.render()
        return self._obs(), float(reward[0]), bool(ended[0]), False, info

    def render(self):
        if not self._started:
            return None
        frame = self.core.frames()[0].cpu().numpy()
        if self.render_mode == "human":
            from genie_env.play import show_frame

            self._window = show_frame(self._window, frame, self.metadata["render_fps"])
            return None
        return frame

    def get_keys_to_action(self) -> dict:
        """Keys for `gymnasium.utils.play.play`: number keys pick raw latents; arrows use the bridge's meanings."""
        import pygame

        keys = {(ord(str(k)),): k for k in range(min(self.action_space.n, 10))}
        if self.world.bridge is not None and self.world.start_frames is not None:
            meanings = self.world.latent_meanings(self.world.start_frames[0])
            for key, name in ((pygame.K_LEFT, "left"), (pygame.K_RIGHT, "right"), (pygame.K_UP, "forward")):
                if name in meanings:
                    keys[(key,)] = meanings.index(name)
        return keys

    def close(self):
        if self._window is not None:
            self._window.close()
            self._window = None
        self._closed, self._started = True, False


class GenieDreamVectorEnv(VectorEnv):
    """N dreamed worlds stepped in one forward pass, with Gymnasium 1.x next-step autoreset."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, world: str | None = None, device: str = "auto", obs_type: str = "rgb",
                 temperature: float = 0.0, max_episode_steps: int | None = 256, render_mode: str | None = None):
        self.world = shared_world(world, device)
        self.num_envs, self.obs_type, self.render_mode = num_envs, obs_type, render_mode
        self.max_episode_steps = max_episode_steps
        self.single_observation_space = _observation_space(self.world, obs_type)
        self.single_action_space = spaces.Discrete(self.world.num_actions)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.core = DreamCore(self.world, num_envs, temperature)
        self.elapsed = np.zeros(num_envs, np.int64)
        self.needs_reset = np.zeros(num_envs, bool)
        self._started, self._closed = False, False

    def _obs(self):
        return (self.core.frames() if self.obs_type == "rgb" else self.core.tokens()).cpu().numpy()

    def _restart(self, index: np.ndarray, options: dict | None) -> None:
        frames = np.stack([_start_frame(self.world, self.np_random, options) for _ in index])
        self.core.reset(index, frames)
        self.elapsed[index] = 0
        self.needs_reset[index] = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if self._closed:
            raise RuntimeError("reset() on a closed GenieDreamVectorEnv; make a new one")
        self.core.seed(int(self.np_random.integers(2**63 - 1)))
        self._restart(np.arange(self.num_envs), options)
        self._started = True
        return self._obs(), {}

    def step(self, actions):
        if self._closed:
            raise RuntimeError("step() on a closed GenieDreamVectorEnv; make a new one")
        if not self._started:
            raise RuntimeError("step() before reset(): call envs.reset() first")
        actions = _as_array(actions)
        if actions.shape != (self.num_envs,) or not np.issubdtype(actions.dtype, np.integer) \
                or actions.min() < 0 or actions.max() >= self.single_action_space.n:
            raise ValueError(f"actions must be {self.num_envs} integers in [0, {self.single_action_space.n - 1}], "
                             f"got shape {actions.shape} dtype {actions.dtype}")
        restarting = np.flatnonzero(self.needs_reset)
        reward, ended, effect = self.core.step(torch.from_numpy(actions.astype(np.int64)).to(self.world.device))
        self.elapsed += 1
        terminated = ended.cpu().numpy()
        truncated = ~terminated & (self.elapsed >= self.max_episode_steps) if self.max_episode_steps else np.zeros_like(terminated)
        reward = reward.cpu().numpy().astype(np.float64)
        if len(restarting):  # next-step autoreset: these worlds ignore the action and start afresh
            self._restart(restarting, None)
            reward[restarting], terminated[restarting], truncated[restarting] = 0.0, False, False
        self.needs_reset = terminated | truncated
        meaning, env_action = self.core.describe(effect)
        info = {"latent_action": actions.astype(np.int64), "meaning": np.array(meaning, dtype=object),
                "env_action": np.array(env_action, dtype=object)}
        return self._obs(), reward, terminated, truncated, info

    def render(self):
        return self.core.frames().cpu().numpy() if self._started else None

    def close_extras(self, **kwargs):
        self._closed, self._started = True, False
