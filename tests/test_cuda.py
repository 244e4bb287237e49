"""Everything a GPU user touches, on CUDA (issue 11: the first GPU step crashed and no CPU test could see it).

Skipped without CUDA. GENIE_TEST_DEVICE=cpu runs the same tests on the CPU, to check their logic where no GPU is:

    python -m pytest -q tests/test_cuda.py                          # on a GPU machine
    GENIE_TEST_DEVICE=cpu python -m pytest -q tests/test_cuda.py    # the same code paths on the CPU
"""
import os

import gymnasium as gym
import numpy as np
import pytest
import torch

import genie_env  # noqa: F401  (registers GenieDream-v0)

DEVICE = os.environ.get("GENIE_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture()
def world(tiny_world_path):
    from genie_env.dream import shared_world

    return shared_world(str(tiny_world_path), DEVICE)


def test_world_loads_on_the_device(world):
    assert world.device.type == DEVICE
    assert all(p.device.type == DEVICE for p in world.dynamics.parameters())


def test_env_steps_with_latent_and_env_actions(tiny_world_path):
    for actions, n in (("latent", None), ("env", 7)):
        env = gym.make("GenieDream-v0", world=str(tiny_world_path), device=DEVICE, actions=actions, temperature=1.0)
        obs, _ = env.reset(seed=0)
        assert env.unwrapped.world.device.type == DEVICE and obs.dtype == np.uint8
        for t in range(12):
            obs, reward, terminated, truncated, info = env.step(t % (n or env.action_space.n))
            assert obs.shape == (64, 64, 3) and isinstance(reward, float) and isinstance(terminated, bool)
            assert 0 <= info["latent_action"] < env.unwrapped.world.num_actions and info["env_action"] in range(7)
            if terminated or truncated:
                env.reset()
        env.close()


def test_same_seed_same_dream_on_the_device(tiny_world_path):
    runs = []
    for _ in range(2):
        env = gym.make("GenieDream-v0", world=str(tiny_world_path), device=DEVICE, temperature=1.0)
        frames = [env.reset(seed=3)[0]]
        frames += [env.step(t % env.action_space.n)[0] for t in range(10)]
        runs.append(np.stack(frames))
    assert np.array_equal(*runs)   # the device generator, seeded from the env's np_random, fixes the episode


def test_device_dream_matches_cpu_dream(tiny_world_path):
    """Greedy frames agree across devices (float sums may differ in the last bits; argmax rarely flips)."""
    from genie_env.dream import shared_world

    frames = {}
    for device in ("cpu", DEVICE):
        model = shared_world(str(tiny_world_path), device)
        start = np.repeat(model.start_frame([0]), 8, 0)
        actions = np.arange(80).reshape(8, 10) % model.num_actions
        frames[device] = model.dream(start[:, None], actions)
    assert np.mean(np.all(frames["cpu"] == frames[DEVICE], axis=(2, 3, 4))) >= 0.9


def test_vector_env_torch_and_numpy_backends(tiny_world_path):
    outputs = {}
    for backend in ("numpy", "torch"):
        envs = gym.make_vec("GenieDream-v0", num_envs=8, vectorization_mode="vector_entry_point", world=str(tiny_world_path),
                            device=DEVICE, temperature=1.0, max_episode_steps=5, obs_backend=backend, actions="env")
        obs, _ = envs.reset(seed=1)
        for t in range(12):
            actions = torch.full((8,), t % 7, device=DEVICE) if backend == "torch" else np.full(8, t % 7)
            obs, reward, terminated, truncated, info = envs.step(actions)
        if backend == "torch":
            assert all(x.device.type == DEVICE for x in (obs, reward, terminated, truncated, *info.values()))
            obs = obs.cpu().numpy()
        outputs[backend] = obs
        envs.close()
    assert np.array_equal(outputs["numpy"], outputs["torch"])


def test_sb3_adapter(tiny_world_path):
    from genie_env.sb3 import GenieDreamSB3VecEnv

    venv = GenieDreamSB3VecEnv(num_envs=4, world=str(tiny_world_path), device=DEVICE, max_episode_steps=3)
    assert venv.envs.world.device.type == DEVICE
    venv.reset()
    ends = 0
    for _ in range(4):
        obs, rewards, dones, infos = venv.step(np.arange(4) % venv.action_space.n)
        assert isinstance(obs, np.ndarray) and rewards.dtype == np.float32
        ends += sum("terminal_observation" in info for info in infos)
    assert ends >= 4
    venv.close()


def test_play_headless(tiny_world_path):
    import pygame

    from genie_env.play import play

    keys = [pygame.K_UP, pygame.K_LEFT, pygame.K_t, pygame.K_1, pygame.K_r, pygame.K_ESCAPE]
    result = play(world=str(tiny_world_path), keys=keys, max_frames=20, fps=0)   # device "auto": CUDA when present
    assert result["steps"] == 4 and result["resets"] == 1


def test_bridge_both_ways(world):
    frames = np.repeat(world.start_frame([0]), 7, 0)
    latents = world.env_to_latent_action(frames, np.arange(7))
    assert latents.shape == (7,) and ((0 <= latents) & (latents < world.num_actions)).all()
    env_actions = world.latent_to_env_action(frames, np.arange(7) % world.num_actions)
    assert env_actions.shape == (7,) and set(env_actions) <= set(range(7))
    context = np.repeat(frames[:, None], 2, 1)
    assert world.env_to_latent_action(frames, np.arange(7), context=context).shape == (7,)
    assert len(world.latent_meanings(frames[0])) == world.num_actions


def test_compiled_dream_step_matches_eager(world):
    """torch.compile with CUDA graphs ("reduce-overhead") leaves greedy frames, rewards and ends as they were."""
    from genie_env.dream import DreamCore

    mode = "reduce-overhead" if DEVICE == "cuda" else "default"
    runs = []
    for compile_mode in (None, mode):
        core = DreamCore(world, 16, compile_mode=compile_mode)
        core.seed(0)
        core.restart(torch.ones(16, dtype=torch.bool, device=world.device))
        steps = []
        for t in range(6):
            reward, ended, _ = core.step(torch.arange(16, device=world.device) % world.num_actions)
            steps.append((core.frames().clone(), reward, ended))
        runs.append(steps)
    for (frames_a, reward_a, ended_a), (frames_b, reward_b, ended_b) in zip(*runs):
        assert torch.equal(frames_a, frames_b) and torch.equal(ended_a, ended_b)
        assert torch.allclose(reward_a, reward_b, atol=1e-5)


def test_bfloat16_dream(world):
    from genie_env.dream import DreamCore

    core = DreamCore(world, 16, precision="bfloat16")
    core.seed(0)
    core.restart(torch.ones(16, dtype=torch.bool, device=world.device))
    for t in range(6):
        reward, ended, effect = core.step(torch.arange(16, device=world.device) % world.num_actions)
        assert reward.dtype == torch.float32 and torch.isfinite(reward).all() and ended.dtype == torch.bool
    assert core.frames().dtype == torch.uint8 and core.frames().device.type == DEVICE


def test_tiny_world_training(tiny_data, tiny_tokenizer, tmp_path):
    from genie_env import load_world_model
    from trainers.world import TrainWorldConfig, train

    train(TrainWorldConfig(data=[str(tiny_data)], tokenizer=str(tiny_tokenizer), out=str(tmp_path), steps=6, batch_size=8,
                           eval_every=6, checkpoint_every=6, lam_dim=32, dim=32, layers=1, bridge_labels=50, device=DEVICE,
                           start_states=16))
    model = load_world_model(tmp_path, device=DEVICE)
    frames = model.dream(model.start_frame([0])[:, None], np.zeros((1, 3), np.int64))
    assert frames.shape == (1, 3, 64, 64, 3)


def test_tiny_ppo_runs(tiny_world_path, tmp_path):
    from genie_env.agent import Agent
    from trainers.ppo_dream import PPOConfig
    from trainers.ppo_dream import train as train_sb3
    from trainers.ppo_gpu import PPOGPUConfig
    from trainers.ppo_gpu import train as train_gpu

    info = train_gpu(PPOGPUConfig(world=str(tiny_world_path), num_envs=16, n_steps=8, steps=256, device=DEVICE,
                                  out=str(tmp_path / "gpu")))
    assert info["device"].startswith(DEVICE) and info["timesteps"] == 256
    assert Agent(tmp_path / "gpu").act(np.zeros((1, 64, 64, 3), np.uint8)).shape == (1,)
    info = train_sb3(PPOConfig(world=str(tiny_world_path), steps=256, num_envs=4, n_steps=64, eval_every=0,
                               checkpoint_every=10_000, out=str(tmp_path / "sb3")))
    assert info["timesteps"] >= 256
