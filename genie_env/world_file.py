"""The world folder's format: world.safetensors (every tensor) + world.json (configs, bridge, info), written as one
unit and read back with every value checked; never unpickles. The model itself is genie_env.world.WorldModel."""
from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from genie_env.bridge import ENV_ACTION_NAMES, ActionBridge, ChangeGuard
from genie_env.checkpoint import build_model, check_state_dict, check_value, config_from_dict
from genie_env.dynamics import Dynamics, DynamicsConfig
from genie_env.io import atomic_write_bytes, atomic_write_json, load_tensors, read_json, safetensors_bytes, sha256_file
from genie_env.latent_action import LatentActionConfig, LatentActionModel
from genie_env.tokenizer import Tokenizer, TokenizerConfig

if TYPE_CHECKING:
    from genie_env.world import WorldModel

WORLD_FORMAT_VERSION = 7            # 2: tile-level dynamics (a tile table), latents anchored to env actions;
                                    # 3: start states as compact ids (S, 16, 16), not frames, so thousands fit
                                    # 4: optional real pixels per look (`pixels`), drawn and read instead of the decoder's
                                    # 5: the dream's behaviour stated ("dream": anchored, applies_guard), not read
                                    #    off the trainer's settings; ids may share a code (told apart by pixels)
                                    # 6: the dynamics' trunk stated (dynamics.trunk: "transformer" or "local");
                                    #    older worlds are transformers
                                    # 7: dynamics.positions (a learned embedding of each tile's place on the grid,
                                    #    local trunk); older worlds have none
OLDEST_WORLD_FORMAT = 2             # version 2's start frames are read and encoded at load
WORLDS_DIR = Path(__file__).parent / "worlds"
DEFAULT_WORLD = "empty8"
BRIDGE_TENSORS = ("weight", "bias", "seen", "observed")   # saved as bridge.<name>; "observed" is the guard's


def save_world(world, folder, info: dict | None = None) -> None:
    """Write `world` (a WorldModel) to `folder` as world.safetensors + world.json, as one unit (`save_world_files`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"tokenizer.{k}": v for k, v in world.tokenizer.state_dict().items()}
    tensors.update({f"lam.{k}": v for k, v in world.lam.state_dict().items()})
    tensors.update({f"dynamics.{k}": v for k, v in world.dynamics.state_dict().items()})
    tensors["vocab"] = world.vocab
    if world.pixels is not None:
        tensors["pixels"] = world.pixels
    if world.bridge is not None:
        tensors.update({f"bridge.{k}": v for k, v in world.bridge.tensors().items()})
        guard = world.guard if world.guard is not None else ChangeGuard(torch.zeros(0, dtype=torch.long))
        tensors["bridge.observed"] = guard.observed
    if world.start_ids is not None:   # ids fit a byte while the vocabulary does: 256 bytes a state
        tensors["start_ids"] = world.start_ids.to(torch.uint8 if len(world.vocab) <= 256 else torch.int32)
    meta = {"format": "genie-world", "version": WORLD_FORMAT_VERSION,
            "tokenizer": dataclasses.asdict(world.tokenizer.config),
            "latent_action": dataclasses.asdict(world.lam.config),
            "dynamics": dataclasses.asdict(world.dynamics.config),
            "bridge": None if world.bridge is None else world.bridge.meta(),
            "dream": {"anchored": bool(world.anchored), "applies_guard": bool(world.applies_guard)},
            "info": {**world.info, **(info or {})}}
    save_world_files(folder, tensors, meta)


NEXT_WEIGHTS = "world.safetensors.next"


def save_world_files(folder: Path, tensors: dict, meta: dict) -> None:
    """Replace a world folder's two files as one unit. The weights go to world.safetensors.next, then world.json
    (naming the weights' SHA-256) replaces the old one: that rename is the moment the new world exists. Then the
    weights take their place. Interrupted before the rename, the old world loads as it was; after it,
    `world_weights` finishes the move. Neither half of two saves ever loads as one world."""
    _replace_files(folder, safetensors_bytes(tensors), meta)


def _replace_files(folder: Path, data: bytes, meta: dict) -> None:
    atomic_write_bytes(folder / NEXT_WEIGHTS, data)
    atomic_write_json(folder / "world.json", {**meta, "weights_sha256": hashlib.sha256(data).hexdigest()})
    os.replace(folder / NEXT_WEIGHTS, folder / "world.safetensors")


def copy_world(source, folder) -> None:
    """Copy the world in `source` (a folder) to `folder`, byte for byte, as one unit (as `save_world_files`
    replaces one): what a pipeline ships is the world its world stage wrote, not a second assembly of it."""
    source, folder = Path(source), Path(folder)
    meta = read_json(source / "world.json")
    data = world_weights(source, meta).read_bytes()
    if meta.get("weights_sha256") not in (None, hashlib.sha256(data).hexdigest()):
        raise ValueError(f"{source}: its weights changed while being copied; copy again")
    folder.mkdir(parents=True, exist_ok=True)
    _replace_files(folder, data, {k: v for k, v in meta.items() if k != "weights_sha256"})


MANIFEST_KEYS = ("command", "commit", "data_seeds", "total_seconds")   # what a loaded world's info["manifest"] holds


def _manifest_beside(folder: Path) -> dict | None:
    """The pipeline's manifest.json beside a world (how the world was made), its MANIFEST_KEYS, or None."""
    path = folder / "manifest.json"
    if not path.is_file():
        return None
    manifest = read_json(path)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("command"), str):
        raise ValueError(f"{path}: not a pipeline manifest (an object with a 'command' string)")
    return {k: manifest[k] for k in MANIFEST_KEYS if k in manifest}


