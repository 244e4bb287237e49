"""Inputs checked (docs/RELIABILITY.md): a run reuses only what the same inputs made, a loaded world owns its
memory, shipped names and paths do not mix, every config value read from a file is checked, trainers check their
data first, and scripts answer bad input with an `error:` line instead of a traceback."""
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from genie_env import load_world_model
from genie_env.io import sha256_file, atomic_write_json, load_tensors, read_json

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, env=ENV, cwd=cwd or ROOT)


def refused(result: subprocess.CompletedProcess, *words) -> None:
    """The script exited non-zero with one `error:` line that says `words`, and no traceback."""
    assert result.returncode != 0, result.stdout[-1000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith("error: "), result.stderr[-2000:]
    for word in words:
        assert word in result.stderr, result.stderr[-2000:]


def copy_world(src, dst) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("checkpoint.safetensors", "tb"))
    return dst


def edit_json(path, edit) -> None:
    meta = read_json(path)
    edit(meta)
    path.write_text(json.dumps(meta))


def edit_tensors(path, edit) -> None:
    """Edit a safetensors file; a world's world.json is told the new weights' digest (as a consistent save would)."""
    tensors, metadata = load_tensors(path)
    edit(tensors, metadata)
    save_file(tensors, str(path), metadata)
    meta_path = path.parent / "world.json"
    if path.name == "world.safetensors" and meta_path.is_file():
        edit_json(meta_path, lambda meta: meta.update(weights_sha256=sha256_file(path)))


# --- worlds in memory the process owns ----------------------------------------------------------------------

def test_loaded_world_survives_its_file_being_cut(tiny_world_path, tmp_path):
    """A memory-mapped world died with SIGBUS when its file was cut under it; an owned copy keeps dreaming."""
    world = copy_world(tiny_world_path, tmp_path / "w")
    script = ("import gymnasium as gym, genie_env, sys\n"
              f"env = gym.make('GenieDream-v0', world={str(world)!r}, device='cpu')\n"
              "env.reset(seed=0)\n"
              f"open({str(world / 'world.safetensors')!r}, 'r+b').truncate(0)\n"
              "for _ in range(3):\n    env.step(0)\n"
              "print('dreamed on')\n")
    result = run("-c", script)
    assert result.returncode == 0 and "dreamed on" in result.stdout, (result.returncode, result.stderr[-2000:])


def test_changed_world_is_loaded_afresh_not_mixed(tiny_world_path, tmp_path):
    from genie_env.dream import shared_world

    world = copy_world(tiny_world_path, tmp_path / "w")
    first = shared_world(str(world), "cpu")
    assert shared_world(str(world), "cpu") is first               # unchanged files: one shared copy
    edit_json(world / "world.json", lambda meta: meta["info"]["reward_rule"].update(high=0.25))
    second = shared_world(str(world), "cpu")
    assert second is not first and second.info["reward_rule"]["high"] == 0.25
    assert first.info["reward_rule"]["high"] != 0.25               # the old copy is left as it was


# --- shipped names and paths -------------------------------------------------------------------------------

def test_shipped_world_name_is_not_taken_from_the_current_folder(tiny_world_path, tmp_path, monkeypatch):
    from genie_env.world_file import WORLDS_DIR, resolve_world_path

    copy_world(tiny_world_path, tmp_path / "empty8")
    monkeypatch.chdir(tmp_path)
    assert resolve_world_path(None) == WORLDS_DIR / "empty8"
    assert resolve_world_path("empty8") == WORLDS_DIR / "empty8"
    assert resolve_world_path("./empty8").resolve() == (tmp_path / "empty8").resolve()
    assert resolve_world_path(str(tmp_path / "empty8")) == tmp_path / "empty8"


# --- config values read from files -----------------------------------------------------------------------

