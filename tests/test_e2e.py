"""One tiny end-to-end run through the real command lines: record -> tokenizer -> world -> evaluate -> env -> step."""
import json
import subprocess
import sys

import gymnasium as gym
import numpy as np

import genie_env  # noqa: F401


def run(*args):
    result = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_record_train_evaluate_play(tmp_path):
    data, heldout = tmp_path / "data", tmp_path / "heldout"
    run("trainers.record", "--env", "MiniGrid-Empty-5x5-v0", "--episodes", "4", "--policy", "explore", "--out", str(data))
    run("trainers.record", "--env", "MiniGrid-Empty-5x5-v0", "--episodes", "2", "--seed", "1", "--out", str(heldout))
    run("trainers.tokenizer", "--data", str(data), "--out", str(tmp_path / "tok"), "--steps", "20", "--batch-size", "4",
        "--codebook-size", "32", "--hidden", "16")
    out = run("trainers.evaluate", "tokenizer", "--tokenizer", str(tmp_path / "tok" / "tokenizer.safetensors"),
              "--data", str(heldout), "--png", str(tmp_path / "tok.png"))
    assert json.loads(out)["frames"] > 0 and (tmp_path / "tok.png").stat().st_size > 0
    run("trainers.world", "--data", str(data), "--tokenizer", str(tmp_path / "tok" / "tokenizer.safetensors"),
        "--out", str(tmp_path / "world"), "--steps", "10", "--batch-size", "4", "--dim", "32", "--layers", "1",
        "--lam-dim", "32", "--bridge-labels", "40", "--start-states", "16")
    run("trainers.evaluate", "world", "--world", str(tmp_path / "world"), "--data", str(heldout), "--transitions", "50",
        "--clips", "10", "--rollouts", "2", "--policy-episodes", "2", "--policy-horizon", "5", "--states", "6", "--state-layouts", "2", "--state-dreams", "2",
        "--states-per-situation", "2",
        "--json", str(tmp_path / "eval.json"), "--confusion-png", str(tmp_path / "c.png"))
    metrics = json.loads((tmp_path / "eval.json").read_text())
    for key in ("delta_tpsnr", "probe_accuracy", "nmi", "rollout_correct_at_1", "end_precision", "reconstruction_psnr"):
        assert key in metrics
    policies = metrics["under_policies"]
    assert set(policies["policies"]) == {"uniform", "wander", "sticky", "noisy-expert"}
    assert 0 <= policies["policies"]["wander"]["correct_at_1"] <= 1 and 0 <= policies["guard_real_changes_rejected"] <= 1
    assert len(policies["latent_consistency"]) == 8        # K: 7 env actions + "nothing changed"
    probe = policies["probe"]                               # the probe on the policies' real transitions
    assert probe["probe_transitions"] == policies["guard_transitions"] == sum(c["transitions"] for c in probe["probe_by_class"].values())
    states = metrics["from_states"]                         # by states drawn over an explorer's archive
    assert states["every_action"]["states"] == 6 and 0 <= states["every_action"]["all_right"] <= 1
    assert states["dreams"]["dreams"] == 2
    by = states["by_situation"]                             # up to 2 states of every situation the explorer reached
    assert all(1 <= s["states"] <= 2 for s in by["situations"].values()) and by["states"] == sum(s["states"] for s in by["situations"].values())
    env = gym.make("GenieDream-v0", world=str(tmp_path / "world"), device="cpu")
    obs, _ = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(0)
    assert obs.shape == (64, 64, 3) and np.isfinite(reward)


def test_pipeline_tiny_preset_runs_every_stage(tmp_path):
    """The tiny preset, as --help offers it, from nothing: every stage (a check round and its world included) runs,
    each shows progress, the world it writes loads, and the closing line says its figures mean nothing."""
    result = subprocess.run([sys.executable, "-m", "trainers.pipeline", "--preset", "tiny", "--out", str(tmp_path / "w"),
                             "--work", str(tmp_path / "work")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    stages = [line.split(":")[0].split()[1] for line in result.stdout.splitlines() if line.startswith("[pipeline] ") and ": -m " in line]
    assert {"record", "tokenizer", "world", "check-1", "world-1", "ship", "evaluate-world"} <= set(stages)
    assert "preset tiny: a smoke run" in result.stdout.splitlines()[-1]
    assert result.stderr.count("%|") >= len(stages) - 4      # tqdm bars (the ship copy and the short records may not draw one)
    env = gym.make("GenieDream-v0", world=str(tmp_path / "w"))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (64, 64, 3)
    # the world shipped is the world stage's, byte for byte, and knows how it was made (manifest.json beside it)
    assert (tmp_path / "w" / "world.json").read_bytes() == (tmp_path / "work" / "world" / "world.json").read_bytes()
    assert env.unwrapped.world.info["manifest"]["command"].startswith("python -m trainers.pipeline --preset tiny")
    # the check round played too, and the round's world trained on what play recorded (its own dataset folder)
    manifest = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert any(arg.endswith("round1/play") for arg in manifest["stages"]["world-1"]["args"])
    assert "play_right" in manifest["rounds"][0]


def test_pipeline_round_from_nothing_trains_a_new_world_on_every_check(tmp_path):
    """--round-from nothing: a round's world starts from nothing (no --init), as long as the first world stage,
    with every check's data so far in focus, where the default fine-tunes the last world on its round's check."""
    result = subprocess.run([sys.executable, "-m", "trainers.pipeline", "--preset", "tiny", "--out", str(tmp_path / "w"),
                             "--work", str(tmp_path / "work"), "--round-from", "nothing"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    args = json.loads((tmp_path / "w" / "manifest.json").read_text())["stages"]["world-1"]["args"]
    assert "--init" not in args and args[args.index("--focus-data") + 1] == "2"     # round1 and round1/play
    assert args[args.index("--steps") + 1] == "10"                                   # the tiny preset's world steps
    bad = subprocess.run([sys.executable, "-m", "trainers.pipeline", "--round-from", "scratch"], capture_output=True, text=True)
    assert bad.returncode != 0 and "--round-from" in bad.stderr
