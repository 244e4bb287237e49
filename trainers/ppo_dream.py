"""Train a PPO agent only inside the dream (GenieDream-v0), or, as the baseline, in the real MiniGrid env.

    python -m trainers.ppo_dream --world empty8 --steps 200000 --out runs/ppo-dream
    python -m trainers.ppo_dream --real-env MiniGrid-Empty-8x8-v0 --steps 200000 --out runs/ppo-real   # baseline

The dream agent acts in latent actions through the batched vector env (one forward pass for all worlds); the
baseline acts in the 7 real actions on the same 64x64 RGB frames with the same PPO settings. Writes
``OUT/policy.safetensors`` + ``OUT/policy.json`` (loadable without pickle), SB3's ``sb3_model.zip``,
``OUT/checkpoint.safetensors`` every --checkpoint-every steps (``--resume`` continues from it), ``OUT/curve.json``
(mean episode return against steps) and TensorBoard logs under ``OUT/tb``.
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from genie_env.agent import make_ppo, ppo_settings, save_agent
from genie_env.checkpoint import load_checkpoint, save_checkpoint
from genie_env.config import parse_config
from genie_env.io import atomic_write_json


@dataclass
class PPOConfig:
    world: str = "empty8"         # a shipped world's name or a world folder
    real_env: str = ""            # set to a MiniGrid id to train the baseline in the real env instead
    steps: int = 200_000
    num_envs: int = 16
    n_steps: int = 128            # rollout length per env between updates
    lr: float = 5e-4
    ent_coef: float = 0.01
    temperature: float = 0.0
    max_episode_steps: int = 256
    checkpoint_every: int = 50_000
    out: str = "runs/ppo-dream"
    seed: int = 0
    resume: bool = False


def make_env(config: PPOConfig):
    """An SB3 VecEnv: the batched dream, or the real env's 64x64 frames."""
    if not config.real_env:
        from genie_env.sb3 import GenieDreamSB3VecEnv

        return GenieDreamSB3VecEnv(num_envs=config.num_envs, seed=config.seed, world=config.world, device="auto",
                                   temperature=config.temperature, max_episode_steps=config.max_episode_steps)
    import gymnasium as gym
    import minigrid  # noqa: F401
    from minigrid.wrappers import ImgObsWrapper, RGBImgObsWrapper
    from stable_baselines3.common.env_util import make_vec_env

    def real(**_):
        env = gym.make(config.real_env, max_steps=config.max_episode_steps)
        return ImgObsWrapper(RGBImgObsWrapper(env, tile_size=8))

    return make_vec_env(real, n_envs=config.num_envs, seed=config.seed)


class Progress:
    """SB3 callback: a tqdm bar, the learning curve, and periodic resumable checkpoints."""

    def __init__(self, config: PPOConfig, start: int):
        from stable_baselines3.common.callbacks import BaseCallback
        from tqdm import tqdm

        outer = self

        class Callback(BaseCallback):
            def _on_step(self) -> bool:
                outer.bar.update(self.training_env.num_envs)
                for info in self.locals["infos"]:
                    if "episode" in info:
                        outer.returns.append(info["episode"]["r"])
                if self.num_timesteps - outer.last_checkpoint >= config.checkpoint_every:
                    outer.last_checkpoint = self.num_timesteps
                    save_checkpoint(Path(config.out) / "checkpoint.safetensors", self.model.policy,
                                    self.model.policy.optimizer, self.num_timesteps, asdict(config), outer.rng)
                return True

            def _on_rollout_end(self) -> None:
                if outer.returns:
                    recent = float(np.mean(outer.returns[-50:]))
                    outer.curve.append([int(self.num_timesteps), recent])
                    outer.bar.set_postfix(ret=f"{recent:.3f}")

        self.bar = tqdm(total=config.steps, initial=start, unit="step", desc="ppo")
        self.returns, self.curve, self.last_checkpoint = [], [], start
        self.rng = np.random.default_rng(config.seed)   # checkpoints carry a numpy RNG; PPO draws from torch
        self.callback = Callback()


def train(config: PPOConfig) -> dict:
    from stable_baselines3.common.vec_env import VecMonitor

    out = Path(config.out)
    checkpoint = out / "checkpoint.safetensors"
    if (out / "policy.json").exists() and not config.resume:
        raise ValueError(f"{out} already holds a trained agent; choose another --out")
    if checkpoint.exists() and not config.resume:
        raise ValueError(f"{out} already holds a training run; pass --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    env = VecMonitor(make_env(config))
    settings = ppo_settings(config.seed, config.n_steps, config.lr, config.ent_coef)
    model = make_ppo(env, settings, tensorboard_log=str(out / "tb"))
    if config.resume and checkpoint.exists():   # weights, optimizer and RNG from safetensors: no unpickling
        model.num_timesteps = load_checkpoint(checkpoint, model.policy, model.policy.optimizer, None)["step"]
    progress = Progress(config, model.num_timesteps)
    start = time.time()
    model.learn(total_timesteps=config.steps - model.num_timesteps, callback=progress.callback,
                reset_num_timesteps=False, progress_bar=False)
    progress.bar.close()
    seconds = time.time() - start
    info = {"config": asdict(config), "train_seconds": round(seconds, 1), "timesteps": int(model.num_timesteps),
            "trained_in": config.real_env or f"GenieDream-v0 world={config.world}"}
    save_agent(out, model, info)
    atomic_write_json(out / "curve.json", {"steps_vs_return": progress.curve, **info})
    env.close()
    return info


def main(argv=None) -> None:
    config = parse_config(PPOConfig, argv, __doc__)
    try:
        info = train(config)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
    print(f"ppo: {info['timesteps']} steps in {info['train_seconds']:.0f} s ({info['trained_in']}); saved {config.out}")


if __name__ == "__main__":
    main()
