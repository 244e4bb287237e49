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
    frame = single.unwrapped.world.start_frame(0)   # a real frame: both envs encode the same pixels
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


# --- MiniGrid's own actions through the bridge (issue 10, item 4) -----------------------------------------------

def test_env_actions_pass_both_checkers(tiny_world_path):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make("GenieDream-v0", world=str(tiny_world_path), device="cpu", actions="env")
    assert env.action_space == gym.spaces.Discrete(7)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=False)
        sb3_check_env(env, warn=True)
    assert not [str(w.message) for w in caught], [str(w.message) for w in caught]


def test_env_actions_step_through_the_bridge(tiny_world_path):
    from genie_env.bridge import STEP_MEANINGS

    env = gym.make("GenieDream-v0", world=str(tiny_world_path), device="cpu", actions="env")
    latent_env = gym.make("GenieDream-v0", world=str(tiny_world_path), device="cpu")
    env.reset(seed=0)
    latent_env.reset(seed=0)
    world = env.unwrapped.world
    for action in [2, 0, 2, 1, 3, 5, 6]:
        expected = int(world.latents_for(env.unwrapped.core.ids, np.array([action]))[0])   # the dream's own context
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["latent_action"] == expected and 0 <= expected < world.num_actions
        assert info["meaning"] in STEP_MEANINGS and info["env_action"] in range(7)
        # the same latent, stepped by hand in a latent-action env from the same state, dreams the same frame
        assert np.array_equal(obs, latent_env.step(expected)[0])
        if terminated:
            break
    with pytest.raises(ValueError, match=r"Discrete\(7\)"):
        env.step(7)


def test_bad_actions_and_backends_are_refused(tiny_world_path, tiny_world, tmp_path):
    from genie_env.envs import GenieDreamEnv, GenieDreamVectorEnv
    from genie_env.sb3 import GenieDreamSB3VecEnv

    with pytest.raises(ValueError, match="actions must be one of"):
        gym.make("GenieDream-v0", world=str(tiny_world_path), device="cpu", actions="joystick")
    with pytest.raises(ValueError, match="actions must be one of"):
        GenieDreamVectorEnv(2, world=str(tiny_world_path), device="cpu", actions=None)
    with pytest.raises(ValueError, match="obs_backend must be one of"):
        GenieDreamVectorEnv(2, world=str(tiny_world_path), device="cpu", obs_backend="jax")
    with pytest.raises(ValueError, match="precision must be one of"):
        GenieDreamVectorEnv(2, world=str(tiny_world_path), device="cpu", precision="float16")
    with pytest.raises(ValueError, match="SB3 reads numpy"):
        GenieDreamSB3VecEnv(2, world=str(tiny_world_path), device="cpu", obs_backend="torch")
    tiny_world.bridge = None
    tiny_world.save(tmp_path / "bridgeless")
    with pytest.raises(ValueError, match="needs a world with an action bridge"):
        GenieDreamEnv(world=str(tmp_path / "bridgeless"), device="cpu", actions="env")


def test_an_action_that_changes_nothing_says_so():
    """Issue 25: "done" in the shipped Empty world changes nothing, and `info` answered "env_action 4, meaning
    no-op" (4 is drop). It says "does nothing here", with the action asked; a latent that changes nothing too."""
    env = gym.make("GenieDream-v0", world="empty8", device="cpu", actions="env")
    obs, _ = env.reset(seed=0)
    after, _, _, _, info = env.step(6)
    assert np.array_equal(after, obs)
    assert info["meaning"] == "does nothing here" and info["env_action"] == 6
    assert env.step(0)[-1] == {"latent_action": 0, "meaning": "left", "env_action": 0}  # a turn always changes
    envs = gym.make_vec("GenieDream-v0", num_envs=2, vectorization_mode="vector_entry_point", world="empty8",
                        device="cpu", actions="env")
    envs.reset(seed=0)
    info = envs.step(np.array([6, 3]))[-1]
    assert list(info["meaning"]) == ["does nothing here"] * 2 and list(info["env_action"]) == [6, 3]
    latent_env = gym.make("GenieDream-v0", world="empty8", device="cpu")
    latent_env.reset(seed=0)
    assert latent_env.step(7)[-1]["meaning"] == "does nothing here"   # latent 7: "nothing changed"


