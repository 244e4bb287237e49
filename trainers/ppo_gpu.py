"""PPO at dream speed: one CleanRL-style file that reads torch observations straight from the batched dream.

    python -m trainers.ppo_gpu --world empty8 --num-envs 1024 --steps 2000000 --out runs/ppo-gpu     # a GPU
    python -m trainers.ppo_gpu --num-envs 16 --steps 20000 --device cpu --out runs/ppo-gpu-cpu       # a CPU
    python -m trainers.evaluate agent --agent runs/ppo-gpu --env MiniGrid-Empty-8x8-v0               # the real env

The vector env runs with `obs_backend="torch"`: frames, rewards and done flags stay on the device, and so do the
rollout buffers, the advantages and the updates; nothing crosses to the host but a few numbers a rollout for the
log. The agent acts in latent actions with the same network as `trainers.ppo_dream` (SB3's CNN policy over
TileCNN) and is saved the same way (``OUT/policy.safetensors`` + ``OUT/policy.json``), so `trainers.evaluate
agent` runs it in the real env through the world's bridge. TensorBoard logs go to ``OUT/tb``.

Next-step autoreset (Gymnasium 1.x): the step after an episode ends only restarts the world, so that transition is
masked out of the loss and cuts the advantage recursion; a truncated episode bootstraps from its final frame.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from gymnasium import spaces

from genie_env.config import parse_config, run_cli


@dataclass
class PPOGPUConfig:
    world: str = "empty8"         # a shipped world's name or a world folder
    steps: int = 500_000
    num_envs: int = 256
    n_steps: int = 32             # rollout length per env between updates
    epochs: int = 4
    minibatches: int = 4
    lr: float = 5e-4
    anneal_lr: bool = True        # lr falls linearly to 0 over --steps
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    temperature: float = 0.0
    max_episode_steps: int = 256
    device: str = "auto"          # "auto": CUDA when present, else CPU
    compile_mode: str = ""        # a torch.compile mode for the dream step ("reduce-overhead": CUDA graphs); "": off
    precision: str = "float32"    # "bfloat16": the dynamics forward in bf16 (GPU speed)
    out: str = "runs/ppo-gpu"
    seed: int = 0


def channels_first(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 64, 64, 3) -> uint8 (N, 3, 64, 64), as SB3's CNN policies read images."""
    return frames.permute(0, 3, 1, 2)