def world_weights(folder: Path, meta: dict) -> Path:
    """The weights file that belongs to `meta` (world.json): world.safetensors, or, where a save was cut after
    world.json was replaced, world.safetensors.next, which is moved into place when the folder is writable. A
    world.json that names weights neither file holds is an error that says so (worlds before this rule name
    none, and their world.safetensors is taken as it is)."""
    weights, pending = folder / "world.safetensors", folder / NEXT_WEIGHTS
    wanted = meta.get("weights_sha256")
    if wanted is None or (weights.is_file() and sha256_file(weights) == wanted):
        return weights
    if pending.is_file() and sha256_file(pending) == wanted:
        try:
            os.replace(pending, weights)
            return weights
        except OSError:   # a read-only folder: read the pending file where it is
            return pending
    raise ValueError(f"{weights}: not the weights {folder / 'world.json'} names (sha256 {str(wanted)[:12]}...): the two "
                     f"files are from different saves, or one was changed; re-save or re-make the world")


def resolve_world_path(path=None) -> Path:
    """A shipped world's name (e.g. 'empty8'), a world folder, or its world.safetensors file -> the folder.

    A bare name (no path separator) that names a shipped world is the shipped world, whatever the current folder
    holds; reach a local folder of that name as './empty8'. None is the shipped default (issue 12).
    """
    if path is None:
        path = DEFAULT_WORLD
    candidate = Path(path)
    if _is_shipped_name(path):
        candidate = WORLDS_DIR / str(path)
    if candidate.is_file():
        candidate = candidate.parent
    if not (candidate / "world.json").is_file() or not (candidate / "world.safetensors").is_file():
        shipped = sorted(p.name for p in WORLDS_DIR.iterdir() if (p / "world.json").is_file()) if WORLDS_DIR.is_dir() else []
        raise FileNotFoundError(f"no world at {path!r}: expected a folder with world.json and world.safetensors, "
                                f"or a shipped world name {shipped}")
    return candidate


