"""PPO in the dream, end to end: a few hundred steps of training, then one real MiniGrid episode through the bridge."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genie_env.agent import Agent


def run(*args):
    result = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_train_in_dream_then_run_in_real_env(tiny_world_path, tmp_path):
    out = tmp_path / "ppo"
    run("trainers.ppo_dream", "--world", str(tiny_world_path), "--steps", "256", "--num-envs", "4", "--n-steps", "32",
        "--checkpoint-every", "128", "--eval-every", "128", "--eval-episodes", "1", "--eval-env",
        "MiniGrid-Empty-5x5-v0", "--max-episode-steps", "32", "--out", str(out))
    for name in ("policy.safetensors", "policy.json", "sb3_model.zip", "curve.json", "checkpoint.safetensors"):
        assert (out / name).is_file(), name
    curve = json.loads((out / "curve.json").read_text())["curve"]
    measured = [p for p in curve if "real_return" in p]
    assert [p["step"] for p in curve] == sorted(p["step"] for p in curve) and measured[-1]["step"] == 256
    assert len(measured) >= 2 and all(0 <= p["real_success"] <= 1 and "dream_mean_return" in p for p in measured)
    assert all(0 <= p["real_success_sampled"] <= 1 for p in measured)
    png = tmp_path / "curves.png"
    subprocess.run([sys.executable, "examples/plot_learning_curves.py", str(out), "--png", str(png)], check=True,
                   cwd=Path(__file__).resolve().parents[1], capture_output=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    agent = Agent(out)
    frames = np.zeros((2, 64, 64, 3), np.uint8)
    actions = agent.act(frames)
    assert actions.shape == (2,) and ((0 <= actions) & (actions < agent.num_actions)).all()
    report = tmp_path / "agent.json"
    run("trainers.evaluate", "agent", "--agent", str(out), "--env", "MiniGrid-Empty-5x5-v0", "--episodes", "1",
        "--json", str(report))
    result = json.loads(report.read_text())
    assert result["episodes"] == 1 and 0 <= result["success_rate"] <= 1 and result["mean_length"] >= 1
    assert "dream_mean_return" in result and result["acting"] == "greedy"
    # Empty-5x5 has one start; the dream's bank holds it, so the real start is found in the bank, read from pixels
    assert result["start_in_bank"] == 1.0 and result["success_start_in_bank"] == result["success_rate"]
    assert result["success_start_not_in_bank"] is None and len(result["successes"]) == 1
    sampled = [json.loads(run("trainers.evaluate", "agent", "--agent", str(out), "--env", "MiniGrid-Empty-5x5-v0",
                              "--episodes", "2", "--sample")) for _ in range(2)]
    assert sampled[0]["acting"] == "sampled" and sampled[0] == sampled[1]   # seeded: the same draws, the same episodes


def test_real_env_baseline_is_measured_in_the_dream_too(tiny_world_path, tmp_path):
    """The baseline acts in env actions; in the dream each is mapped to a latent by the bridge."""
    out = tmp_path / "ppo-real"
    run("trainers.ppo_dream", "--real-env", "MiniGrid-Empty-5x5-v0", "--world", str(tiny_world_path), "--steps", "64",
        "--num-envs", "2", "--n-steps", "32", "--eval-every", "0", "--max-episode-steps", "16", "--out", str(out))
    assert Agent(out).num_actions == 7
    report = tmp_path / "agent.json"
    run("trainers.evaluate", "agent", "--agent", str(out), "--env", "MiniGrid-Empty-5x5-v0", "--episodes", "2",
        "--json", str(report))
    result = json.loads(report.read_text())
    assert result["trained_in"] == "MiniGrid-Empty-5x5-v0" and result["episodes"] == 2
    assert np.isfinite(result["dream_mean_return"]) and 0 <= result["dream_success_rate"] <= 1
    other = subprocess.run([sys.executable, "-m", "trainers.evaluate", "agent", "--agent", str(out), "--env",
                            "MiniGrid-Empty-8x8-v0"], capture_output=True, text=True)   # its dream is Empty-5x5's
    assert other.returncode != 0 and "is a world of MiniGrid-Empty-5x5-v0, but --env" in other.stderr


def test_unknown_eval_env_is_refused_before_training(tiny_world_path, tmp_path):
    out = tmp_path / "ppo"
    result = subprocess.run([sys.executable, "-m", "trainers.ppo_dream", "--world", str(tiny_world_path), "--steps", "64",
                             "--eval-env", "MiniGrid-Nope-v0", "--out", str(out)], capture_output=True, text=True)
    assert result.returncode != 0 and "unknown --eval-env 'MiniGrid-Nope-v0'" in result.stderr
    assert not out.exists()


def test_existing_run_is_not_overwritten(tiny_world_path, tmp_path):
    out = tmp_path / "ppo"
    args = ("trainers.ppo_dream", "--world", str(tiny_world_path), "--steps", "64", "--num-envs", "2", "--n-steps", "32",
            "--out", str(out))
    run(*args)
    before = (out / "policy.safetensors").read_bytes()
    result = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)
    assert result.returncode != 0 and "already holds" in result.stderr
    assert (out / "policy.safetensors").read_bytes() == before


def test_agent_file_that_is_a_pickle_is_refused(tmp_path):
    import pickle

    (tmp_path / "policy.json").write_text(json.dumps({"format": "genie-agent", "version": 1, "num_actions": 8,
                                                      "observation_shape": [3, 64, 64],
                                                      "info": {"config": {"world": "empty8"}, "trained_in": "x",
                                                               "train_seconds": 1.0, "timesteps": 8}}))
    (tmp_path / "policy.safetensors").write_bytes(pickle.dumps({"weights": 1}))
    with pytest.raises(ValueError, match="policy.safetensors"):
        Agent(tmp_path)


def test_dream_measurement_shares_the_real_env_time_limit(tiny_world_path):
    """An agent's dream episodes are cut where the real env cuts its own (DoorKey-8x8: 640 steps, not 256)."""
    from genie_lab.agents import real_time_limit, run_dream_episodes

    assert real_time_limit("MiniGrid-DoorKey-8x8-v0") == 640 and real_time_limit("MiniGrid-Empty-5x5-v0") == 100
    turn = lambda frames: np.zeros(len(frames), np.int64)   # noqa: E731   (one latent, never the goal)
    for limit in (3, 7):   # 2 worlds, 8 episodes: 6 follow an autoreset step, which is no step of theirs
        result = run_dream_episodes(turn, str(tiny_world_path), 8, seed=0, num_envs=2, max_episode_steps=limit)
        assert 1 <= result["dream_mean_length"] <= limit
    one_step = run_dream_episodes(turn, str(tiny_world_path), 8, seed=0, num_envs=2, max_episode_steps=1)
    assert one_step["dream_mean_length"] == 1   # every episode one step long, none counted twice

