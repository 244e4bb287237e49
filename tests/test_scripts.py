"""The demo, the examples and the benchmark run as subprocesses with tiny flags against the session's tiny world."""
import json
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest

ROOT = Path(__file__).resolve().parents[1]
# One torch thread: these tiny batches gain nothing from more, and on busy cores extra threads make them crawl.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run(*args) -> str:
    result = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=ROOT, env=ENV)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def gif(path) -> tuple:
    """Shape (frames, height, width, channels) of a GIF."""
    return iio.imread(path, index=None).shape


def test_demo_writes_gif_and_throughput(tiny_world_path, tmp_path):
    out = run("-m", "genie_env.demo", "--world", tiny_world_path, "--device", "cpu", "--steps", "6",
              "--bench-steps", "5", "--gif", tmp_path / "dream.gif")
    frames, height, width, _ = gif(tmp_path / "dream.gif")
    assert (frames, width) == (7, 256) and height > 256       # the start frame and 6 steps, x4, caption below
    assert "steps/s" in out and str(tmp_path / "dream.gif") in out


def test_readme_demo_shows_the_real_start_frame_exactly(tmp_path):
    """The README's first command on the shipped world: dream.gif's first frame, scaled back down, is the real
    Empty-8x8 start frame pixel for pixel (a crisp agent, not the decoder's blur)."""
    import gymnasium as gym
    import imageio.v3 as iio
    import minigrid  # noqa: F401

    from genie_env.frames import render_frame

    run("-m", "genie_env.demo", "--steps", "2", "--bench-steps", "2", "--gif", tmp_path / "dream.gif")
    first = iio.imread(tmp_path / "dream.gif", index=None)[0][:256, :256, :3]
    real = gym.make("MiniGrid-Empty-8x8-v0")
    real.reset(seed=0)
    assert (first == render_frame(real).repeat(4, 0).repeat(4, 1)).all()


def test_dream_gif_example(tiny_world_path, tmp_path):
    out = run("examples/dream_gif.py", "--world", tiny_world_path, "--device", "cpu", "--steps", "5", "--out", tmp_path)
    frames, _, width, _ = gif(tmp_path / "dream.gif")
    assert (frames, width) == (6, 256)                        # the real start frame and 5 dreamed ones, x4
    frames, _, width, _ = gif(tmp_path / "real_vs_dream.gif")
    assert 2 <= frames <= 6 and width == 4 * (64 + 2 + 64)    # real | line | dream, x4
    assert "PSNR mean" in out