WORLD_EDITS = {
    "layers-huge": (lambda m: m["dynamics"].update(layers=10**9), "layers"),
    "dim-huge": (lambda m: m["dynamics"].update(dim=3000), "dim"),
    "heads-do-not-divide-dim": (lambda m: m["dynamics"].update(heads=3), "heads"),
    "layers-bool": (lambda m: m["latent_action"].update(layers=True), "layers"),
    "dim-string": (lambda m: m["dynamics"].update(dim="64"), "dim"),
    "commitment-nan": (lambda m: m["tokenizer"].update(commitment=float("nan")), "NaN is not a JSON number"),
    "bottleneck-unknown": (lambda m: m["latent_action"].update(bottleneck="fsq"), "bottleneck"),
    "vocab-differs": (lambda m: m["latent_action"].update(vocab_size=m["latent_action"]["vocab_size"] + 1), "vocab_size"),
    "info-null": (lambda m: m.update(info=None), "info"),
    "reward-rule-missing": (lambda m: m["info"].pop("reward_rule"), "reward_rule"),
    "reward-low-above-high": (lambda m: m["info"]["reward_rule"].update(low=2.0, high=1.0), "reward_rule.high"),
    "reward-inf": (lambda m: m["info"]["reward_rule"].update(high=float("inf")), "Infinity is not a JSON number"),
    "end-only-not-bool": (lambda m: m["info"]["reward_rule"].update(at_end_only="yes"), "at_end_only"),
    "noop-action-99": (lambda m: m["bridge"].update(noop_action=99), "noop_action"),
    "labels-negative": (lambda m: m["bridge"].update(labels=-1), "labels"),
    "bridge-extra-key": (lambda m: m["bridge"].update(temperature=2), "bridge"),
}


@pytest.mark.parametrize("edit", sorted(WORLD_EDITS))
def test_world_json_values_are_checked(tiny_world_path, tmp_path, edit):
    world = copy_world(tiny_world_path, tmp_path / "w")
    change, key = WORLD_EDITS[edit]
    edit_json(world / "world.json", change)
    with pytest.raises(ValueError) as error:
        load_world_model(world)
    assert str(world / "world.json") in str(error.value) and key in str(error.value)


def test_non_finite_weights_are_refused(tiny_world_path, tiny_tokenizer, tmp_path):
    from genie_env.checkpoint import load_model
    from genie_env.tokenizer import Tokenizer, TokenizerConfig

    world = copy_world(tiny_world_path, tmp_path / "w")
    name = next(k for k in load_tensors(world / "world.safetensors")[0] if k.startswith("dynamics.") and "weight" in k)
    edit_tensors(world / "world.safetensors", lambda t, m: t[name].view(-1)[0].fill_(float("nan")))
    with pytest.raises(ValueError, match=f"world.safetensors: tensor {name} holds NaN"):
        load_world_model(world)
    tokenizer = tmp_path / "tokenizer.safetensors"
    shutil.copy(tiny_tokenizer, tokenizer)
    # a floating-point tensor, by name: safetensors hands tensors back in no fixed order, and when the bool buffer
    # quantizer.initialized came first, "inf" wrote True into it and the test failed (seen in CI, 1 run in 3)
    first_float = lambda t: t[next(k for k in sorted(t) if t[k].is_floating_point())]
    edit_tensors(tokenizer, lambda t, m: first_float(t).view(-1)[0].fill_(float("inf")))
    with pytest.raises(ValueError, match="tokenizer.safetensors: tensor .* infinite"):
        load_model(tokenizer, Tokenizer, TokenizerConfig, "tokenizer")


def test_model_over_the_parameter_budget_is_refused_before_allocation(tiny_world_path, tmp_path):
    """Every field within its bound, the whole too big (billions of parameters): counted on the meta device and
    refused without allocating."""
    world = copy_world(tiny_world_path, tmp_path / "w")
    edit_json(world / "world.json", lambda m: m["dynamics"].update(dim=2048, layers=64, heads=64))
    with pytest.raises(ValueError, match="world.json: Dynamics config asks for .* parameters"):
        load_world_model(world)


