"""GenieDream-v0: a learned MiniGrid world as a Gymnasium environment (single and batched)."""
from __future__ import annotations

import warnings

import numpy as np
import torch
import gymnasium as gym
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from genie_env.dream import DreamCore, shared_world
from genie_env.frames import FRAME_SIZE, check_frames, psnr
from genie_env.world import ENV_ACTION_NAMES

OBS_TYPES = ("rgb", "tokens")
ACTION_KINDS = ("latent", "env")     # the world's latent actions, or MiniGrid's own through the bridge
OBS_BACKENDS = ("numpy", "torch")    # torch: tensors on the world's device, as GPU-simulated envs hand back


def _observation_space(world, obs_type: str) -> spaces.Box:
    if obs_type == "rgb":
        return spaces.Box(0, 255, (FRAME_SIZE, FRAME_SIZE, 3), np.uint8)
    if obs_type == "tokens":
        return spaces.Box(0, world.tokenizer.config.codebook_size - 1, (16, 16), np.int64)
    raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {obs_type!r}")


def _action_space(world, actions: str) -> spaces.Discrete:
    if actions == "latent":
        return spaces.Discrete(world.num_actions)
    if actions == "env":
        if world.bridge is None:
            raise ValueError("actions='env' needs a world with an action bridge; this world has none")
        return spaces.Discrete(len(ENV_ACTION_NAMES))
    raise ValueError(f"actions must be one of {ACTION_KINDS}, got {actions!r}")


def prompt_fit(prompt: np.ndarray, drawn: np.ndarray) -> dict:
    """How well a world drew the prompt it was started from: the PSNR of what it shows against the prompt and the
    share of 4x4 patches it had to draw otherwise (0 for a real frame of its own env). A prompt from another env
    (FourRooms, Empty-16x16 given to empty8) is read as the nearest tiles the world knows; a warning says so."""
    changed = (prompt.reshape(16, 4, 16, 4, 3) != drawn.reshape(16, 4, 16, 4, 3)).any(axis=(1, 3, 4)).mean()
    fit = {"prompt_psnr": float(psnr(prompt, drawn)), "prompt_patches_redrawn": float(changed)}
    if changed:
        warnings.warn(f"the prompt frame is not one this world can draw: {changed:.1%} of its 4x4 patches were "
                      f"redrawn as the nearest the world knows ({fit['prompt_psnr']:.1f} dB); is it a frame of the "
                      f"world's env?", stacklevel=3)
    return fit


def _as_array(values) -> np.ndarray:
    """np.asarray, but a ragged sequence becomes an object array (refused as not integers) instead of numpy's error."""
    try:
        return np.asarray(values)
    except ValueError:
        return np.asarray(values, dtype=object)


def _check_memo(memo) -> None:
    if isinstance(memo, bool) or not isinstance(memo, (int, np.integer)) or memo < 0:
        raise ValueError(f"memo must be an integer >= 0 (greedy steps remembered; 0: none), got {memo!r}")