def test_vector_env_actions_match_the_single_env(tiny_world_path):
    envs = gym.make_vec("GenieDream-v0", num_envs=2, vectorization_mode="vector_entry_point",
                        world=str(tiny_world_path), device="cpu", actions="env")
    single = gym.make("GenieDream-v0", world=str(tiny_world_path), device="cpu", actions="env")
    assert envs.single_action_space == gym.spaces.Discrete(7)
    frame = single.unwrapped.world.start_frame(0)
    envs.reset(seed=0, options={"frame": frame})
    single.reset(options={"frame": frame})
    for action in [2, 0, 2, 1, 4]:
        obs, _, _, _, info = envs.step(np.array([action, 6]))
        single_obs, _, _, _, single_info = single.step(action)
        assert np.array_equal(obs[0], single_obs) and info["latent_action"][0] == single_info["latent_action"]


def test_sb3_adapter_takes_env_actions(tiny_world_path):
    from genie_env.sb3 import GenieDreamSB3VecEnv

    venv = GenieDreamSB3VecEnv(num_envs=2, world=str(tiny_world_path), device="cpu", actions="env", max_episode_steps=3)
    assert venv.action_space.n == 7
    venv.reset()
    ends = 0
    for _ in range(4):
        obs, rewards, dones, infos = venv.step(np.array([2, 5]))
        assert obs.shape == (2, 64, 64, 3) and all(0 <= info["latent_action"] < venv.envs.world.num_actions for info in infos)
        ends += dones.sum()
    assert ends >= 2   # episodes last at most 3 steps
    venv.close()


# --- the batch on the device (issue 11) ---------------------------------------------------------------------------

def test_torch_backend_matches_numpy_backend(tiny_world_path):
    import torch

    runs = {}
    for backend in ("numpy", "torch"):
        envs = gym.make_vec("GenieDream-v0", num_envs=3, vectorization_mode="vector_entry_point", world=str(tiny_world_path),
                            device="cpu", temperature=1.0, max_episode_steps=4, obs_backend=backend)
        obs, _ = envs.reset(seed=5)
        steps = [(obs, None, None, None)]
        for t in range(10):
            actions = np.array([t % envs.single_action_space.n, 2, 5])
            obs, reward, terminated, truncated, info = envs.step(torch.from_numpy(actions) if backend == "torch" else actions)
            steps.append((obs, reward, terminated, truncated))
        runs[backend] = steps
        if backend == "torch":
            assert isinstance(obs, torch.Tensor) and obs.dtype == torch.uint8 and obs.device.type == "cpu"
            assert reward.dtype == torch.float32 and terminated.dtype == torch.bool and truncated.dtype == torch.bool
            assert set(info) == {"latent_action", "effect", "env_action"}
            assert all(isinstance(v, torch.Tensor) and v.shape == (3,) for v in info.values())
        else:
            assert isinstance(obs, np.ndarray) and reward.dtype == np.float64 and terminated.dtype == bool
    for (o1, r1, te1, tr1), (o2, r2, te2, tr2) in zip(runs["numpy"], runs["torch"]):
        assert np.array_equal(o1, o2.numpy())
        if r1 is not None:
            assert np.allclose(r1, r2.numpy()) and np.array_equal(te1, te2.numpy()) and np.array_equal(tr1, tr2.numpy())
    assert any(tr.any() for _, _, _, tr in runs["numpy"][1:])   # episodes of 4 steps were truncated and restarted