@pytest.mark.parametrize("edit, key", [
    (lambda s: s.update(step="ten"), "training_state.step"),
    (lambda s: s.update(step=-1), "training_state.step"),
    (lambda s: s.update(config=None), "training_state.config"),
    (lambda s: s.update(param_groups={"lr": 1}), "training_state.param_groups"),
    (lambda s: s.update(numpy_rng={"state": "none"}), "RNG state"),
])
def test_checkpoint_metadata_values_are_checked(tiny_tokenizer, tmp_path, edit, key):
    from genie_env.checkpoint import load_checkpoint, load_model
    from genie_env.tokenizer import Tokenizer, TokenizerConfig

    checkpoint = tmp_path / "checkpoint.safetensors"
    shutil.copy(tiny_tokenizer.parent / "checkpoint.safetensors", checkpoint)

    def change(tensors, metadata):
        state = json.loads(metadata["training_state"])
        edit(state)
        metadata["training_state"] = json.dumps(state)
    edit_tensors(checkpoint, change)
    model = load_model(tiny_tokenizer, Tokenizer, TokenizerConfig, "tokenizer")
    with pytest.raises(ValueError, match=f"checkpoint.safetensors: .*{key}"):
        load_checkpoint(checkpoint, model, torch.optim.Adam(model.parameters()), np.random.default_rng(0))


