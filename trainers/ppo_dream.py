"""Train a PPO agent only inside the dream (GenieDream-v0), or, as the baseline, in the real MiniGrid env.

    python -m trainers.ppo_dream --world empty8 --steps 200000 --out runs/ppo-dream
    python -m trainers.ppo_dream --real-env MiniGrid-Empty-8x8-v0 --steps 200000 --out runs/ppo-real   # baseline

The dream agent acts in latent actions through the batched vector env (one forward pass for all worlds); the
baseline acts in the 7 real actions on the same 64x64 RGB frames with the same PPO settings. Writes
``OUT/policy.safetensors`` + ``OUT/policy.json`` (loadable without pickle), SB3's ``sb3_model.zip``,
``OUT/checkpoint.safetensors`` every --checkpoint-every steps (``--resume`` continues from it), ``OUT/curve.json``
(the learning curve: mean training return, and every --eval-every steps the greedy policy's return and success in
the real env and in the dream, and the real success of the policy sampling its actions as PPO trains it) and
TensorBoard logs under ``OUT/tb``. The baseline is measured in the dream too, its env actions mapped to latents by
the world's bridge; the dream and the real env must be of the same game (--eval-env defaults to the world's env).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from genie_env.agent import make_ppo, ppo_settings, save_agent
from genie_env.checkpoint import check_resume, load_checkpoint, save_checkpoint
from genie_env.config import parse_config, run_cli
from genie_env.frames import check_minigrid_env
from genie_env.io import atomic_write_json, read_json
from genie_lab.agents import check_same_game, real_time_limit, run_dream_episodes, run_real_episodes


@dataclass
class PPOConfig:
    world: str = "empty8"         # a shipped world's name or a world folder
    real_env: str = ""            # set to a MiniGrid id to train the baseline in the real env instead
    actions: str = "latent"       # the dream's action space: its latents, or "env" (MiniGrid's, through the bridge)
    steps: int = 200_000
    num_envs: int = 16
    n_steps: int = 128            # rollout length per env between updates
    lr: float = 5e-4
    anneal_lr: bool = True        # lr falls linearly to 0 over --steps
    ent_coef: float = 0.01
    ent_coef_final: float = -1.0  # >= 0: the entropy bonus falls linearly from --ent-coef to this over --steps, so the
                                  # policy ends sure of itself and acting greedily does what sampling did (-1: constant)
    temperature: float = 0.0
    max_episode_steps: int = 256
    checkpoint_every: int = 50_000
    eval_every: int = 25_000      # measure the greedy policy in the real env and in the dream this often (0: never)
    eval_episodes: int = 10
    eval_env: str = ""            # the real env a dream agent is measured in (default: its world's; the baseline: its own)
    out: str = "runs/ppo-dream"
    seed: int = 0
    resume: bool = False


# --resume may change these: they change how the run is measured and saved, not what it trains (a changed --steps
# would re-point the falling learning rate, so it is refused like every other hyper-parameter)
RESUME_FREE = ("resume", "checkpoint_every", "eval_every", "eval_episodes", "eval_env")


def make_env(config: PPOConfig):
    """An SB3 VecEnv: the batched dream, or the real env's 64x64 frames."""
    if not config.real_env:
        from genie_env.sb3 import GenieDreamSB3VecEnv

        return GenieDreamSB3VecEnv(num_envs=config.num_envs, seed=config.seed, world=config.world, device="auto",
                                   temperature=config.temperature, max_episode_steps=config.max_episode_steps,
                                   actions=config.actions)
    import gymnasium as gym
    import minigrid  # noqa: F401
    from stable_baselines3.common.env_util import make_vec_env

    from genie_env.frames import RealFrames

    def real(**_):
        return RealFrames(gym.make(config.real_env, max_steps=config.max_episode_steps))

    return make_vec_env(real, n_envs=config.num_envs, seed=config.seed)


def measure(config: PPOConfig, policy, world) -> dict:
    """What the curve records: the greedy policy's return and success in the real env and its return in the dream,
    and the success in the real env of the policy as PPO trains it (sampling its actions)."""
    import torch

    env_actions = bool(config.real_env) or config.actions == "env"     # the agent speaks MiniGrid's actions
    real_env, bridge = config.real_env or config.eval_env, None if env_actions else world
    greedy = lambda frames: policy.predict(frames, deterministic=True)[0]     # noqa: E731
    sampled = lambda frames: policy.predict(frames, deterministic=False)[0]   # noqa: E731
    real = run_real_episodes(greedy, bridge, real_env, config.eval_episodes, seed=100_000)
    with torch.random.fork_rng(devices=[]):   # sampling here leaves training's random stream as it was
        torch.manual_seed(config.seed)
        real_sampled = run_real_episodes(sampled, bridge, real_env, config.eval_episodes, seed=100_000)
    dream = run_dream_episodes(greedy, config.world, config.eval_episodes, seed=config.seed, env_actions=env_actions,
                               temperature=config.temperature, max_episode_steps=real_time_limit(real_env))
    return {"real_return": real["mean_return"], "real_success": real["success_rate"],
            "real_success_sampled": real_sampled["success_rate"], **dream}


