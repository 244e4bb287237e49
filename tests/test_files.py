"""Loading never runs code and bad files get errors that name the file."""
import json
import pickle
import shutil

import pytest

from genie_env import load_world_model
from genie_env.checkpoint import load_model
from genie_env.tokenizer import Tokenizer, TokenizerConfig


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def copy_world(src, dst):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("checkpoint.safetensors", "tb"))
    return dst


def test_pickle_payload_is_refused_and_never_runs(tmp_path, tiny_world_path):
    world = copy_world(tiny_world_path, tmp_path / "w")
    marker = tmp_path / "pwned"
    (world / "world.safetensors").write_bytes(pickle.dumps(Payload(str(marker))))
    with pytest.raises(ValueError, match="world.safetensors"):
        load_world_model(world)
    tok = tmp_path / "tok.safetensors"
    tok.write_bytes(pickle.dumps(Payload(str(marker))))
    with pytest.raises(ValueError, match="tok.safetensors"):
        load_model(tok, Tokenizer, TokenizerConfig, "tokenizer")
    assert not marker.exists()


def test_truncated_weights(tmp_path, tiny_world_path):
    world = copy_world(tiny_world_path, tmp_path / "w")
    data = (world / "world.safetensors").read_bytes()
    (world / "world.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="world.safetensors"):
        load_world_model(world)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(version=99), "newer than this library"),
    (lambda m: m["dynamics"].pop("dim"), "missing keys"),
    (lambda m: m["dynamics"].update(surprise=1), "unknown keys"),
    (lambda m: m["dynamics"].update(dim=48), "expected"),
    (lambda m: m.update(format="something-else"), "not a GenieDream world"),
])
def test_bad_world_json(tmp_path, tiny_world_path, edit, message):
    world = copy_world(tiny_world_path, tmp_path / "w")
    meta = json.loads((world / "world.json").read_text())
    edit(meta)
    (world / "world.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=message):
        load_world_model(world)


def test_not_json(tmp_path, tiny_world_path):
    world = copy_world(tiny_world_path, tmp_path / "w")
    (world / "world.json").write_text("{not json")
    with pytest.raises(ValueError, match="world.json"):
        load_world_model(world)


def test_missing_world_names_shipped_ones(tmp_path):
    with pytest.raises(FileNotFoundError, match="no world at"):
        load_world_model(tmp_path / "nowhere")
