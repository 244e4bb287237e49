import warnings

import gymnasium as gym
import numpy as np
import pytest

import genie_env  # noqa: F401  (registers GenieDream-v0)


@pytest.fixture()
def env(tiny_world_path):
    env = gym.make("GenieDream-v0", world=str(tiny_world_path), device="cpu")
    yield env
    env.close()


def test_gymnasium_checker_passes_without_warnings(tiny_world_path):
    from gymnasium.utils.env_checker import check_env

    for obs_type in ("rgb", "tokens"):
        env = gym.make("GenieDream-v0", world=str(tiny_world_path), device="cpu", obs_type=obs_type, temperature=1.0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_env(env.unwrapped, skip_render_check=False)
        assert not [str(w.message) for w in caught], [str(w.message) for w in caught]


def test_sb3_checker_passes_without_warnings(tiny_world_path):
    from stable_baselines3.common.env_checker import check_env

    env = gym.make("GenieDream-v0", world=str(tiny_world_path), device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, warn=True)
    assert not [str(w.message) for w in caught], [str(w.message) for w in caught]


def test_same_seed_same_frames(tiny_world_path):
    runs = []
    for _ in range(2):
        env = gym.make("GenieDream-v0", world=str(tiny_world_path), device="cpu", temperature=1.0)
        obs, _ = env.reset(seed=3)
        frames = [obs]
        for action in [0, 1, 2, 3, 4, 5, 6, 7] * 2:
            frames.append(env.step(action)[0])
        runs.append(np.stack(frames))
    assert np.array_equal(*runs)


def test_step_contract(env):
    obs, info = env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs)
    assert isinstance(reward, float) and isinstance(terminated, bool) and isinstance(truncated, bool)
    assert {"latent_action", "meaning", "env_action"} <= set(info)
    assert env.metadata["render_fps"] > 0
    assert env.render().shape == (64, 64, 3)


def test_truncation_at_max_episode_steps(tiny_world_path):
    env = gym.make("GenieDream-v0", world=str(tiny_world_path), device="cpu", max_episode_steps=5)
    env.reset(seed=0)
    ends = [env.step(3)[3] for _ in range(5)]
    assert ends == [False] * 4 + [True] or any(ends[:4])


def test_errors(env):
    with pytest.raises(RuntimeError, match="before reset"):
        env.unwrapped.step(0)  # through gym.make, OrderEnforcing answers first with gymnasium's ResetNeeded
    env.reset(seed=0)
    for bad in (-1, 8, 2.5, "left", np.array([1, 2]), None, True):
        with pytest.raises(ValueError, match="action must be an integer"):
            env.step(bad)
    env.step(np.int64(1))  # still usable after bad input
    with pytest.raises(ValueError, match="64, 64, 3"):
        env.reset(options={"frame": np.zeros((32, 32, 3), np.uint8)})
    with pytest.raises(ValueError, match="uint8"):
        env.reset(options={"frame": np.zeros((64, 64, 3), np.float32)})
    obs, _ = env.reset(options={"frame": np.zeros((64, 64, 3), np.uint8)})
    assert obs.shape == (64, 64, 3)
    env.close()
    with pytest.raises(RuntimeError, match="closed"):
        env.step(0)


def test_tokens_observation(tiny_world_path):
    env = gym.make("GenieDream-v0", world=str(tiny_world_path), device="cpu", obs_type="tokens")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (16, 16) and obs.dtype == np.int64 and env.observation_space.contains(obs)
    with pytest.raises(ValueError, match="obs_type"):
        gym.make("GenieDream-v0", world=str(tiny_world_path), obs_type="pixels")


def test_vector_env_autoreset(tiny_world_path):
    envs = gym.make_vec("GenieDream-v0", num_envs=4, vectorization_mode="vector_entry_point",
                        world=str(tiny_world_path), device="cpu", max_episode_steps=3)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (4, 64, 64, 3)
    ends, previous_done = 0, np.zeros(4, bool)
    for t in range(9):
        obs, reward, terminated, truncated, info = envs.step(np.full(4, 3))
        done = terminated | truncated
        # next-step autoreset: a world that ended restarts on the following step, with no reward and no end
        assert not done[previous_done].any() and (reward[previous_done] == 0).all()
        ends += done.sum()
        previous_done = done
    assert ends >= 8   # episodes last at most 3 steps: each world ends at least twice in 9 steps
    with pytest.raises(ValueError, match="4 integers"):
        envs.step(np.zeros(3, np.int64))
    envs.close()


def test_vector_env_matches_single_env(tiny_world_path):
    envs = gym.make_vec("GenieDream-v0", num_envs=2, vectorization_mode="vector_entry_point",
                        world=str(tiny_world_path), device="cpu")
    single = gym.make("GenieDream-v0", world=str(tiny_world_path), device="cpu")
    frame = single.unwrapped.world.start_frames[0]   # a real frame: both envs encode the same pixels
    envs.reset(seed=0, options={"frame": frame})
    single.reset(options={"frame": frame})
    for action in [2, 0, 2, 1]:
        batched = envs.step(np.array([action, 0]))[0][0]
        assert np.array_equal(batched, single.step(action)[0])


def test_sb3_adapter_shares_one_model(tiny_world_path):
    from genie_env.sb3 import GenieDreamSB3VecEnv

    venv = GenieDreamSB3VecEnv(num_envs=3, world=str(tiny_world_path), device="cpu", max_episode_steps=4)
    obs = venv.reset()
    assert obs.shape == (3, 64, 64, 3)
    for _ in range(5):
        obs, rewards, dones, infos = venv.step(np.array([0, 1, 2]))
        for done, info in zip(dones, infos):
            if done:
                assert info["terminal_observation"].shape == (64, 64, 3)
    a = gym.make("GenieDream-v0", world=str(tiny_world_path), device="cpu")
    assert a.unwrapped.world is venv.envs.world


def test_shipped_world_loads_with_no_arguments():
    env = gym.make("GenieDream-v0")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (64, 64, 3)
    world = env.unwrapped.world
    assert world.num_actions == env.action_space.n
    assert world.info.get("manifest", {}).get("command", "").startswith("python -m trainers.pipeline")


def test_make_with_module_prefix():
    import subprocess
    import sys

    code = "import gymnasium as gym; env = gym.make('genie_env:GenieDream-v0'); print(env.reset(seed=0)[0].shape)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "(64, 64, 3)" in out.stdout
