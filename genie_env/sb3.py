"""Stable-Baselines3 adapter: SB3 takes its own VecEnv, not Gymnasium's VectorEnv (SB3 issues #1568, #1745)."""
from __future__ import annotations

import numpy as np
import torch
from stable_baselines3.common.vec_env import VecEnv

from genie_env.envs import GenieDreamVectorEnv


class GenieDreamSB3VecEnv(VecEnv):
    """GenieDreamVectorEnv as an SB3 VecEnv: one forward pass for all worlds, SB3's reset-on-done semantics.
    Keyword arguments go to GenieDreamVectorEnv (`actions="env"` included); observations are numpy, as SB3 reads."""

    def __init__(self, num_envs: int = 8, seed: int | None = None, **kwargs):
        if kwargs.get("obs_backend", "numpy") != "numpy":
            raise ValueError("SB3 reads numpy observations: GenieDreamSB3VecEnv takes no obs_backend but 'numpy'")
        self.envs = GenieDreamVectorEnv(num_envs=num_envs, **kwargs)
        super().__init__(num_envs, self.envs.single_observation_space, self.envs.single_action_space)
        self._seed, self._actions = seed, None

    def reset(self):
        obs, _ = self.envs.reset(seed=self._seed)
        self._seed = None
        return obs

    def step_async(self, actions) -> None:
        self._actions = np.asarray(actions).reshape(self.num_envs)   # checked by the vector env: integers only

    def step_wait(self):
        obs, rewards, terminated, truncated, info = self.envs.step(self._actions)
        dones = terminated | truncated
        # SB3's VecEnv interface is a list of dicts, one per env
        infos = [{"latent_action": int(info["latent_action"][i]), "meaning": info["meaning"][i],
                  "env_action": info["env_action"][i], "TimeLimit.truncated": bool(truncated[i] and not terminated[i])}
                 for i in range(self.num_envs)]
        done_index = np.flatnonzero(dones)
        if len(done_index):  # SB3 resets at once and hands back the last frame as terminal_observation
            for i in done_index:
                infos[i]["terminal_observation"] = obs[i].copy()
            self.envs.restart(torch.from_numpy(dones).to(self.envs.device))
            obs = self.envs.observations()
        return obs, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.envs.close()

    def get_attr(self, attr_name, indices=None):
        return [getattr(self.envs, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name, value, indices=None) -> None:
        setattr(self.envs, attr_name, value)

    def env_method(self, method_name, *method_args, indices=None, **method_kwargs):
        return [getattr(self.envs, method_name)(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [False for _ in self._get_indices(indices)]

    def get_images(self):
        return list(self.envs.render())

    def seed(self, seed=None):
        self._seed = seed
        return [seed] * self.num_envs
