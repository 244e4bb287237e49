"""Every command line holds every value to one table of rules before any work (genie_env.config.RULES): a bad
value is an `error:` line naming the flag and exit code 2, never a traceback and never a file the loader refuses."""
import dataclasses
import importlib
import os
import subprocess
import sys
import typing

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from genie_env.config import RULES, parse_config, value_problem

SCRIPTS = {"trainers.record": "RecordConfig", "trainers.tokenizer": "TrainTokenizerConfig",
           "trainers.world": "TrainWorldConfig", "trainers.check": "CheckConfig", "trainers.bridge": "BridgeConfig",
           "trainers.ppo_dream": "PPOConfig", "trainers.ppo_gpu": "PPOGPUConfig", "trainers.pipeline": "PipelineConfig",
           "trainers.ship": "ShipConfig"}


def numeric_fields():
    out = []
    for module, name in SCRIPTS.items():
        cls = getattr(importlib.import_module(module), name)
        hints = typing.get_type_hints(cls)
        out += [(cls, f.name, hints[f.name]) for f in dataclasses.fields(cls) if hints[f.name] in (int, float)]
    return out


FIELDS = numeric_fields()
VALUES = st.one_of(st.integers(-10**30, 10**30), st.sampled_from([0, -1, 1, 2**31, 2**63]),
                   st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["nan", "inf", "-inf", "abc", "", "1e999", "0x10"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), value=VALUES)
def test_a_flag_value_is_held_to_its_rule_or_refused_with_exit_2(field, value, capsys):
    cls, name, kind = field
    flag = "--" + name.replace("_", "-")
    capsys.readouterr()
    try:
        config = parse_config(cls, [flag, str(value)])
    except SystemExit as e:
        assert e.code == 2
        err = capsys.readouterr().err
        assert "error:" in err and (flag in err or "invalid" in err), err
        return
    parsed = getattr(config, name)
    assert isinstance(parsed, kind) and value_problem(name, parsed) is None
    if name in RULES:   # what was accepted lies in the rule's range
        low, high, _ = RULES[name]
        assert (low is None or parsed >= low) and (high is None or parsed <= high)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(["codebook_size", "code_dim", "hidden"]), value=st.integers(-5, 10**6))
def test_tokenizer_flags_accepted_build_a_tokenizer_the_loader_takes(name, value):
    from trainers.tokenizer import TrainTokenizerConfig, tokenizer_model

    try:
        config = parse_config(TrainTokenizerConfig, ["--" + name.replace("_", "-"), str(value)])
    except SystemExit as e:
        assert e.code == 2
        return
    try:
        tokenizer_model(config)     # what train() does first: the loader's own checks
    except ValueError as e:
        assert "trainers.tokenizer flags" in str(e), e   # refused before any work, naming what was wrong


@pytest.mark.parametrize("argv, flag", [
    (["trainers.record", "--seed", "-1"], "--seed"),
    (["trainers.record", "--seed", "99999999999999"], "--seed"),
    (["trainers.record", "--epsilon", "nan"], "--epsilon"),
    (["trainers.record", "--persistence", "-1"], "--persistence"),
    (["trainers.tokenizer", "--eval-every", "0"], "--eval-every"),
    (["trainers.world", "--warmup", "0"], "--warmup"),
    (["trainers.world", "--steps", "-5"], "--steps"),
    (["trainers.world", "--device", "bogus"], "--device"),
    (["trainers.ppo_dream", "--n-steps", "0"], "--n-steps"),
    (["trainers.ppo_dream", "--eval-episodes", "0"], "--eval-episodes"),
    (["trainers.world", "--out", "{file}/world"], "--out"),
    (["trainers.evaluate", "world", "--world", "empty8", "--data", "x", "--png", "{file}/a.png"], "--png"),
    (["genie_env.play", "--seed", "-1"], "--seed"),
    (["genie_env.play", "--scale", "-2"], "--scale"),
    (["genie_env.demo", "--seed", "-1"], "--seed"),
    (["genie_env.demo", "--gif", "out.txt"], "--gif"),
    (["genie_env.demo", "--gif", "{file}/x.gif"], "--gif"),
])
def test_bad_values_end_with_an_error_line_and_exit_2(argv, flag, tmp_path, capsys, monkeypatch):
    """In the process (as fast as a parse): each script's main() ends with the usage and one `error:` line."""
    a_file = tmp_path / "afile"
    a_file.write_text("not a folder")
    monkeypatch.chdir(tmp_path)
    argv = [a.replace("{file}", str(a_file)) for a in argv]
    with pytest.raises(SystemExit) as exit:
        importlib.import_module(argv[0]).main(argv[1:])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 2 and err[-1].startswith("error: ") and flag in err[-1], err
    assert not (tmp_path / "world").exists()


def test_a_real_process_ends_with_the_error_line_not_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "trainers.record", "--seed", "99999999999999", "--out", "d"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: argument --seed: must be a seed in [0, 2147483647]")
    assert not (tmp_path / "d").exists()     # refused before dataset.json was written (it crashed after, before)


@pytest.mark.parametrize("argv, says", [
    (["genie_env.play", "--world", "nosuch", "--max-frames", "1"], "no world at 'nosuch'"),
    (["genie_env.play", "--real", "--env", "CartPole-v1", "--max-frames", "1"], "is not a MiniGrid env"),
    (["genie_env.play", "--real", "--env", "Nope-v0", "--max-frames", "1"], "unknown --env"),
])
def test_bad_worlds_and_envs_end_with_an_error_line(argv, says, tmp_path):
    result = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"})
    assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr, result.stderr[-1500:]


def test_ctrl_c_ends_a_run_with_one_line_not_a_traceback(tiny_data, tmp_path):
    """SIGINT (Ctrl-C) in the middle of training: the last line says interrupted and how to go on, exit 130."""
    import signal
    import time

    # the child starts with SIGINT's default action, as from a terminal: a shell's background job (`cmd &`) passes
    # SIGINT on ignored, and Python then never turns it into KeyboardInterrupt, so the run would not stop
    run = subprocess.Popen([sys.executable, "-m", "trainers.tokenizer", "--data", str(tiny_data), "--out",
                            str(tmp_path / "tok"), "--steps", "100000", "--batch-size", "4", "--hidden", "16"],
                           stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "tok" / "tb").exists():   # training has begun
        time.sleep(0.2)
    time.sleep(1.0)
    run.send_signal(signal.SIGINT)
    err = run.communicate(timeout=120)[1]
    assert run.returncode == 130 and "Traceback" not in err, err[-1500:]
    assert err.strip().splitlines()[-1].startswith("error: interrupted (Ctrl-C); a resumable run continues with --resume")
