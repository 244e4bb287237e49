"""Training checkpoints: model, optimizer and RNG state in one safetensors file, written atomically.

Everything that is not a tensor (step, config, optimizer hyper-parameters, numpy RNG state) travels as JSON in
the safetensors metadata, so one rename makes a checkpoint whole and loading never unpickles.
"""
from __future__ import annotations

import json
import math
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
                    rng: np.random.Generator | None, check=None) -> dict:
    """Restore a checkpoint in place; return its JSON part (step, config, extra). `check(info)`, if given, runs
    on that JSON part before anything is restored (see `check_resume`)."""
    tensors, metadata = load_tensors(path)
    if "training_state" not in metadata or "rng.torch" not in tensors:
        raise ValueError(f"{path}: not a training checkpoint (no training_state metadata or torch RNG state)")
    info = _json_metadata(metadata, "training_state", path)
    _check_training_state(info, path)
    if check is not None:
        check(info)
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    check_state_dict(path, model.state_dict(), model_state)
    model.load_state_dict(model_state)
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            if not pid.isdigit():
                raise ValueError(f"{path}: tensor {key} does not name an optimizer parameter")
            state.setdefault(int(pid), {})[name] = value
    try:
        if optimizer is not None:
            optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"]})
        torch.set_rng_state(tensors["rng.torch"])
        if rng is not None:
            rng.bit_generator.state = info["numpy_rng"]
    except (ValueError, TypeError, KeyError, RuntimeError) as e:
        raise ValueError(f"{path}: optimizer or RNG state does not fit ({type(e).__name__}: {e})") from None
    return info


def resume(out, model: torch.nn.Module, optimizer, rng, config: dict, inputs: dict, free: tuple = ()) -> int:
    """Restore the checkpoint in folder `out`, if any, once `check_resume` has passed; its step (0 without one)."""
    checkpoint = latest_checkpoint(out)
    if checkpoint is None:
        return 0
    check = lambda info: check_resume(checkpoint, info, config, inputs, free)   # noqa: E731
    return load_checkpoint(checkpoint, model, optimizer, rng, check)["step"]


def check_resume(path, info: dict, config: dict, inputs: dict, free: tuple = ()) -> None:
    """Refuse to resume checkpoint `path` (its JSON part `info`) unless it was made by the same hyper-parameters
    `config` (fields in `free` may differ: they do not change the run, e.g. how often it checkpoints) and from the
    same `inputs` (e.g. digests of the data and upstream files), so a resumed run never mixes two runs (issue 12)."""
    recorded = {k: v for k, v in info["config"].items() if k not in free}
    current = {k: v for k, v in config.items() if k not in free}
    changed = sorted(k for k in set(recorded) | set(current) if recorded.get(k) != current.get(k))
    recorded_inputs = info["extra"].get("inputs")
    changed += sorted(k for k in set(inputs) | set(recorded_inputs or {})
                      if recorded_inputs is not None and recorded_inputs.get(k) != inputs.get(k))
    if changed:
        raise ValueError(f"{path}: cannot resume: this run was made with other {', '.join(changed)}; "
                         f"run the original command again or choose another --out")


def _check_training_state(info, path) -> None:
    """The JSON part of a checkpoint, checked before it is used: types and ranges, each error naming the key."""
    if not isinstance(info, dict):
        raise ValueError(f"{path}: metadata 'training_state' must be a JSON object")
    kinds = {"step": int, "config": dict, "param_groups": list, "numpy_rng": dict, "extra": dict}
    for key, kind in kinds.items():
        check_value(info.get(key), f"{path}: training_state.{key}", kind)
    check_value(info["step"], f"{path}: training_state.step", int, 0, 2**62)
    if not all(isinstance(group, dict) for group in info["param_groups"]):
        raise ValueError(f"{path}: training_state.param_groups must be a list of JSON objects")


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


# Every model config value read from a file is checked against these before anything is allocated (issue 12): a
# file that asks for 10**6 layers or heads that do not divide dim is refused, naming the file and the key. The
# bounds are sane maxima far above what the project trains; PARAMETER_BUDGET then bounds the model as a whole.
FIELD_LIMITS = {
    "codebook_size": (2, 4096), "code_dim": (1, 1024), "hidden": (1, 2048), "vocab_size": (1, 4096),
    "num_actions": (1, 256), "context": (1, 64), "group": (1, 16), "grid": (16, 16), "token_dim": (1, 512),
    "num_tiles": (1, 1 << 20), "dim": (1, 2048), "layers": (0, 64), "heads": (1, 64), "vq_dim": (1, 1024), "latent_dim": (1, 1024),
    "commitment": (0.0, 100.0), "ema_decay": (0.0, 1.0), "dead_fraction": (0.0, 1.0), "sample_entropy": (0.0, 100.0),
    "batch_entropy": (0.0, 100.0), "changed_weight": (0.0, 1000.0), "head_weight": (0.0, 1000.0),
}
PARAMETER_BUDGET = 500_000_000


