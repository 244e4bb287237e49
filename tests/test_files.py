"""Loading never runs code and bad files get errors that name the file."""
import io
import json
import pickle
import re
import shutil
import struct
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from genie_env import load_world_model
from genie_env.checkpoint import load_checkpoint, load_model
from genie_env.io import load_tensors
from genie_env.tokenizer import Tokenizer, TokenizerConfig


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def copy_world(src, dst):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("checkpoint.safetensors", "tb"))
    return dst


def load_tokenizer(path):
    return load_model(path, Tokenizer, TokenizerConfig, "tokenizer")


def edit_safetensors(path, edit):
    """Rewrite a safetensors file after `edit(tensors, metadata)` changed them in place."""
    tensors, metadata = load_tensors(path)
    edit(tensors, metadata)
    save_file(tensors, str(path), metadata)


def names(path):
    return re.escape(str(path))


@pytest.fixture(params=["world", "tokenizer", "checkpoint"])
def stored(request, tmp_path, tiny_world_path, tiny_tokenizer):
    """(a copy of one kind of file the project reads, the call that reads it)."""
    if request.param == "world":
        return copy_world(tiny_world_path, tmp_path / "w") / "world.safetensors", lambda path: load_world_model(path.parent)
    source = tiny_tokenizer if request.param == "tokenizer" else tiny_tokenizer.parent / "checkpoint.safetensors"
    path = tmp_path / source.name
    shutil.copy(source, path)
    if request.param == "tokenizer":
        return path, load_tokenizer
    return path, lambda path: load_checkpoint(path, load_tokenizer(tiny_tokenizer), None, None)


def test_intact_copies_load(stored):
    path, load = stored
    load(path)  # so the tests below fail because of their edit, not because of the copy


def torch_save_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("dump", [pickle.dumps, torch_save_bytes], ids=["pickle", "torch.save"])
def test_pickle_payload_is_refused_and_never_runs(stored, tmp_path, dump):
    path, load = stored
    marker = tmp_path / "pwned"
    path.write_bytes(dump(Payload(str(marker))))
    with pytest.raises(ValueError, match=names(path)):
        load(path)
    assert not marker.exists()


def header_length(data: bytes) -> int:
    return struct.unpack("<Q", data[:8])[0]


@pytest.mark.parametrize("cut", [
    lambda data: 0,
    lambda data: 4,                                                                    # inside the length prefix
    lambda data: 8 + header_length(data) // 2,                                         # inside the JSON header
    lambda data: (8 + header_length(data) + len(data)) // 2,                           # inside the tensor bytes
    lambda data: len(data) - 1,
], ids=["empty", "length", "header", "tensors", "last-byte"])
def test_truncated_file_is_refused(stored, cut):
    path, load = stored
    data = path.read_bytes()
    path.write_bytes(data[: cut(data)])
    with pytest.raises(ValueError, match=names(path)):
        load(path)


def rewrite_header(data: bytes, edit) -> bytes:
    header = json.loads(data[8 : 8 + header_length(data)])
    edit(header[next(k for k in sorted(header) if k != "__metadata__")])
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + data[8 + header_length(data) :]


@pytest.mark.parametrize("corrupt", [
    lambda data: struct.pack("<Q", len(data)) + data[8:],                              # header longer than the file
    lambda data: data[:8] + b"!" * header_length(data) + data[8 + header_length(data) :],
    lambda data: rewrite_header(data, lambda tensor: tensor.update(data_offsets=[0, 2**40])),
    lambda data: rewrite_header(data, lambda tensor: tensor.update(dtype="X99")),
    lambda data: rewrite_header(data, lambda tensor: tensor.update(shape=[7, 7, 7])),
], ids=["length", "not-json", "offsets", "dtype", "shape-vs-bytes"])
def test_bad_safetensors_header_is_refused(stored, corrupt):
    path, load = stored
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(ValueError, match=names(path)):
        load(path)


def edit_tensor(suffix, change):
    """An edit of the tensor whose name ends with `suffix` (e.g. 'encoder.0.weight' in any kind of file)."""
    def edit(tensors, metadata):
        key = next(k for k in sorted(tensors) if k.endswith(suffix))
        tensors[key] = change(tensors[key])

    return edit


@pytest.mark.parametrize("edit", [
    edit_tensor("encoder.0.weight", lambda t: t[:-1].clone()),
    edit_tensor("encoder.0.weight", lambda t: t.double()),
    edit_tensor("encoder.0.weight", lambda t: t.flatten().clone()),
], ids=["shape", "dtype", "flattened"])
def test_tensor_that_does_not_fit_is_refused(stored, edit):
    path, load = stored
    edit_safetensors(path, edit)
    with pytest.raises(ValueError, match=names(path)):
        load(path)


def test_missing_tensor_is_refused(stored):
    path, load = stored
    edit_safetensors(path, lambda tensors, metadata: tensors.pop(next(k for k in sorted(tensors) if "decoder" in k)))
    with pytest.raises(ValueError, match=names(path)):
        load(path)


def drop_first(prefix):
    return lambda tensors, metadata: tensors.pop(next(k for k in sorted(tensors) if k.startswith(prefix)))


@pytest.mark.parametrize("edit", [
    drop_first("lam."),
    drop_first("dynamics."),
    edit_tensor("vocab", lambda t: t[:-1].clone()),
    edit_tensor("bridge.weight", lambda t: t[:, :-1].clone()),
    drop_first("bridge."),
    edit_tensor("start_ids", lambda t: t.float()),
    edit_tensor("start_ids", lambda t: t[:, :8].clone()),
    edit_tensor("start_ids", lambda t: t + 200),
    edit_tensor("vocab", lambda t: t + 10_000),
    lambda tensors, metadata: tensors.update(surprise=torch.zeros(3)),
], ids=["no-lam", "no-dynamics", "vocab-shape", "bridge-shape", "no-bridge", "start-dtype", "start-shape", "start-range",
        "vocab-range", "unknown-tensor"])
