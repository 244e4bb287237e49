"""The real pixels of each look: what real play draws for every vocabulary id, so frames come back exact.

The tokenizer's decoder approximates each patch (the agent's sprite at about 40 dB), so a real frame read and
drawn back differed in a third of its pixels, all in the agent's tile. MiniGrid draws every tile from a few
exact patterns, so each look (vocabulary id) stands for one real 4x4 patch: the one real play shows most often
among the patches read as that look. `real_pixels` finds it over a dataset's frames and checks that reading
with the real patches gives every real patch the id the decoder's looks gave it (the world was trained on those
ids); where that fails it returns None and the world keeps drawing its decoder's looks.
"""
from __future__ import annotations

import numpy as np
import torch

from genie_env.vocab import ids_by_look


def distinct_patches(frames: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """uint8 frames (F, 64, 64, 3) -> (distinct 4x4 patches (P, 4, 4, 3), how often each occurs (P,)).
    Patches are told apart by a 64-bit hash of their 48 bytes (fixed weights below 2**40: no overflow)."""
    weights = np.random.default_rng(0).integers(0, 2**40, 48, dtype=np.int64)
    counts: dict = {}
    examples: dict = {}
    for start in range(0, len(frames), chunk):
        part = np.ascontiguousarray(frames[start : start + chunk])
        patches = part.reshape(-1, 16, 4, 16, 4, 3).transpose(0, 1, 3, 2, 4, 5).reshape(-1, 48)
        keys, first, n = np.unique(patches.astype(np.int64) @ weights, return_index=True, return_counts=True)
        for key, index, k in zip(keys.tolist(), first, n):
            counts[key] = counts.get(key, 0) + int(k)
            if key not in examples:
                examples[key] = patches[index]
    keys = list(counts)
    return np.stack([examples[k] for k in keys]).reshape(-1, 4, 4, 3), np.array([counts[k] for k in keys], np.int64)


def real_pixels(decoded_looks: torch.Tensor, frames: np.ndarray) -> torch.Tensor | None:
    """uint8 (V, 4, 4, 3): per look, the real patch most often read as it in `frames` (a look no real patch reads
    as keeps its decoded pixels); None when reading with these would give some real patch another id."""
    looks = decoded_looks.cpu()
    patches, counts = distinct_patches(frames)
    as_frames = torch.from_numpy(patches.copy()).view(-1, 1, 4, 1, 4, 3).expand(-1, 16, 4, 16, 4, 3).reshape(-1, 64, 64, 3)
    # each distinct patch tiled over a frame: ids_by_look reads patches, so its first id is the patch's
    read = lambda table: ids_by_look(as_frames, table)[:, 0, 0]  # noqa: E731
    ids = read(looks).numpy()
    table = looks.clone()
    for look in np.unique(ids):
        members = np.flatnonzero(ids == look)
        table[look] = torch.from_numpy(patches[members[counts[members].argmax()]])
    return table if np.array_equal(read(table).numpy(), ids) else None


def draw_real_pixels(world, frames: np.ndarray) -> bool:
    """Give `world` the real pixels of its looks read off `frames` (`WorldModel.set_pixels`); False, and the
    decoder's looks kept, where they would read some real patch as another id."""
    table = real_pixels(world.tokenizer.patch_table()[world.vocab.cpu()], frames)
    if table is not None:
        world.set_pixels(table)
    return table is not None
