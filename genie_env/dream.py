"""The batched dream core: N worlds stepped in one forward pass, torch only (no Gymnasium here).

The single env and the vector env are thin shells over this class, so both dream exactly the same way.
"""
from __future__ import annotations

import numpy as np
import torch

from genie_env.frames import check_frames
from genie_env.world import EFFECT_NAMES, NOOP, WorldModel

_cache: dict = {}


def _file_identity(folder) -> tuple:
    """What tells one version of a world's files from another: inode, size and change time of both files."""
    stats = [(folder / name).stat() for name in ("world.json", "world.safetensors")]
    return tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)


def shared_world(world=None, device: str = "auto") -> WorldModel:
    """Load a world once per (path, device, file version) and share it between envs, so N envs do not load it N
    times. A world whose files changed since (rewritten, copied over) is loaded afresh, never mixed (issue 12)."""
    from genie_env.world import load_world_model, resolve_world_path

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    folder = resolve_world_path(world).resolve()
    place, identity = (str(folder), str(device)), _file_identity(folder)
    cached = _cache.get(place)
    while cached is None or cached[0] != identity:
        loaded = load_world_model(folder, device=device)
        before, identity = identity, _file_identity(folder)
        if identity == before:   # no file changed while it loaded, so both files come from one version
            cached = _cache[place] = (identity, loaded)
    return cached[1]


class DreamCore:
    def __init__(self, world: WorldModel, num_envs: int, temperature: float = 0.0):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if temperature < 0 or not np.isfinite(temperature):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
        self.world, self.num_envs, self.temperature = world, num_envs, float(temperature)
        self.ids = torch.zeros(num_envs, world.context, 16, 16, dtype=torch.long, device=world.device)
        self.generator = torch.Generator(world.device)

    def seed(self, seed: int) -> None:
        self.generator.manual_seed(int(seed))

    def reset(self, index: np.ndarray, frames: np.ndarray) -> None:
        """Restart worlds `index` from uint8 frames (len(index), 64, 64, 3)."""
        frames = check_frames(frames, "frames", 4)
        self.ids[torch.as_tensor(index, device=self.ids.device)] = self.world.context_ids(frames[:, None])

    def step(self, latents: torch.Tensor):
        """latents (N,) -> (reward (N,), ended (N,) bool, effect class (N,) of what each latent did)."""
        nxt, reward, ended, effect = self.world.dream_step(self.ids, latents, self.temperature, self.generator)
        self.ids = torch.cat([self.ids[:, 1:], nxt[:, None]], 1)
        return reward, ended, effect

    def frames(self) -> torch.Tensor:
        """Current frames, uint8 (N, 64, 64, 3)."""
        return self.world.ids_to_frames(self.ids[:, -1])

    def tokens(self) -> torch.Tensor:
        """Current tokenizer codes, int64 (N, 16, 16)."""
        return self.world.vocab[self.ids[:, -1]]

    def describe(self, effect) -> tuple[list, list]:
        """Effect classes -> (meaning names, env actions) for `info`; unknown without a bridge."""
        if effect is None:
            return [None] * self.num_envs, [None] * self.num_envs
        effect = effect.cpu().numpy()
        env_action = np.where(effect == NOOP, self.world.bridge["noop_action"], effect)
        return [EFFECT_NAMES[e] for e in effect], [int(a) for a in env_action]