def resolve_device(device) -> torch.device:
    """'auto' (CUDA when present, else the CPU), 'cpu', 'cuda' or 'cuda:N' -> a device this machine has; anything
    else is a ValueError, not torch's error at the first tensor moved there (issue 12)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}") from None
    if resolved.type == "cuda" and (not torch.cuda.is_available() or (resolved.index or 0) >= torch.cuda.device_count()):
        raise ValueError(f"device {device!r} asked for, but this machine has {torch.cuda.device_count()} CUDA "
                         f"device(s); use 'cpu' or 'auto'")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    return resolved


def _is_shipped_name(path) -> bool:
    name = str(path)
    return (isinstance(path, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name
            and (WORLDS_DIR / name / "world.json").is_file())


def _world_configs(meta: dict, source) -> tuple:
    """The three model configs of world.json, and its bridge and info sections, checked before any model is built
    (issue 12): each value's type and range, and that the models fit together; errors name the file and the key."""
    tokenizer = config_from_dict(TokenizerConfig, meta["tokenizer"], source)
    lam = config_from_dict(LatentActionConfig, meta["latent_action"], source)
    dynamics_meta = meta["dynamics"]
    if meta["version"] < 6 and isinstance(dynamics_meta, dict) and "trunk" not in dynamics_meta:
        dynamics_meta = {**dynamics_meta, "trunk": "transformer"}   # the only trunk before version 6
    if meta["version"] < 7 and isinstance(dynamics_meta, dict) and "positions" not in dynamics_meta:
        dynamics_meta = {**dynamics_meta, "positions": False}      # no grid positions before version 7
    dynamics = config_from_dict(DynamicsConfig, dynamics_meta, source)
    pairs = {"vocab_size": (lam.vocab_size, dynamics.vocab_size), "context": (lam.context, dynamics.context),
             "group": (lam.group, dynamics.group), "grid": (lam.grid, dynamics.grid),
             "latent_dim": (lam.latent_dim, dynamics.latent_dim)}
    for key, (lam_value, dynamics_value) in pairs.items():
        if lam_value != dynamics_value:
            raise ValueError(f"{source}: latent_action.{key} ({lam_value}) and dynamics.{key} ({dynamics_value}) differ")
    bridge = meta["bridge"]
    if bridge is not None:
        if not isinstance(bridge, dict) or set(bridge) != {"noop_action", "labels"}:
            raise ValueError(f"{source}: bridge must be null or an object with keys 'labels' and 'noop_action'")
        check_value(bridge["noop_action"], f"{source}: bridge.noop_action", int, 0, len(ENV_ACTION_NAMES) - 1)
        check_value(bridge["labels"], f"{source}: bridge.labels", int, 1, 2**62)
    _check_info(meta["info"], source)
    return tokenizer, lam, dynamics


def _check_info(info, source) -> None:
    """world.json's info: an object whose reward rule, which the dream pays by, is present and sound. Without one
    the dream would pay its raw reward head at every step; with low > high, every step (issue 12)."""
    if not isinstance(info, dict):
        raise ValueError(f"{source}: info must be a JSON object (it holds the reward rule), got {info!r}")
    rule = info.get("reward_rule")
    timed = {"success_base", "success_slope", "time_limit"}
    if not isinstance(rule, dict) or set(rule) not in ({"low", "high", "at_end_only"}, {"low", "high", "at_end_only", *timed}):
        raise ValueError(f"{source}: info.reward_rule must be an object with keys 'at_end_only', 'high' and 'low' "
                         f"(and optionally all of {sorted(timed)}); refit it with trainers.bridge")
    low = check_value(rule["low"], f"{source}: info.reward_rule.low", float)
    check_value(rule["high"], f"{source}: info.reward_rule.high", float, low)
    check_value(rule["at_end_only"], f"{source}: info.reward_rule.at_end_only", bool)
    if "time_limit" in rule:
        check_value(rule["time_limit"], f"{source}: info.reward_rule.time_limit", int, 1, 2**31)
        base = check_value(rule["success_base"], f"{source}: info.reward_rule.success_base", float, 0.0, 1e6)
        check_value(rule["success_slope"], f"{source}: info.reward_rule.success_slope", float, 0.0, base)