@pytest.mark.parametrize("edit, key", [
    (lambda m: m.update(num_actions=10**9), "num_actions"),
    (lambda m: m.update(num_actions=0), "num_actions"),
    (lambda m: m.update(num_actions=7.0), "num_actions"),
    (lambda m: m.update(observation_shape=[3, 64]), "observation_shape"),
    (lambda m: m.update(observation_shape=[3, 10**6, 10**6]), "observation_shape"),
    (lambda m: m.update(info=None), "info"),
])
def test_policy_json_values_are_checked(tmp_path, edit, key):
    from genie_env.agent import Agent

    meta = {"format": "genie-agent", "version": 1, "num_actions": 7, "observation_shape": [3, 64, 64],
            "info": {"config": {}}}
    edit(meta)
    (tmp_path / "policy.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=f"policy.json: .*{key}"):
        Agent(tmp_path)


# --- trainers: resume only the same run, check the data first --------------------------------------------------

TOKENIZER = ["-m", "trainers.tokenizer", "--steps", "4", "--batch-size", "4", "--codebook-size", "16", "--hidden", "8",
             "--eval-every", "2", "--checkpoint-every", "2"]


@pytest.fixture(scope="module")
def other_data(tmp_path_factory):
    from trainers.record import RecordConfig, record

    out = tmp_path_factory.mktemp("other") / "data"
    record(RecordConfig(env="MiniGrid-Empty-5x5-v0", episodes=3, policy="random", out=str(out), seed=7, workers=1))
    return out


def test_resume_with_other_data_or_hyperparameters_is_refused(tiny_data, other_data, tmp_path):
    out = tmp_path / "tok"
    assert run(*TOKENIZER, "--data", tiny_data, "--out", out).returncode == 0
    refused(run(*TOKENIZER, "--data", tiny_data, "--out", out, "--resume", "--lr", "0.1"), "cannot resume", "lr")
    refused(run(*TOKENIZER, "--data", tiny_data, "--out", out, "--resume", "--steps", "6"), "cannot resume", "steps")
    refused(run(*TOKENIZER, "--data", other_data, "--out", out, "--resume"), "cannot resume", "data")
    # the same data re-recorded in place with other content (same path, same flags): the digest tells
    moved = tmp_path / "moved"
    shutil.copytree(tiny_data, moved)
    assert run(*TOKENIZER, "--data", moved, "--out", tmp_path / "tok2").returncode == 0
    shutil.rmtree(moved)
    shutil.copytree(other_data, moved)
    refused(run(*TOKENIZER, "--data", moved, "--out", tmp_path / "tok2", "--resume"), "cannot resume", "data")


def test_resuming_a_finished_run_keeps_its_metrics(tiny_data, tmp_path):
    out = tmp_path / "tok"
    first = run(*TOKENIZER, "--data", tiny_data, "--out", out)
    assert first.returncode == 0, first.stderr[-2000:]
    weights = (out / "tokenizer.safetensors").read_bytes()
    again = run(*TOKENIZER, "--data", tiny_data, "--out", out, "--resume", "--eval-every", "1")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "already finished" in again.stdout and "nan" not in again.stdout
    assert again.stdout.splitlines()[-1] == first.stdout.splitlines()[-1]          # the same val psnr line
    assert (out / "tokenizer.safetensors").read_bytes() == weights


def test_world_trainer_resume_is_checked_and_a_finished_run_kept(tiny_data, tiny_tokenizer, other_data, tmp_path):
    args = ["-m", "trainers.world", "--data", tiny_data, "--tokenizer", tiny_tokenizer, "--out", tmp_path / "w",
            "--steps", "4", "--eval-every", "2", "--checkpoint-every", "2", "--batch-size", "4", "--lam-dim", "16",
            "--dim", "16", "--layers", "1", "--bridge-labels", "10", "--device", "cpu", "--start-states", "16"]
    assert run(*args).returncode == 0
    world = (tmp_path / "w" / "world.safetensors").read_bytes()
    again = run(*args, "--resume")
    assert again.returncode == 0 and "already finished" in again.stdout and "nan" not in again.stdout, again.stderr[-2000:]
    assert (tmp_path / "w" / "world.safetensors").read_bytes() == world
    refused(run(*args, "--resume", "--changed-weight", "2"), "cannot resume", "changed_weight")
    refused(run(*[a if a != tiny_data else other_data for a in args], "--resume"), "cannot resume", "data")


def test_ppo_resume_is_checked(tiny_world_path, tmp_path):
    """A resumed PPO run keeps its hyper-parameters: another --steps (it re-points the learning rate) or --lr is
    refused before anything is written; measuring differently is allowed."""
    args = ["-m", "trainers.ppo_dream", "--world", tiny_world_path, "--steps", "64", "--num-envs", "2", "--n-steps",
            "16", "--checkpoint-every", "32", "--eval-every", "0", "--max-episode-steps", "8", "--out", tmp_path / "ppo"]
    first = run(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    (tmp_path / "ppo" / "policy.json").unlink()                 # as if stopped after its last checkpoint
    before = (tmp_path / "ppo" / "checkpoint.safetensors").read_bytes()
    refused(run(*args, "--resume", "--steps", "128"), "cannot resume", "steps")
    refused(run(*args, "--resume", "--lr", "0.001"), "cannot resume", "lr")
    assert (tmp_path / "ppo" / "checkpoint.safetensors").read_bytes() == before
    assert run(*args, "--resume", "--eval-every", "0", "--checkpoint-every", "16").returncode == 0


@pytest.fixture(scope="module")
def one_episode(tmp_path_factory):
    from trainers.record import RecordConfig, record

    out = tmp_path_factory.mktemp("one") / "data"
    record(RecordConfig(env="MiniGrid-Empty-5x5-v0", episodes=1, policy="explore", out=str(out), seed=0, workers=1))
    return out


@pytest.mark.parametrize("case", ["one-episode", "val-fraction-0"])
def test_trainers_refuse_data_without_validation_up_front(tiny_data, one_episode, tiny_tokenizer, tmp_path, case):
    data, extra = (one_episode, []) if case == "one-episode" else (tiny_data, ["--val-fraction", "0"])
    result = run(*TOKENIZER, "--data", data, "--out", tmp_path / "tok", *extra)
    refused(result, "validation")
    assert not (tmp_path / "tok" / "checkpoint.safetensors").exists()             # refused before the first step
    result = run("-m", "trainers.world", "--data", data, "--tokenizer", tiny_tokenizer, "--out", tmp_path / "w",
                 "--steps", "2", "--batch-size", "2", "--dim", "16", "--lam-dim", "16", "--layers", "1", *extra)
    refused(result, "validation")
    assert not (tmp_path / "w" / "checkpoint.safetensors").exists()


# --- the pipeline reuses a stage only for the same command and inputs ------------------------------------------

def test_pipeline_reuses_a_stage_only_for_the_same_inputs(tmp_path):
    from trainers.pipeline import Stage, default_work, run_stage

    assert default_work("a/world") != default_work("b/world")                    # two outs never share stages
    records, data, upstream = tmp_path / "stages", tmp_path / "data", tmp_path / "upstream.txt"
    records.mkdir()
    upstream.write_text("one")
    args = ["trainers.record", "--env", "MiniGrid-Empty-5x5-v0", "--episodes", "1", "--workers", "1", "--out", str(data)]
    stage = Stage("record", args, [data / "manifest.json"], [upstream], True)
    assert run_stage(stage, records)["ran"]
    assert not run_stage(stage, records)["ran"]                                  # the same command: reused
    with pytest.raises(ValueError, match="other args"):
        run_stage(Stage("record", [*args, "--seed", "3"], stage.outputs, [upstream], True), records)
    upstream.write_text("two")
    with pytest.raises(ValueError, match="other reads"):
        run_stage(stage, records)
    upstream.write_text("one")
    (records / "record.json").unlink()                                           # an output no record explains
    with pytest.raises(ValueError, match="no record"):
        run_stage(stage, records)


# --- error lines, not tracebacks ---------------------------------------------------------------------------

@pytest.fixture()
def agent_file(tmp_path):
    (tmp_path / "agent").mkdir()
    (tmp_path / "agent" / "sb3_model.zip").write_bytes(b"PK")
    return tmp_path / "agent" / "sb3_model.zip"


BAD_COMMANDS = {
    "evaluate-unknown-env": (["trainers.evaluate", "agent", "--agent", "{tmp}", "--env", "MiniGrid-Nope-v0"], "unknown --env"),
    "evaluate-cartpole": (["trainers.evaluate", "agent", "--agent", "{tmp}", "--env", "CartPole-v1"], "not a MiniGrid env"),
    "evaluate-zero-episodes": (["trainers.evaluate", "agent", "--agent", "{tmp}", "--episodes", "0"], "argument --episodes: must be a count >= 1"),
    "evaluate-agent-file": (["trainers.evaluate", "agent", "--agent", "{agent}"], "not a file in it"),
    "ppo-real-cartpole": (["trainers.ppo_dream", "--real-env", "CartPole-v1", "--out", "{tmp}/ppo"], "not a MiniGrid env"),
    "ppo-real-unknown": (["trainers.ppo_dream", "--real-env", "Nope-v0", "--out", "{tmp}/ppo"], "unknown --real-env"),
    "ppo-eval-other-game": (["trainers.ppo_dream", "--world", "empty8", "--eval-env", "MiniGrid-DoorKey-8x8-v0",
                             "--out", "{tmp}/ppo"], "is a world of MiniGrid-Empty-8x8-v0, but --eval-env"),
    "ppo-real-other-game": (["trainers.ppo_dream", "--real-env", "MiniGrid-DoorKey-8x8-v0", "--out", "{tmp}/ppo"],
                            "is a world of MiniGrid-Empty-8x8-v0, but --real-env"),
    "bridge-no-labels": (["trainers.bridge", "--labels", "0", "--out", "{tmp}/w"], "argument --labels: must be a count >= 1"),
    "bridge-negative-cover": (["trainers.bridge", "--cover-labels", "-1", "--out", "{tmp}/w"], "argument --cover-labels: must be a count >= 0"),
    "world-negative-cover": (["trainers.world", "--cover-labels", "-1", "--out", "{tmp}/w"], "argument --cover-labels: must be a count >= 0"),
    "world-negative-starts": (["trainers.world", "--start-states", "-1", "--out", "{tmp}/w"], "argument --start-states: must be a count >= 0"),
}


@pytest.mark.parametrize("case", sorted(BAD_COMMANDS))
def test_scripts_answer_bad_input_with_an_error_line(tmp_path, agent_file, case):
    args, message = BAD_COMMANDS[case]
    args = [a.format(tmp=tmp_path, agent=agent_file) for a in args]
    refused(run("-m", *args), message)
    assert not (tmp_path / "ppo").exists() and not (tmp_path / "w").exists()


def test_record_of_a_non_minigrid_env_is_refused_and_writes_nothing(tmp_path):
    refused(run("-m", "trainers.record", "--env", "CartPole-v1", "--episodes", "1", "--out", tmp_path / "data"),
            "not a MiniGrid env")
    assert not (tmp_path / "data").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_demo_on_a_missing_cuda_device_is_an_error_line(tiny_world_path, tmp_path):
    refused(run("-m", "genie_env.demo", "--world", tiny_world_path, "--device", "cuda", "--gif", tmp_path / "d.gif"),
            "CUDA")


def test_full_disk_while_recording_is_an_error_line(tmp_path, monkeypatch, capsys):
    from trainers.record import main

    def full(*args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SystemExit) as exit:
        main(["--env", "MiniGrid-Empty-5x5-v0", "--episodes", "1", "--workers", "1", "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit.value.code == 2 and err.startswith("error: ") and "No space left" in err


def test_a_json_that_cannot_be_written_is_refused_before_the_evaluation(tiny_tokenizer, tiny_data, tmp_path):
    (tmp_path / "file").write_text("a file, not a folder")
    result = run("-m", "trainers.evaluate", "tokenizer", "--tokenizer", tiny_tokenizer, "--data", tiny_data,
                 "--frames", "8", "--json", tmp_path / "file" / "eval.json")
    refused(result, "argument --json", "cannot be written under it")
    assert result.returncode == 2 and result.stdout == ""                          # no work was done and lost


# --- the env and the world at their edges -------------------------------------------------------------------

def test_tiny_temperature_dreams_greedily_not_nan(tiny_world_path):
    import gymnasium as gym

    frames = {}
    for temperature in (0.0, 1e-38):
        env = gym.make("GenieDream-v0", world=str(tiny_world_path), device="cpu", temperature=temperature)
        env.reset(seed=0)
        frames[temperature] = [env.step(k % env.action_space.n)[0] for k in range(4)]
    assert all(np.array_equal(a, b) for a, b in zip(frames[0.0], frames[1e-38]))


def test_env_to_latent_action_of_no_frames_is_empty(tiny_world):
    latents = tiny_world.env_to_latent_action(np.zeros((0, 64, 64, 3), np.uint8), np.zeros(0, np.int64))
    assert latents.shape == (0,) and latents.dtype == np.int64


@pytest.mark.parametrize("limit", [None, -1])
def test_vector_env_reads_no_limit_like_gymnasium(tiny_world_path, limit):
    from genie_env.envs import GenieDreamVectorEnv

    envs = GenieDreamVectorEnv(num_envs=2, world=str(tiny_world_path), device="cpu", max_episode_steps=limit)
    envs.reset(seed=0)
    for _ in range(3):
        truncated = envs.step(np.zeros(2, np.int64))[3]
        assert not np.asarray(truncated).any()


def test_vector_env_refuses_max_episode_steps_0_like_gym_make(tiny_world_path):
    from genie_env.envs import GenieDreamVectorEnv

    with pytest.raises(ValueError, match="max_episode_steps"):
        GenieDreamVectorEnv(num_envs=2, world=str(tiny_world_path), device="cpu", max_episode_steps=0)


@pytest.mark.parametrize("umask, mode", [(0o077, 0o600), (0o002, 0o664), (0o022, 0o644)])
def test_files_are_created_with_the_users_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_json(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == mode


def test_pipeline_refuses_a_negative_override_before_running_anything(tmp_path, capsys):
    from trainers.pipeline import main

    with pytest.raises(SystemExit) as exit:
        main(["--out", str(tmp_path / "world"), "--work", str(tmp_path / "work"), "--world-steps", "-5"])
    assert exit.value.code == 2 and "error: argument --world-steps: must be a count >= 0" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


def test_pipeline_help_says_what_each_preset_is_for(capsys):
    """Issue 25: --help listed `default, seed, tiny` and said nothing of them."""
    from trainers.pipeline import PRESET_USES, PRESETS, main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())   # wrapped lines, read as one text
    assert set(PRESET_USES) == set(PRESETS)
    for name, use in PRESET_USES.items():
        assert f"{name} {' '.join(use.split())} ({PRESETS[name]['episodes']} training episodes" in shown
    assert "see docs/RESULTS.md" in shown