def test_autoreset_draws_start_frames_from_the_bank_by_seed(tiny_world_path):
    import torch

    starts = []
    for _ in range(2):
        envs = gym.make_vec("GenieDream-v0", num_envs=16, vectorization_mode="vector_entry_point",
                            world=str(tiny_world_path), device="cpu", max_episode_steps=1, obs_backend="torch")
        first, _ = envs.reset(seed=1)
        envs.step(torch.zeros(16, dtype=torch.long))          # every episode is truncated after one step
        restarted, *_ = envs.step(torch.zeros(16, dtype=torch.long))
        starts.append(torch.cat([first, restarted]))
    world = envs.unwrapped.world
    bank = world.start_frame(np.arange(len(world.start_ids)))   # the whole bank, drawn
    assert torch.equal(*starts)
    assert all((bank == frame).flatten(1).all(1).any() for frame in starts[0])
    with pytest.raises(ValueError, match="16 integers"):
        envs.step(torch.full((16,), 0.5))
    with pytest.raises(ValueError, match="16 integers"):
        envs.step(torch.full((16,), 8))


def test_bfloat16_dream_runs_and_defaults_leave_the_dream_unchanged(tiny_world):
    import torch

    from genie_env.dream import DreamCore

    frames = np.repeat(tiny_world.start_frame([0]), 4, 0)
    actions = torch.arange(12).view(3, 4) % tiny_world.num_actions
    ids, expected = tiny_world.context_ids(frames[:, None]), []
    for latents in actions:   # the world's own dream step, by hand
        nxt = tiny_world.dream_step(ids, latents)[0]
        ids = torch.cat([ids[:, 1:], nxt[:, None]], 1)
        expected.append(tiny_world.ids_to_frames(nxt))
    results = {}
    for precision in ("float32", "bfloat16"):
        core = DreamCore(tiny_world, 4, precision=precision)
        core.reset(np.arange(4), frames[:1])   # one frame starts them all
        dreamed = []
        for latents in actions:
            reward, ended, _ = core.step(latents)
            assert reward.dtype == torch.float32 and ended.dtype == torch.bool
            dreamed.append(core.frames())
        results[precision] = torch.stack(dreamed)
    assert tiny_world.dynamics.embed.weight.dtype == torch.float32   # the shared world is left in float32
    assert torch.equal(results["float32"], torch.stack(expected))
    assert results["bfloat16"].shape == results["float32"].shape and results["bfloat16"].dtype == torch.uint8


@pytest.mark.parametrize("world", ["empty8", "doorkey8"])
def test_remembered_steps_dream_what_the_model_dreams(world):
    """genie_env.memo: with greedy steps remembered the vector env returns the very frames, rewards and ends it
    returns without, step for step (resets included), and a random walk comes back to states it saw."""
    from genie_env.envs import GenieDreamVectorEnv

    runs = []
    for memo in (0, 32768):
        env = GenieDreamVectorEnv(4, world=world, memo=memo, max_episode_steps=40)
        env.reset(seed=3)
        rng, steps = np.random.default_rng(1), []
        for _ in range(120):
            obs, reward, terminated, truncated, _ = env.step(rng.integers(0, env.single_action_space.n, 4))
            steps.append((obs, reward, terminated, truncated))
        runs.append((steps, env.core.memo))
    (plain, none), (remembered, memo) = runs
    assert none is None and memo.hits > 0 and memo.misses > 0
    for a, b in zip(plain, remembered):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_memo_forgets_the_least_recently_used_and_bad_sizes_are_refused(tiny_world, tiny_world_path):
    import torch

    from genie_env.memo import StepMemo

    memo = StepMemo(capacity=3)
    ids = torch.randint(0, len(tiny_world.vocab), (5, 1, 16, 16))      # five different contexts
    for i in range(5):
        memo.step(tiny_world, ids[i : i + 1], torch.tensor([0]))
    assert len(memo.table) == 3 and memo.misses == 5
    memo.step(tiny_world, ids[4:5], torch.tensor([0]))
    assert memo.hits == 1
    for bad in (-1, 1.5, True, "8"):
        with pytest.raises(ValueError, match="memo must be"):
            gym.make("GenieDream-v0", world=str(tiny_world_path), memo=bad)