class GenieDreamEnv(gym.Env):
    """
    ## Description
    A MiniGrid world dreamed by a learned world model: a VQ-VAE tokenizer, a latent action model that discovered
    the agent's actions from pixels alone, and a dynamics transformer that predicts the next frame. Nothing of the
    real MiniGrid runs: every frame after the first is imagined.

    ## Action Space
    `actions="latent"` (default): `Discrete(K)`, the world's K latent actions (K = 8 for the shipped worlds: 0..6
    anchored to MiniGrid's 7 actions, 7 "nothing changed"). What each step did is read off the world's action
    bridge and reported in `info["meaning"]` (e.g. "left", "forward", or "does nothing here" where the frame did
    not change) and `info["env_action"]` (the real env action with that effect). `actions="env"`: `Discrete(7)`,
    MiniGrid's own actions in its order (left, right, forward, pickup, drop, toggle, done); each step the bridge
    picks the latent that does the action in the dream's own context (issue 10), reported in
    `info["latent_action"]`; a step that changed nothing reports the action asked as its `env_action`.

    ## Observation Space
    `obs_type="rgb"`: `Box(0, 255, (64, 64, 3), uint8)`, the full-grid frame. `obs_type="tokens"`:
    `Box(0, codebook_size - 1, (16, 16), int64)`, the tokenizer codes of that frame.

    ## Rewards
    As MiniGrid pays: on reaching the goal `1 - 0.9 * t / T`, t the steps since `reset()` counted by the env and T
    the real env's own limit (e.g. 640 for DoorKey-8x8), where the world's episode-end and reward heads say the
    goal was reached; 0 elsewhere. Worlds made before the time rule pay their reward head's (clipped) value.

    ## Episode End
    Terminated when the episode-end head predicts the episode ends (probability > 0.5); truncated after
    `max_episode_steps` steps (Gymnasium's `TimeLimit`, 256 by default).

    ## Arguments
    `world` (a shipped world's name or a path, default the shipped "empty8"), `device` ("auto": CUDA when present,
    else CPU), `obs_type` ("rgb" or "tokens"), `actions` ("latent" or "env"), `temperature` (0 = greedy dreams),
    `render_mode` (None, "rgb_array", "human"), `max_episode_steps` (through `gym.make`), `memo` (greedy steps
    remembered on the CPU, 32768 by default, 0: none; a state seen before costs a lookup, not a forward pass:
    `genie_env.memo`). `reset(options={"frame": image})` starts from
    a uint8 (64, 64, 3) prompt image instead of a real start frame from the world's bank.

    ## Version History
    * v0: first release; `actions="env"` added without a version bump (the default is unchanged).
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 10}

    def __init__(self, world: str | None = None, device: str = "auto", obs_type: str = "rgb",
                 temperature: float = 0.0, render_mode: str | None = None, actions: str = "latent",
                 memo: int = 32768):
        _check_memo(memo)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.world = shared_world(world, device)
        self.obs_type, self.render_mode, self.actions = obs_type, render_mode, actions
        self.observation_space = _observation_space(self.world, obs_type)
        self.action_space = _action_space(self.world, actions)
        self.core = DreamCore(self.world, 1, temperature, memo=memo)
        self._started, self._closed, self._window = False, False, None

    def observations(self):
        if self.obs_type == "rgb":
            return self.core.frames()[0].cpu().numpy()
        return self.core.tokens()[0].cpu().numpy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if self._closed:
            raise RuntimeError("reset() on a closed GenieDreamEnv; make a new one")
        info = {}
        if options and options.get("frame") is not None:
            prompt = check_frames(options["frame"], "options['frame']", 3)
            self.core.reset(np.array([0]), prompt[None])
            info = prompt_fit(prompt, self.core.frames()[0].cpu().numpy())
        else:
            self.core.start(np.array([0]), self.np_random.integers(len(self.core.start_ids), size=1))
        self.core.seed(int(self.np_random.integers(2**63 - 1)))
        self._started = True
        if self.render_mode == "human":
            self.render()
        return self.observations(), info

    def step(self, action):
        if self._closed:
            raise RuntimeError("step() on a closed GenieDreamEnv; make a new one")
        if not self._started:
            raise RuntimeError("step() before reset(): call env.reset() first")
        array = _as_array(action)
        if not np.issubdtype(array.dtype, np.integer) or array.shape not in ((), (1,)) \
                or not 0 <= int(array.reshape(())) < self.action_space.n:
            raise ValueError(f"action must be an integer in [0, {self.action_space.n - 1}] (Discrete({self.action_space.n})), got {action!r}")
        action = int(array.reshape(()))
        asked = torch.tensor([action], device=self.world.device) if self.actions == "env" else None
        if asked is not None:   # the latent that does it here, and its dreamed step taken as it was read
            latents, reward, ended, effect = self.core.step_env(asked)
            latent = int(latents[0])
        else:
            latent = action
            reward, ended, effect = self.core.step(torch.tensor([latent], device=self.world.device))
        meaning, env_action = self.core.describe(effect, asked)
        info = {"latent_action": latent, "meaning": meaning[0], "env_action": env_action[0]}
        if self.render_mode == "human":
            self.render()
        return self.observations(), float(reward[0]), bool(ended[0]), False, info

    def render(self):
        if not self._started:
            return None
        frame = self.core.frames()[0].cpu().numpy()
        if self.render_mode == "human":
            from genie_env.window import show_frame

            self._window = show_frame(self._window, frame, self.metadata["render_fps"])
            return None
        return frame

    def latent_for(self, env_action: int) -> int:
        """The latent that does real env action `env_action` (0..6) now, read by the bridge in the dream's own
        context: the path `actions="env"` steps take, and play's arrow keys."""
        if not self._started:
            raise RuntimeError("latent_for() before reset(): call env.reset() first")
        if isinstance(env_action, bool) or not isinstance(env_action, (int, np.integer)) \
                or not 0 <= env_action < len(ENV_ACTION_NAMES):
            raise ValueError(f"env_action must be a MiniGrid action in [0, {len(ENV_ACTION_NAMES) - 1}] "
                             f"({', '.join(ENV_ACTION_NAMES)}), got {env_action!r}")
        return int(self.core.latents_for(np.array([env_action]))[0])

    def get_keys_to_action(self) -> dict:
        """Keys for `gymnasium.utils.play.play`: number keys pick raw latents; arrows use the bridge's meanings.
        With `actions="env"`: arrows turn and move, P / D / T pick up, drop, toggle (as in genie_env.play)."""
        import pygame

        if self.actions == "env":
            from genie_env.window import ENV_ACTION_KEYS

            return {(getattr(pygame, name),): action for name, action in ENV_ACTION_KEYS.items()}
        keys = {(ord(str(k)),): k for k in range(min(self.action_space.n, 10))}
        if self.world.bridge is not None and self.world.start_ids is not None and len(self.world.start_ids):
            meanings = self.world.latent_meanings(self.world.start_frame(0))
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
    """N dreamed worlds stepped in one forward pass, with Gymnasium 1.x next-step autoreset.

    The batch lives on the world's device: context ids, step counts, done flags, the start-frame bank and the
    autoreset draws (the core's torch generator, seeded from `np_random`), and `step` runs no Python loop over
    worlds. `obs_backend="numpy"` (default, for Gymnasium and SB3 users) copies observations, rewards and flags
    to numpy at the edge; `obs_backend="torch"` hands back the tensors on the device, as GPU-simulated envs
    (ManiSkill3, Isaac Lab) do, with float32 rewards and an `info` of tensors ("latent_action", and with a
    bridge "effect" and "env_action"). Actions may be numpy arrays or tensors on any device. The spaces stay
    Gymnasium's numpy spaces, as with `gymnasium.wrappers.vector.NumpyToTorch`.

    Arguments as GenieDreamEnv's, and `num_envs`, `max_episode_steps` (None: never truncate), `obs_backend`,
    `compile_mode` and `precision` (speed on a GPU; see `genie_env.dream.DreamCore`).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, world: str | None = None, device: str = "auto", obs_type: str = "rgb",
                 temperature: float = 0.0, max_episode_steps: int | None = 256, render_mode: str | None = None,
                 actions: str = "latent", obs_backend: str = "numpy", compile_mode: str | None = None,
                 precision: str = "float32", memo: int = 32768):
        _check_memo(memo)
        if obs_backend not in OBS_BACKENDS:
            raise ValueError(f"obs_backend must be one of {OBS_BACKENDS}, got {obs_backend!r}")
        self.world = shared_world(world, device)
        self.device = self.world.device
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        if max_episode_steps is not None and (isinstance(max_episode_steps, bool)
                                              or not isinstance(max_episode_steps, (int, np.integer))):
            raise ValueError(f"max_episode_steps must be an integer or None, got {max_episode_steps!r}")
        self.num_envs, self.obs_type, self.render_mode = num_envs, obs_type, render_mode
        self.actions, self.obs_backend = actions, obs_backend
        if max_episode_steps == 0:   # as gym.make: 0 is refused, None or a negative number means no limit
            raise ValueError("max_episode_steps must be positive, or None or -1 for no limit; got 0")
        self.max_episode_steps = max_episode_steps if max_episode_steps is not None and max_episode_steps > 0 else None
        self.single_observation_space = _observation_space(self.world, obs_type)
        self.single_action_space = _action_space(self.world, actions)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.core = DreamCore(self.world, num_envs, temperature, compile_mode, precision, memo)
        self.needs_reset = torch.zeros(num_envs, dtype=torch.bool, device=self.device)
        self._started, self._closed = False, False

    def _edge(self, tensor: torch.Tensor):
        """A batch tensor as this env hands it back: itself (torch backend) or a numpy array."""
        return tensor if self.obs_backend == "torch" else tensor.cpu().numpy()

    def observations(self):
        return self._edge(self.core.frames() if self.obs_type == "rgb" else self.core.tokens())

    def restart(self, mask: torch.Tensor) -> None:
        """Start the worlds where `mask` (N,) bool is set afresh from the start-frame bank, on the device."""
        self.core.restart(mask)
        self.needs_reset = self.needs_reset & ~mask

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if self._closed:
            raise RuntimeError("reset() on a closed GenieDreamVectorEnv; make a new one")
        self.core.seed(int(self.np_random.integers(2**63 - 1)))
        info = {}
        if options and options.get("frame") is not None:   # every world starts from the given image
            prompt = check_frames(options["frame"], "options['frame']", 3)
            self.core.reset(np.arange(self.num_envs), prompt[None])
            self.needs_reset.zero_()
            fit = prompt_fit(prompt, self.core.frames()[0].cpu().numpy())
            info = {k: np.full(self.num_envs, v) for k, v in fit.items()}
        else:
            self.restart(torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        self._started = True
        return self.observations(), info

    def _check_actions(self, actions) -> torch.Tensor:
        """Actions (N,) of integers in the action space, as a numpy array, a list or a tensor -> int64 on the device."""
        n, high = self.num_envs, self.single_action_space.n
        if torch.is_tensor(actions):
            shape, dtype = tuple(actions.shape), actions.dtype
            valid = shape == (n,) and not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool) \
                and bool(((actions >= 0) & (actions < high)).all())
        else:
            actions = _as_array(actions)
            shape, dtype = actions.shape, actions.dtype
            valid = shape == (n,) and np.issubdtype(dtype, np.integer) and actions.min() >= 0 and actions.max() < high
            actions = torch.from_numpy(actions.astype(np.int64)) if valid else actions
        if not valid:
            raise ValueError(f"actions must be {n} integers in [0, {high - 1}], got shape {shape} dtype {dtype}")
        return actions.to(self.device, torch.long)

    def step(self, actions):
        if self._closed:
            raise RuntimeError("step() on a closed GenieDreamVectorEnv; make a new one")
        if not self._started:
            raise RuntimeError("step() before reset(): call envs.reset() first")
        actions = self._check_actions(actions)
        if self.actions == "env":
            latents, reward, terminated, effect = self.core.step_env(actions)
        else:
            latents = actions
            reward, terminated, effect = self.core.step(latents)
        asked = actions if self.actions == "env" else None
        restarting = self.needs_reset   # next-step autoreset: these worlds ignore the action and start afresh
        self.restart(restarting)   # their step count starts again at 0 (the core counts every world's steps)
        terminated = terminated & ~restarting
        truncated = ~terminated & ~restarting & (self.core.elapsed >= self.max_episode_steps) if self.max_episode_steps \
            else torch.zeros_like(terminated)
        reward = torch.where(restarting, 0.0, reward)
        self.needs_reset = terminated | truncated
        return (self.observations(), self._edge(reward if self.obs_backend == "torch" else reward.double()),
                self._edge(terminated), self._edge(truncated), self._info(latents, effect, asked))

    def _info(self, latents: torch.Tensor, effect: torch.Tensor | None, asked: torch.Tensor | None) -> dict:
        """Per-world step facts as arrays (tensors for the torch backend, names only for numpy). `asked`: the env
        actions stepped (actions="env"), each the env action of a step that changed nothing."""
        if self.obs_backend == "torch":
            info = {"latent_action": latents}
            if effect is not None:
                info.update(effect=effect, env_action=self.core.env_actions(effect, asked))
            return info
        meaning, env_action = self.core.describe(effect, asked)
        return {"latent_action": latents.cpu().numpy(), "meaning": meaning, "env_action": env_action}

    def render(self):
        return self.core.frames().cpu().numpy() if self._started else None

    def close_extras(self, **kwargs):
        self._closed, self._started = True, False