def masked_mean(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean of `x` over the entries where `weight` (0/1) is 1: the real transitions, not the restarts."""
    return (x * weight).sum() / weight.sum().clamp(min=1)


def train(config: PPOGPUConfig) -> dict:
    from stable_baselines3.common.policies import ActorCriticCnnPolicy
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    from genie_env.agent import TileCNN, write_policy
    from genie_env.envs import GenieDreamVectorEnv

    out = Path(config.out)
    if (out / "policy.json").exists():
        raise ValueError(f"{out} already holds a trained agent; choose another --out")
    torch.manual_seed(config.seed)
    envs = GenieDreamVectorEnv(config.num_envs, world=config.world, device=config.device, temperature=config.temperature,
                               max_episode_steps=config.max_episode_steps, obs_backend="torch",
                               compile_mode=config.compile_mode or None, precision=config.precision)
    device, n, t_len = envs.device, config.num_envs, config.n_steps
    observation_shape = (3, 64, 64)
    policy = ActorCriticCnnPolicy(spaces.Box(0, 255, observation_shape, np.uint8), envs.single_action_space, lambda _: config.lr,
                                  features_extractor_class=TileCNN, normalize_images=True).to(device)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr, eps=1e-5)
    out.mkdir(parents=True, exist_ok=True)
    writer = SummaryWriter(str(out / "tb"))

    # rollout buffers, all on the device: (T, N, ...)
    obs_buf = torch.zeros(t_len, n, *observation_shape, dtype=torch.uint8, device=device)
    actions_buf = torch.zeros(t_len, n, dtype=torch.long, device=device)
    logprobs_buf, values_buf, rewards_buf = (torch.zeros(t_len, n, device=device) for _ in range(3))
    terminated_buf, done_buf, valid_buf = (torch.zeros(t_len, n, dtype=torch.bool, device=device) for _ in range(3))

    obs, _ = envs.reset(seed=config.seed)
    obs = channels_first(obs)
    restarting = torch.zeros(n, dtype=torch.bool, device=device)   # the next step only restarts these worlds
    episode_return = torch.zeros(n, device=device)
    updates = max(1, config.steps // (n * t_len))
    bar = tqdm(total=updates * n * t_len, unit="step", desc="ppo-gpu")
    returns_log, start = [], time.time()
    for update in range(updates):
        if config.anneal_lr:
            optimizer.param_groups[0]["lr"] = config.lr * (1 - update / updates)
        finished_sum, finished_count = torch.zeros((), device=device), torch.zeros((), device=device)
        for t in range(t_len):
            with torch.no_grad():
                action, value, logprob = policy(obs)
            obs_buf[t], actions_buf[t], values_buf[t], logprobs_buf[t] = obs, action, value.flatten(), logprob
            valid_buf[t] = ~restarting
            next_obs, reward, terminated, truncated, _ = envs.step(action)
            rewards_buf[t], terminated_buf[t] = reward, terminated
            done = terminated | truncated
            done_buf[t] = done
            episode_return += reward
            finished_sum += (episode_return * done).sum()
            finished_count += done.sum()
            episode_return *= ~done
            obs, restarting = channels_first(next_obs), done

        # GAE over the rollout; a done step cuts the recursion (the step after it is a restart, masked below), and
        # a truncated one bootstraps from its final frame, which next-step autoreset leaves in the next slot
        with torch.no_grad():
            next_value = policy.predict_values(obs).flatten()
            advantages = torch.zeros_like(rewards_buf)
            running = torch.zeros(n, device=device)
            for t in reversed(range(t_len)):
                following = next_value if t == t_len - 1 else values_buf[t + 1]
                delta = rewards_buf[t] + config.gamma * following * ~terminated_buf[t] - values_buf[t]
                running = delta + config.gamma * config.gae_lambda * ~done_buf[t] * running
                advantages[t] = running
            returns = advantages + values_buf

        # (T, N, ...) -> (T * N, ...)
        b_obs, b_actions, b_logprobs = obs_buf.flatten(0, 1), actions_buf.flatten(0, 1), logprobs_buf.flatten(0, 1)
        b_advantages, b_returns, b_valid = advantages.flatten(), returns.flatten(), valid_buf.flatten().float()
        batch = t_len * n
        minibatch = max(1, batch // config.minibatches)
        for _ in range(config.epochs):
            order = torch.randperm(batch, device=device)
            for begin in range(0, batch, minibatch):
                index = order[begin : begin + minibatch]
                values, logprob, entropy = policy.evaluate_actions(b_obs[index], b_actions[index])
                weight, adv = b_valid[index], b_advantages[index]
                centred = adv - masked_mean(adv, weight)
                adv = centred / (masked_mean(centred**2, weight).sqrt() + 1e-8)
                ratio = (logprob - b_logprobs[index]).exp()
                clipped = torch.max(-adv * ratio, -adv * ratio.clamp(1 - config.clip, 1 + config.clip))
                value_loss = masked_mean((values.flatten() - b_returns[index]) ** 2, weight)
                loss = masked_mean(clipped, weight) + config.vf_coef * value_loss \
                    - config.ent_coef * masked_mean(entropy, weight)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
                optimizer.step()

        step = (update + 1) * batch
        bar.update(batch)
        if finished_count.item():
            returns_log.append(finished_sum.item() / finished_count.item())
            bar.set_postfix(ret=f"{returns_log[-1]:.3f}")
            writer.add_scalar("rollout/ep_rew_mean", returns_log[-1], step)
        writer.add_scalar("train/loss", loss.item(), step)
        writer.add_scalar("time/env_steps_per_s", step / (time.time() - start), step)
    bar.close()
    writer.close()
    seconds = time.time() - start
    envs.close()
    info = {"config": {**asdict(config), "real_env": ""}, "train_seconds": round(seconds, 1),
            "timesteps": updates * n * t_len, "trained_in": f"GenieDream-v0 world={config.world} (ppo_gpu)",
            "train_returns": returns_log, "device": str(device)}
    write_policy(out, policy.state_dict(), envs.single_action_space.n, observation_shape, info)
    return info


def main(argv=None) -> None:
    config = parse_config(PPOGPUConfig, argv, __doc__)
    info = train(config)   # a ValueError ends as one error: line (run_cli)
    print(f"ppo_gpu: {info['timesteps']} steps in {info['train_seconds']:.0f} s on {info['device']} "
          f"({info['timesteps'] / max(info['train_seconds'], 1e-9):,.0f} steps/s); saved {config.out}")


if __name__ == "__main__":
    run_cli(main)
