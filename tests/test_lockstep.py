"""Long real play checking a world step by step (genie_lab.lockstep) and the check that records where it is wrong."""
import minigrid  # noqa: F401
import numpy as np
import pytest

from genie_env.dataset import Dataset
from genie_env.io import read_json
from genie_env.frames import render_frame
from genie_lab.explore import restore
from genie_lab.lockstep import play_checked, play_envs
from genie_lab.situations import Situation


def test_play_on_a_world_that_learned_nothing_keeps_each_wrong_state(tiny_world):
    """A world that learned nothing dreams many steps wrong; each wrong state is kept once, with the reset seed and
    action prefix that reach it again, and the tallies add up."""
    report = play_checked(tiny_world, "MiniGrid-Empty-5x5-v0", episodes=3, steps=12, seed=123, progress=False)
    assert report["steps"] == sum(s["steps"] for s in report["situations"].values())
    assert 0 < report["wrong_steps"] <= report["steps"] and report["right"] < 1
    assert 1 <= report["wrong_states"] == len(report["wrong"]) <= report["wrong_steps"]
    (env,) = play_envs("MiniGrid-Empty-5x5-v0", 1, 12)
    for seed, prefix, situation, action in report["wrong"]:
        assert 123 <= seed < 126 and len(prefix) < 12 and 0 <= action < 7
        ended, steps = restore(env, seed, prefix)
        assert not ended and steps == len(prefix)
        assert Situation(env).of(env) == situation


def test_play_raises_the_step_limit_and_matches_real_play():
    """Episodes run the steps asked for, past a limit lower than that (Empty-5x5 stops at 100), and play the very
    actions a fresh env replays to the same frame."""
    (env,) = play_envs("MiniGrid-Empty-5x5-v0", 1, 300)
    assert env.unwrapped.max_steps == 300
    (env,) = play_envs("MiniGrid-DoorKey-8x8-v0", 1, 10)
    assert env.unwrapped.max_steps == 640   # the env's own limit where it is higher


def test_the_shipped_world_dreams_uniform_play_right():
    """The shipped Empty-8x8 world, uniform play on unseen seeds, 60 steps: every step right (its figure in
    docs/RESULTS.md is 100 %); a world that broke a rule fails this."""
    from genie_env.world import load_world_model

    report = play_checked(load_world_model("empty8"), "MiniGrid-Empty-8x8-v0", episodes=6, steps=60, seed=8_100_000,
                          progress=False)
    assert report["steps"] >= 60 and report["right"] == 1.0 and report["wrong"] == []


def test_check_records_from_wrong_play_states(tiny_world_path, tmp_path):
    """trainers.check --play-episodes: the states where play dreamed wrong are recorded from as the drawn ones are
    (the seven actions once, then legs), and check.json reports the play."""
    from trainers.check import CheckConfig, check

    out = tmp_path / "round"
    result = check(CheckConfig(world=str(tiny_world_path), env="MiniGrid-Empty-5x5-v0", out=str(out), layouts=1,
                               states=2, legs=1, leg_steps=3, seed=43, play_episodes=2, play_steps=8))
    play = result["play"]
    assert play["episodes"] == 2 and play["wrong_states"] >= 1 and "wrong" not in play
    assert Dataset.load(out).num_episodes == result["wrong_states"] * (7 + 1)
    assert Dataset.load(out / "play").num_episodes == play["wrong_states"] * (7 + 1) == play["recorded_episodes"]
    assert read_json(out / "play" / "manifest.json")["max_steps"] == 100   # Empty-5x5: the limit its play ran under
    assert result["real_steps"]["play"] == play["steps"]
    with pytest.raises(ValueError, match="unknown policy"):
        check(CheckConfig(world=str(tiny_world_path), env="MiniGrid-Empty-5x5-v0", out=str(tmp_path / "x"),
                          play_episodes=1, play_policy="nonsense"))


def test_a_replayed_wrong_state_dreams_wrong_again(tiny_world):
    """Replayed from its seed and prefix, a kept state is one where that action dreams wrong: the check records
    where the world fails, not somewhere near it."""
    from genie_env.frames import psnr
    from genie_lab.states import CORRECT_DB

    report = play_checked(tiny_world, "MiniGrid-Empty-5x5-v0", episodes=2, steps=8, seed=9, progress=False)
    (env,) = play_envs("MiniGrid-Empty-5x5-v0", 1, 8)
    for seed, prefix, _, action in report["wrong"]:
        restore(env, seed, prefix)
        before = render_frame(env)[None]
        dreamed = tiny_world.dream(before[:, None], tiny_world.env_to_latent_action(before, np.array([action]))[:, None])
        env.step(action)
        assert psnr(dreamed[:, 0], render_frame(env)[None])[0] < CORRECT_DB