def _load_state(module: torch.nn.Module, tensors: dict, prefix: str, source) -> None:
    found = {k: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    check_state_dict(source, {f"{prefix}.{k}": v for k, v in module.state_dict().items()}, found)
    module.load_state_dict({k[len(prefix) + 1 :]: v for k, v in found.items()})


def _dream_behaviour(meta: dict, lam, source) -> tuple[bool, bool]:
    """(anchored, applies_guard) from world.json's "dream" (version 5), or, for older worlds, read off the
    settings of the trainer that made them (info.config), as those versions' loaders did."""
    if meta["version"] >= 5:
        dream = meta.get("dream")
        if not isinstance(dream, dict) or set(dream) != {"anchored", "applies_guard"} \
                or not all(isinstance(v, bool) for v in dream.values()):
            raise ValueError(f"{source}: 'dream' must be {{\"anchored\": bool, \"applies_guard\": bool}}, got {dream!r}")
        return dream["anchored"], dream["applies_guard"]
    config = meta["info"].get("config") or {}   # info is an object (_check_info ran first)
    anchored = bool(config.get("anchor_latents")) and config.get("bottleneck") == "categorical" \
        and lam.config.num_actions >= len(ENV_ACTION_NAMES)
    return anchored, not config.get("counterfactual_noops")


def load_world_model(path=None, device: str = "cpu") -> "WorldModel":
    """Load a world: None or a shipped name ('empty8') or a path. Never unpickles; errors name the file."""
    from genie_env.world import WorldModel

    device = resolve_device(device)
    folder = resolve_world_path(path)
    meta = read_json(folder / "world.json")
    source = folder / "world.json"
    if meta.get("format") != "genie-world":
        raise ValueError(f"{source}: not a GenieDream world (format {meta.get('format')!r})")
    if isinstance(meta.get("version"), int) and meta["version"] < OLDEST_WORLD_FORMAT:
        raise ValueError(f"{source}: world format version {meta['version']} predates this library's tile-level "
                         f"dynamics (version {OLDEST_WORLD_FORMAT}); retrain it with python -m trainers.pipeline")
    if not isinstance(meta.get("version"), int) or meta["version"] > WORLD_FORMAT_VERSION:
        raise ValueError(f"{source}: world format version {meta.get('version')!r} is newer than this library reads "
                         f"({WORLD_FORMAT_VERSION}); upgrade genie-dream")
    for key in ("tokenizer", "latent_action", "dynamics", "bridge", "info"):
        if key not in meta:
            raise ValueError(f"{source}: missing key {key!r}")
    configs = _world_configs(meta, source)
    tokenizer, lam, dynamics = (build_model(cls, config, source) for cls, config in
                                zip((Tokenizer, LatentActionModel, Dynamics), configs))
    if "weights_sha256" in meta and not isinstance(meta["weights_sha256"], str):
        raise ValueError(f"{source}: weights_sha256 must be a hex string")
    weights = world_weights(folder, meta)
    tensors, _ = load_tensors(weights)
    for module, prefix in ((tokenizer, "tokenizer"), (lam, "lam"), (dynamics, "dynamics")):
        _load_state(module, tensors, prefix, weights)
    if "vocab" not in tensors or tensors["vocab"].shape != (dynamics.config.vocab_size,):
        raise ValueError(f"{weights}: vocab tensor missing or not of shape ({dynamics.config.vocab_size},)")
    vocab = tensors["vocab"]
    if vocab.dtype != torch.int64 or vocab.min() < 0 or vocab.max() >= tokenizer.config.codebook_size:
        raise ValueError(f"{weights}: vocab must be int64 codes in [0, {tokenizer.config.codebook_size - 1}] "
                         f"of the tokenizer's codebook")
    start_key = "start_ids" if meta["version"] >= 3 else "start_frames"
    known = {"vocab", "pixels", start_key, *(f"bridge.{k}" for k in BRIDGE_TENSORS)}
    unknown = sorted(k for k in tensors if k not in known and not k.startswith(("tokenizer.", "lam.", "dynamics.")))
    if unknown:
        raise ValueError(f"{weights}: unexpected tensors {unknown[:3]}")
    bridge = guard = None
    if meta["bridge"] is not None:
        v, classes = dynamics.config.vocab_size, len(ENV_ACTION_NAMES)
        shapes = {"weight": (v * v, classes), "bias": (classes,), "seen": (classes,), "observed": (None,)}
        for key, shape in shapes.items():
            tensor = tensors.get(f"bridge.{key}")
            if tensor is None or tensor.ndim != len(shape) or any(n is not None and n != m for n, m in zip(shape, tensor.shape)):
                raise ValueError(f"{weights}: world.json declares a bridge but tensor bridge.{key} is missing "
                                 f"or not of shape {shape}")
        if tensors["bridge.observed"].dtype != torch.int64:
            raise ValueError(f"{weights}: tensor bridge.observed must be int64 signature hashes")
        bridge = ActionBridge(*(tensors[f"bridge.{k}"] for k in ActionBridge.TENSORS), **meta["bridge"])
        guard = ChangeGuard(tensors["bridge.observed"])
    info = dict(meta["info"])
    if "manifest" not in info and (manifest := _manifest_beside(folder)) is not None:
        info["manifest"] = manifest   # how the world was made travels beside it, written once with its figures
    world = WorldModel(tokenizer, lam, dynamics, tensors["vocab"], bridge, None, info, guard)
    world.anchored, world.applies_guard = _dream_behaviour(meta, lam, source)
    if "pixels" in tensors:
        try:
            world.set_pixels(tensors["pixels"])
        except ValueError as e:
            raise ValueError(f"{weights}: tensor pixels: {e}") from None
    start = tensors.get(start_key)
    if start is not None:
        try:   # version 2 shipped frames, encoded here; the checks name what is wrong, the file is named here
            (world.set_start_frames if start_key == "start_frames" else world.set_start_ids)(start.numpy())
        except (ValueError, TypeError) as e:
            raise ValueError(f"{weights}: tensor {start_key}: {e}") from None
    return world.to(device)