class Progress:
    """SB3 callback: a tqdm bar, the learning curve, periodic measurements and resumable checkpoints."""

    def __init__(self, config: PPOConfig, start: int, curve: list):
        from stable_baselines3.common.callbacks import BaseCallback
        from tqdm import tqdm

        from genie_env.dream import shared_world

        outer = self
        self.world = None if config.real_env else shared_world(config.world, "auto")   # the training env's copy

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
                    atomic_write_json(Path(config.out) / "curve.json", {"curve": outer.curve})   # resumes with it
                return True

            def _on_rollout_end(self) -> None:
                if config.ent_coef_final >= 0:   # set for the update that follows this rollout
                    done = min(1.0, self.num_timesteps / config.steps)
                    self.model.ent_coef = config.ent_coef + (config.ent_coef_final - config.ent_coef) * done
                point = {"step": int(self.num_timesteps)}
                if outer.returns:
                    point["train_return"] = float(np.mean(outer.returns[-50:]))
                    outer.bar.set_postfix(ret=f"{point['train_return']:.3f}")
                if config.eval_every and self.num_timesteps - outer.last_eval >= config.eval_every:
                    outer.last_eval = self.num_timesteps
                    point.update(outer.measure(self.model.policy))
                outer.curve.append(point)

        def measure_timed(policy) -> dict:
            began = time.time()
            point = measure(config, policy, self.world)
            self.eval_seconds += time.time() - began
            return point

        self.bar = tqdm(total=config.steps, initial=start, unit="step", desc="ppo")
        self.returns, self.curve, self.last_checkpoint, self.last_eval = [], curve, start, start
        self.eval_seconds, self.measure = 0.0, measure_timed
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
    if not config.real_env and not config.eval_env:
        from genie_env.dream import shared_world

        config.eval_env = shared_world(config.world, "cpu").info.get("env_id", "MiniGrid-Empty-8x8-v0")
    if config.real_env:   # known before training, not at the first measurement
        check_minigrid_env(config.real_env, "--real-env")
    elif config.eval_every:
        check_minigrid_env(config.eval_env, "--eval-env")
    if config.eval_every:   # the agent is measured in the dream beside the real env: the same game in both
        check_same_game(config.world, config.real_env or config.eval_env, "--real-env" if config.real_env else "--eval-env")
    out.mkdir(parents=True, exist_ok=True)
    env = VecMonitor(make_env(config))
    settings = ppo_settings(config.seed, config.n_steps, config.lr, config.ent_coef, config.anneal_lr)
    model = make_ppo(env, settings, tensorboard_log=str(out / "tb"))
    curve = []
    if config.resume and checkpoint.exists():   # weights, optimizer and RNG from safetensors: no unpickling
        check = lambda info: check_resume(checkpoint, info, asdict(config), {}, RESUME_FREE)   # noqa: E731
        model.num_timesteps = load_checkpoint(checkpoint, model.policy, model.policy.optimizer, None, check)["step"]
        if (out / "curve.json").exists():
            curve = [p for p in read_json(out / "curve.json")["curve"] if p["step"] <= model.num_timesteps]
    progress = Progress(config, model.num_timesteps, curve)
    start = time.time()
    model.learn(total_timesteps=config.steps - model.num_timesteps, callback=progress.callback,
                reset_num_timesteps=False, progress_bar=False)
    progress.bar.close()
    seconds = time.time() - start - progress.eval_seconds
    if config.eval_every and not (progress.curve and "real_return" in progress.curve[-1]
                                  and progress.curve[-1]["step"] == model.num_timesteps):
        progress.curve.append({"step": int(model.num_timesteps), **progress.measure(model.policy)})
    info = {"config": asdict(config), "train_seconds": round(seconds, 1), "timesteps": int(model.num_timesteps),
            "measure_seconds": round(progress.eval_seconds, 1),
            "trained_in": config.real_env or f"GenieDream-v0 world={config.world}"}
    save_agent(out, model, info)
    atomic_write_json(out / "curve.json", {"curve": progress.curve, **info})
    env.close()
    return info


def main(argv=None) -> None:
    config = parse_config(PPOConfig, argv, __doc__, {"actions": ["latent", "env"]},
                          rules={"eval_every": (0, None, "a count >= 0 (0: never)")})
    info = train(config)   # a ValueError ends as one error: line (run_cli)
    print(f"ppo: {info['timesteps']} steps in {info['train_seconds']:.0f} s ({info['trained_in']}); saved {config.out}")


if __name__ == "__main__":
    run_cli(main)