def test_bad_world_tensors(tmp_path, tiny_world_path, edit):
    path = copy_world(tiny_world_path, tmp_path / "w") / "world.safetensors"
    edit_safetensors(path, edit)
    with pytest.raises(ValueError, match=names(path)):
        load_world_model(path.parent)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(version=99), "newer than this library"),
    (lambda m: m["dynamics"].pop("dim"), "missing keys"),
    (lambda m: m["dynamics"].update(surprise=1), "unknown keys"),
    (lambda m: m["dynamics"].update(dim=48), "expected"),
    (lambda m: m.update(format="something-else"), "not a GenieDream world"),
    (lambda m: m.pop("bridge"), "missing key 'bridge'"),
    (lambda m: m.update(tokenizer=[64, 32]), "must be a JSON object"),
])
def test_bad_world_json(tmp_path, tiny_world_path, edit, message):
    world = copy_world(tiny_world_path, tmp_path / "w")
    meta = json.loads((world / "world.json").read_text())
    edit(meta)
    (world / "world.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=message):
        load_world_model(world)


def edit_config(change):
    def edit(tensors, metadata):
        metadata["config"] = json.dumps(change(json.loads(metadata["config"])))

    return edit


@pytest.mark.parametrize("edit, message", [
    (lambda t, m: m.update(format_version="99"), "newer than this library"),
    (lambda t, m: m.update(format_version="one"), "not a whole number"),
    (lambda t, m: m.pop("config"), "no 'config'"),
    (lambda t, m: m.update(config="{not json"), "not valid JSON"),
    (edit_config(lambda c: {**c, "surprise": 1}), "unknown keys"),
    (edit_config(lambda c: {k: v for k, v in c.items() if k != "hidden"}), "missing keys"),
    (edit_config(lambda c: {**c, "hidden": c["hidden"] * 2}), "expected"),
])
def test_bad_model_metadata(tmp_path, tiny_tokenizer, edit, message):
    path = tmp_path / "tokenizer.safetensors"
    shutil.copy(tiny_tokenizer, path)
    edit_safetensors(path, edit)
    with pytest.raises(ValueError, match=f"{names(path)}: .*{message}"):
        load_tokenizer(path)


@pytest.mark.parametrize("edit, message", [
    (lambda t, m: m.update(training_state="{not json"), "not valid JSON"),
    (lambda t, m: m.pop("training_state"), "not a training checkpoint"),
    (lambda t, m: t.pop("rng.torch"), "not a training checkpoint"),
])
def test_bad_checkpoint_metadata(tmp_path, tiny_tokenizer, edit, message):
    path = tmp_path / "checkpoint.safetensors"
    shutil.copy(tiny_tokenizer.parent / "checkpoint.safetensors", path)
    edit_safetensors(path, edit)
    with pytest.raises(ValueError, match=f"{names(path)}: .*{message}"):
        load_checkpoint(path, load_tokenizer(tiny_tokenizer), None, None)


def test_resume_with_another_model_size_is_refused(tmp_path, tiny_data, tiny_tokenizer):
    from trainers.tokenizer import TrainTokenizerConfig, train

    shutil.copy(tiny_tokenizer.parent / "checkpoint.safetensors", tmp_path)
    with pytest.raises(ValueError, match="checkpoint.safetensors: cannot resume: .*hidden"):
        train(TrainTokenizerConfig(data=[str(tiny_data)], out=str(tmp_path), steps=50, codebook_size=64, hidden=16,
                                   resume=True))


def test_trainer_reports_a_pickle_checkpoint_without_running_it(tmp_path, tiny_data):
    marker = tmp_path / "pwned"
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.safetensors").write_bytes(pickle.dumps(Payload(str(marker))))
    result = subprocess.run([sys.executable, "-m", "trainers.tokenizer", "--data", str(tiny_data), "--out", str(out),
                             "--steps", "5", "--resume"], capture_output=True, text=True)
    assert result.returncode != 0 and "checkpoint.safetensors: not a valid safetensors file" in result.stderr
    assert "Traceback" not in result.stderr and not marker.exists()


def test_not_json(tmp_path, tiny_world_path):
    world = copy_world(tiny_world_path, tmp_path / "w")
    (world / "world.json").write_text("{not json")
    with pytest.raises(ValueError, match="world.json"):
        load_world_model(world)


def test_missing_world_names_shipped_ones(tmp_path):
    with pytest.raises(FileNotFoundError, match="no world at"):
        load_world_model(tmp_path / "nowhere")


def test_tokenizer_from_world_is_the_one_it_holds(tiny_world_path, tmp_path):
    """trainers.tokenizer --from-world writes the world's own tokenizer, bit for bit: what a pipeline --init run
    needs, since its world stage must keep the tokenizer of the world it starts from."""
    from genie_env import load_world_model
    from genie_env.checkpoint import load_model
    from genie_env.tokenizer import Tokenizer, TokenizerConfig
    from trainers.tokenizer import main

    main(["--from-world", str(tiny_world_path), "--out", str(tmp_path / "tok")])
    written = load_model(tmp_path / "tok" / "tokenizer.safetensors", Tokenizer, TokenizerConfig, "tokenizer")
    held = load_world_model(tiny_world_path).tokenizer
    assert written.config == held.config
    for (name, x), y in zip(written.state_dict().items(), held.state_dict().values()):
        assert torch.equal(x, y), name
