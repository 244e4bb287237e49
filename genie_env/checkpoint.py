"""Training checkpoints: model, optimizer and RNG state in one safetensors file, written atomically.

Everything that is not a tensor (step, config, optimizer hyper-parameters, numpy RNG state) travels as JSON in
the safetensors metadata, so one rename makes a checkpoint whole and loading never unpickles.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from genie_env.io import load_tensors, save_tensors


def save_checkpoint(path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int,
                    config: dict, rng: np.random.Generator, extra: dict | None = None) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    optim_state = optimizer.state_dict()
    for pid, state in optim_state["state"].items():
        for key, value in state.items():
            tensors[f"optim.{pid}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    tensors["rng.torch"] = torch.get_rng_state()
    info = {"step": step, "config": config, "param_groups": optim_state["param_groups"],
            "numpy_rng": rng.bit_generator.state, "extra": extra or {}}
    save_tensors(path, tensors, metadata={"training_state": json.dumps(info)})


def load_checkpoint(path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
                    rng: np.random.Generator | None) -> dict:
    """Restore a checkpoint in place; return its JSON part (step, config, extra)."""
    tensors, metadata = load_tensors(path)
    if "training_state" not in metadata or "rng.torch" not in tensors:
        raise ValueError(f"{path}: not a training checkpoint (no training_state metadata or torch RNG state)")
    info = _json_metadata(metadata, "training_state", path)
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    check_state_dict(path, model.state_dict(), model_state)
    model.load_state_dict(model_state)
    if optimizer is not None:
        state: dict = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, pid, name = key.split(".", 2)
                state.setdefault(int(pid), {})[name] = value
        optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    if rng is not None:
        rng.bit_generator.state = info["numpy_rng"]
    return info


def check_state_dict(path, expected: dict, found: dict) -> None:
    """Refuse weights that do not fit a model (a run with other flags, an edited file), naming the file."""
    missing, unexpected = set(expected) - set(found), set(found) - set(expected)
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not fit the model (missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")
    for key, value in found.items():
        if value.shape != expected[key].shape or value.dtype != expected[key].dtype:
            raise ValueError(f"{path}: tensor {key} is {tuple(value.shape)} {value.dtype}, "
                             f"expected {tuple(expected[key].shape)} {expected[key].dtype}")


def _json_metadata(metadata: dict, key: str, path):
    try:
        return json.loads(metadata[key])
    except KeyError:
        raise ValueError(f"{path}: no {key!r} in the file's metadata") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: metadata {key!r} is not valid JSON ({e})") from None


def latest_checkpoint(folder) -> Path | None:
    path = Path(folder) / "checkpoint.safetensors"
    return path if path.is_file() else None


MODEL_FORMAT_VERSION = 1


def config_from_dict(config_cls, values: dict, source) -> object:
    """Rebuild a config dataclass, naming `source` and the offending keys when the dict does not fit."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(config_cls)}
    if not isinstance(values, dict):
        raise ValueError(f"{source}: {config_cls.__name__} must be a JSON object")
    missing, extra = names - set(values), set(values) - names
    if missing or extra:
        raise ValueError(f"{source}: {config_cls.__name__} has missing keys {sorted(missing)} and unknown keys {sorted(extra)}")
    return config_cls(**values)


def save_model(path, model: torch.nn.Module, kind: str, extra: dict | None = None) -> None:
    """Final weights of one model plus its config, e.g. the trained tokenizer."""
    import dataclasses

    metadata = {"kind": kind, "format_version": str(MODEL_FORMAT_VERSION),
                "config": json.dumps(dataclasses.asdict(model.config)), "extra": json.dumps(extra or {})}
    save_tensors(path, model.state_dict(), metadata)


def load_model(path, model_cls, config_cls, kind: str):
    tensors, metadata = load_tensors(path)
    if metadata.get("kind") != kind:
        raise ValueError(f"{path}: expected a {kind} file, found kind {metadata.get('kind')!r}")
    version = metadata.get("format_version", "")
    if not version.isdigit():
        raise ValueError(f"{path}: format version {version!r} is not a whole number")
    if int(version) > MODEL_FORMAT_VERSION:
        raise ValueError(f"{path}: format version {version} is newer than this library's {MODEL_FORMAT_VERSION}")
    model = model_cls(config_from_dict(config_cls, _json_metadata(metadata, "config", path), path))
    check_state_dict(path, model.state_dict(), tensors)
    model.load_state_dict(tensors)
    return model.eval()
