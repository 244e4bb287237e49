"""The GPU PPO trainer, on the CPU: a tiny run reads torch observations, saves an agent that Agent loads and that
trainers.evaluate runs in the real env through the bridge."""
import json
import subprocess
import sys

import numpy as np
from test_scripts import ENV, ROOT, run


def test_tiny_run_saves_an_agent_the_evaluator_runs(tiny_world_path, tmp_path):
    from genie_env import load_world_model
    from genie_env.agent import Agent

    out = tmp_path / "agent"
    printed = run("-m", "trainers.ppo_gpu", "--world", tiny_world_path, "--num-envs", 8, "--n-steps", 16,
                  "--steps", 384, "--max-episode-steps", 8, "--device", "cpu", "--out", out)
    assert "384 steps" in printed and "on cpu" in printed
    agent, num_actions = Agent(out), load_world_model(tiny_world_path).num_actions
    assert agent.num_actions == num_actions and agent.info["timesteps"] == 384 and agent.info["train_returns"]
    actions = agent.act(np.zeros((2, 64, 64, 3), np.uint8))
    assert actions.shape == (2,) and ((0 <= actions) & (actions < num_actions)).all()
    result = json.loads(run("-m", "trainers.evaluate", "agent", "--agent", out, "--env", "MiniGrid-Empty-5x5-v0",
                            "--episodes", 1))
    assert result["episodes"] == 1 and 0 <= result["success_rate"] <= 1 and "dream_mean_return" in result
    refused = subprocess.run([sys.executable, "-m", "trainers.ppo_gpu", "--world", str(tiny_world_path), "--out", str(out)],
                             capture_output=True, text=True, cwd=ROOT, env=ENV)
    assert refused.returncode != 0 and "already holds a trained agent" in refused.stderr