def check_value(value, where: str, kind: type, low=None, high=None):
    """`value` read from a file must be a `kind` (int, float, str, bool; a float may be written as an int; a bool
    is never a number) inside [low, high], finite if a number; else a ValueError naming `where` (file and key)."""
    numeric = kind in (int, float)
    if isinstance(value, bool) and kind is not bool or not isinstance(value, (int, float) if kind is float else kind):
        raise ValueError(f"{where} must be of type {kind.__name__}, got {value!r}")
    if numeric and not math.isfinite(value):
        raise ValueError(f"{where} must be finite, got {value!r}")
    if numeric and ((low is not None and value < low) or (high is not None and value > high)):
        raise ValueError(f"{where} must lie in [{low}, {high}], got {value!r}")
    return value


def config_from_dict(config_cls, values: dict, source) -> object:
    """Rebuild a config dataclass, naming `source` and the offending keys when the dict does not fit: every key
    present, each value of its field's type inside FIELD_LIMITS, `dim % heads == 0` and `grid % group == 0` where
    the config has them. What only the model knows (say, its bottleneck's names) `build_model` checks."""
    import dataclasses
    import typing

    names = {f.name for f in dataclasses.fields(config_cls)}
    if not isinstance(values, dict):
        raise ValueError(f"{source}: {config_cls.__name__} must be a JSON object")
    missing, extra = names - set(values), set(values) - names
    if missing or extra:
        raise ValueError(f"{source}: {config_cls.__name__} has missing keys {sorted(missing)} and unknown keys {sorted(extra)}")
    hints = typing.get_type_hints(config_cls)
    for name in sorted(names):
        where = f"{source}: {config_cls.__name__}.{name}"
        check_value(values[name], where, hints[name], *FIELD_LIMITS.get(name, (None, None)))
    for whole, part in (("dim", "heads"), ("grid", "group")):
        if whole in values and part in values and values[whole] % values[part]:
            raise ValueError(f"{source}: {config_cls.__name__}.{part} = {values[part]} does not divide "
                             f"{config_cls.__name__}.{whole} = {values[whole]}")
    return config_cls(**values)


def build_model(model_cls, config, source) -> torch.nn.Module:
    """`model_cls(config)`, after counting its parameters on the meta device (no memory) against PARAMETER_BUDGET,
    so a config that is valid field by field but huge as a whole is refused before it is allocated. The model's
    own checks of its config (a ValueError) run there too, and name `source`."""
    try:
        with torch.device("meta"):
            size = sum(p.numel() for p in model_cls(config).parameters())
    except ValueError as e:
        raise ValueError(f"{source}: {model_cls.__name__} config: {e}") from None
    if size > PARAMETER_BUDGET:
        raise ValueError(f"{source}: {model_cls.__name__} config asks for {size:,} parameters, "
                         f"more than the {PARAMETER_BUDGET:,} this library loads")
    return model_cls(config)


def build_checked(model_cls, config, source: str) -> torch.nn.Module:
    """`model_cls(config)` for a config made in code (a trainer's flags), held to the same rules a file's config
    meets when loaded (`config_from_dict`, then `build_model`): a trainer never trains what the loader refuses."""
    import dataclasses

    return build_model(model_cls, config_from_dict(type(config), dataclasses.asdict(config), source), source)


def save_model(path, model: torch.nn.Module, kind: str, extra: dict | None = None) -> None:
    """Final weights of one model plus its config, e.g. the trained tokenizer."""
    import dataclasses

    metadata = {"kind": kind, "format_version": str(MODEL_FORMAT_VERSION),
                "config": json.dumps(dataclasses.asdict(model.config)), "extra": json.dumps(extra or {})}
    save_tensors(path, model.state_dict(), metadata)


def read_model_extra(path) -> dict:
    """The `extra` JSON a model file was saved with (e.g. its training metrics), without building the model."""
    extra = _json_metadata(load_tensors(path)[1], "extra", path)
    if not isinstance(extra, dict):
        raise ValueError(f"{path}: metadata 'extra' must be a JSON object")
    return extra


def load_model(path, model_cls, config_cls, kind: str):
    tensors, metadata = load_tensors(path)
    if metadata.get("kind") != kind:
        raise ValueError(f"{path}: expected a {kind} file, found kind {metadata.get('kind')!r}")
    version = metadata.get("format_version", "")
    if not version.isdigit():
        raise ValueError(f"{path}: format version {version!r} is not a whole number")
    if int(version) > MODEL_FORMAT_VERSION:
        raise ValueError(f"{path}: format version {version} is newer than this library's {MODEL_FORMAT_VERSION}")
    model = build_model(model_cls, config_from_dict(config_cls, _json_metadata(metadata, "config", path), path), path)
    check_state_dict(path, model.state_dict(), tensors)
    model.load_state_dict(tensors)
    return model.eval()
