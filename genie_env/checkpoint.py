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
    if "training_state" not in metadata:
        raise ValueError(f"{path}: not a training checkpoint (no training_state metadata)")
    info = json.loads(metadata["training_state"])
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    missing, unexpected = set(model.state_dict()) - set(model_state), set(model_state) - set(model.state_dict())
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not fit the model (missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")
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
    if int(metadata.get("format_version", -1)) > MODEL_FORMAT_VERSION:
        raise ValueError(f"{path}: format version {metadata['format_version']} is newer than this library's {MODEL_FORMAT_VERSION}")
    model = model_cls(config_from_dict(config_cls, json.loads(metadata["config"]), path))
    expected = model.state_dict()
    for key, value in tensors.items():
        if key in expected and expected[key].shape != value.shape:
            raise ValueError(f"{path}: tensor {key} has shape {tuple(value.shape)}, expected {tuple(expected[key].shape)}")
    missing, unexpected = set(expected) - set(tensors), set(tensors) - set(expected)
    if missing or unexpected:
        raise ValueError(f"{path}: tensors missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}")
    model.load_state_dict(tensors)
    return model.eval()