def test_plot_latent_actions_example(tiny_world_path, tmp_path):
    run("examples/plot_latent_actions.py", "--world", tiny_world_path, "--transitions", "40", "--png", tmp_path / "lam.png")
    image = iio.imread(tmp_path / "lam.png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0


def test_dream_speed_benchmark(tiny_world_path, tmp_path):
    out = run("benchmarks/dream_speed.py", "--world", tiny_world_path, "--seconds", "0.05", "--sizes", "1", "4",
              "--env-action-sizes", "4", "--cuda-sizes", "4", "--peak-tflops", "1", "--json", tmp_path / "speed.json")
    result = json.loads((tmp_path / "speed.json").read_text())
    assert {"cpu", "cpu_count", "torch_threads", "torch", "cuda_device"} <= set(result["machine"])
    cpu_rows = [(r["env"], r["num_envs"]) for r in result["results"] if r["device"] == "cpu"]
    assert cpu_rows == [("MiniGrid-Empty-8x8-v0", 1), ("GenieDream-v0", 1), ("GenieDream-v0 vector", 1),
                        ("GenieDream-v0 vector", 4), ("GenieDream-v0 vector torch", 1), ("GenieDream-v0 vector torch", 4),
                        ("GenieDream-v0 vector actions=env", 4)]
    assert all(r["env_steps_per_s"] > 0 and r["peak_rss_mb"] > 0 for r in result["results"])
    # FLOPs of a step, counted from the model: the tiny world's dynamics (dim 32, 1 layer) costs well under 10 MFLOP
    assert 1e4 < result["flops_per_env_step"] < 1e7 and "MFLOP" in out
    dream_rows = result["results"][1:]
    assert all(r["gflops_per_s"] == pytest.approx(r["env_steps_per_s"] * (1 - (r["memo_hit_rate"] or 0))
                                                  * result["flops_per_env_step"] / 1e9) for r in dream_rows)
    assert all(0 <= r["memo_hit_rate"] <= 1 for r in dream_rows if r["device"] == "cpu")   # the memo is on by default
    assert all(r["peak_share"] is None for r in dream_rows if r["device"] == "cpu")   # a card's peak is for CUDA rows
    assert sum(line.startswith("| ") for line in out.splitlines()) == 1 + len(result["results"])   # header + rows


def test_train_agent_in_dream_example(tiny_world_path, tmp_path):
    out = run("examples/train_agent_in_dream.py", "--world", tiny_world_path, "--steps", "64", "--episodes", "1",
              "--out", tmp_path / "agent")
    assert "trained 2048 steps in the dream" in out and "real MiniGrid-Empty-8x8-v0: success" in out
    assert (tmp_path / "agent" / "policy.safetensors").is_file()


def test_first_wrong_benchmark_names_each_episodes_outcome(tiny_world_path):
    out = run("benchmarks/first_wrong.py", "--world", tiny_world_path, "--env", "MiniGrid-Empty-5x5-v0",
              "--policy", "uniform", "--episodes", "3", "--horizon", "8")
    counts = [line.split()[0] for line in out.splitlines()[1:] if not line.strip().startswith("{")]
    assert sum(map(int, counts)) == 3                         # every episode ends in exactly one outcome
    failures = out.count("'kind': ")
    assert failures == sum(int(line.split()[0]) for line in out.splitlines()[1:]
                           if line.split()[1].startswith("(")) # one listed failure per failed episode


def test_random_states_benchmark_places_reachable_states_and_scores_every_action(tmp_path):
    import importlib.util

    import gymnasium as gym
    import minigrid  # noqa: F401
    import numpy as np

    spec = importlib.util.spec_from_file_location("random_states", ROOT / "benchmarks" / "random_states.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    place = module.place

    env, rng = gym.make("MiniGrid-DoorKey-8x8-v0"), np.random.default_rng(0)
    for i in range(20):
        env.reset(seed=6_000_000 + i)
        u = env.unwrapped
        door_x = next(x for x in range(u.width) for y in range(u.height)
                      if u.grid.get(x, y) is not None and u.grid.get(x, y).type == "door")
        phase = place(env, i, rng)
        door, key = phase.split(", ")
        assert door == f"door {('locked', 'closed', 'open')[i % 3]}" and key == f"key {('lying', 'carried', 'dropped')[i // 3 % 3]}"
        cell = u.grid.get(*u.agent_pos)
        assert cell is None or (cell.type == "door" and cell.is_open), (i, cell)
        assert (u.carrying is not None) == (key == "key carried")
        keys = [(x, y) for x in range(u.width) for y in range(u.height)
                if u.grid.get(x, y) is not None and u.grid.get(x, y).type == "key"]
        if door == "door locked":
            assert u.agent_pos[0] < door_x and all(x < door_x for x, _ in keys)   # nothing behind a locked door
    out = run("benchmarks/random_states.py", "--world", "doorkey8", "--states", "9", "--json", tmp_path / "r.json")
    result = json.loads((tmp_path / "r.json").read_text())
    assert sum(s["states"] for s in result["situations"].values()) == 9 and "door closed" in out
    assert 0 <= result["all_right"] <= 1


def test_dream_gif_starts_from_the_worlds_own_env():
    """examples/dream_gif.py --world doorkey8 starts from a real DoorKey-8x8 frame (it used to start from Empty)."""
    import importlib.util

    import gymnasium as gym
    import numpy as np

    import genie_env  # noqa: F401
    from genie_env.frames import render_frame

    spec = importlib.util.spec_from_file_location("dream_gif", ROOT / "examples" / "dream_gif.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    env = gym.make("GenieDream-v0", world="doorkey8", device="cpu")
    frames, captions = module.captioned_dream(env, 2, 5)
    real = gym.make("MiniGrid-DoorKey-8x8-v0")
    real.reset(seed=5)
    assert np.array_equal(frames[0], render_frame(real)) and captions[0] == "real start frame"
    # a format-4 world draws a real frame it is started from back exactly: what the dream shows first is real
    obs, _ = env.reset(seed=0, options={"frame": render_frame(real)})
    assert np.array_equal(obs, render_frame(real))


def test_random_play_benchmark_counts_episodes_in_dream_and_real(tiny_world_path, tmp_path):
    """Uniform play, dream against real: as many ended episodes in each, successes within them, an interval
    that holds the share."""
    out = tmp_path / "random_play.json"
    run("benchmarks/random_play.py", "--world", tiny_world_path, "--env", "MiniGrid-Empty-5x5-v0", "--episodes", "5",
        "--envs", "3", "--json", out)
    result = json.loads(out.read_text())
    assert result["limit"] == 100   # Empty-5x5's own limit, shared by the dream
    for side in ("real", "dream"):
        r = result[side]
        assert r["episodes"] == 5 and 0 <= r["successes"] <= 5 and r["success"] == r["successes"] / 5
        assert r["success_95"][0] <= r["success"] <= r["success_95"][1]
        assert 1 <= r["mean_length"] <= 100


def test_wilson_interval():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from random_play import wilson

    low, high = wilson(19, 600)
    assert 0.019 < low < 0.0317 < high < 0.05   # 3.2 % of 600: about 2.0-4.9 %
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0 and wilson(0, 10)[1] > 0.2


def test_label_efficiency_reads_a_world_and_names_its_labels(tmp_path):
    """One row per world from its evaluation; an unanchored world counts 0 labels; a folder with no evaluation is
    refused by name."""
    shipped = ROOT / "genie_env" / "worlds" / "empty8"
    out = run("benchmarks/label_efficiency.py", "--world", shipped, "--sb3-steps", "0", "--json", tmp_path / "rows.json")
    rows = json.loads((tmp_path / "rows.json").read_text())["rows"]
    evaluation = json.loads((shipped / "eval_world.json").read_text())
    assert len(rows) == 1 and rows[0]["labels_in_training"] == 200
    assert rows[0]["probe_accuracy"] == evaluation["probe_accuracy"]
    assert rows[0]["every_action_states"] == evaluation["from_states"]["every_action"]["all_right"]
    assert "| 200 |" in out

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from label_efficiency import labels_in_training
    finally:
        sys.path.pop(0)
    world_json = json.loads((shipped / "world.json").read_text())
    world_json["info"]["config"]["anchor_latents"] = False
    assert labels_in_training(world_json) == 0
    world_json["info"]["config"].update(anchor_latents=True, train_labels=10)
    assert labels_in_training(world_json) == 10

    result = subprocess.run([sys.executable, "benchmarks/label_efficiency.py", "--world", str(tmp_path), "--sb3-steps", "0"],
                            capture_output=True, text=True, cwd=ROOT, env=ENV)
    assert result.returncode != 0 and "no world.json" in result.stderr


def test_tile_sizes_benchmark_finds_the_open_door_that_looks_like_floor(tmp_path):
    """MiniGrid's own renderer at 4 px a tile draws an open door as floor (a world could not tell them apart); at
    8 px, today's DoorKey-8x8 rendering, every tile is its own picture."""
    out = tmp_path / "tile_sizes.json"
    run("benchmarks/tile_sizes.py", "--sizes", "4", "8", "--json", out)
    four, eight = json.loads(out.read_text())
    assert four["on_patches"] and eight["on_patches"] and (four["largest_grid"], eight["largest_grid"]) == (16, 8)
    assert four["tiles"] == eight["tiles"] > 100
    assert any({"floor", "door red open"} <= set(names) for names in four["look_the_same"])
    assert eight["look_the_same"] == [] and eight["distinct"] == eight["tiles"]
