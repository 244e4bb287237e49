"""The real pixels of each look: what real play draws for every vocabulary id, so frames come back exact.

The tokenizer's decoder approximates each patch (the agent's sprite worst: docs/RESULTS.md), so a real frame read and
drawn back differed in a third of its pixels, all in the agent's tile. MiniGrid draws every tile from a few
exact patterns, so each look (vocabulary id) stands for one real 4x4 patch: the one real play shows most often
among the patches read as that look. `real_pixels` finds it over a dataset's frames. A world reads a patch equal
to a look's real pixels as that look and any other as its nearest decoded look (`genie_env.vocab.ids_by_look`
with `exact`), so every patch reads as the id training gave it; where the tokenizer gave two real patches one
look, frames with the rarer one are drawn with the commoner (`real_pixels` counts how often that is).
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


def _tiled(patches: np.ndarray) -> torch.Tensor:
    """Each distinct patch (P, 4, 4, 3) tiled over a frame (P, 64, 64, 3): ids_by_look reads patches one by one,
    so a tiled frame's first id is its patch's."""
    return torch.from_numpy(patches.copy()).view(-1, 1, 4, 1, 4, 3).expand(-1, 16, 4, 16, 4, 3).reshape(-1, 64, 64, 3)


def split_looks(vocab: torch.Tensor, decoded_looks: torch.Tensor, frames: np.ndarray,
                limit: int = 4096) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """One id per distinct real patch of `frames`: where the tokenizer gave two real patches one look (its VQ
    merges rare ones: the agent on the goal, in an open door), the rarer ones get new ids after the V there are.
    A new id shares its look's tokenizer code (so its decoded look), and is told apart by its real pixels:
    `ids_by_look` with `exact` reads a patch equal to an id's real pixels as that id. Returns the vocabulary's
    codes (V',), the real pixels of each id (V', 4, 4, 3) uint8, and a report."""
    looks = decoded_looks.cpu()
    patches, counts = distinct_patches(frames)
    ids = ids_by_look(_tiled(patches), looks)[:, 0, 0].numpy()
    codes, table, source = vocab.cpu().tolist(), list(looks.clone()), list(range(len(looks)))
    taken: set = set()
    for j in np.argsort(-counts, kind="stable"):           # the commonest patch of a look keeps the look's id
        look = int(ids[j])
        if look in taken:
            codes.append(codes[look])
            source.append(look)
            table.append(torch.from_numpy(patches[j].copy()))
        else:
            taken.add(look)
            table[look] = torch.from_numpy(patches[j].copy())
    if len(codes) > limit:
        raise ValueError(f"the data shows {len(codes)} distinct patches, more than the {limit} ids a vocabulary may have")
    pixels = torch.stack(table)
    again = ids_by_look(_tiled(patches), looks[source], exact=pixels)[:, 0, 0].numpy()
    expected = np.empty(len(patches), np.int64)
    expected[:] = -1
    for i, row in enumerate(pixels.reshape(len(pixels), -1).numpy()):
        expected[(patches.reshape(len(patches), -1) == row).all(1)] = i
    if not np.array_equal(again, expected):   # cannot happen: every real patch equals exactly one id's pixels
        raise RuntimeError("split_looks: a real patch does not read as its own id")
    return torch.tensor(codes, dtype=torch.long), pixels, {
        "distinct_patches": len(patches), "looks_of_the_tokenizer": len(looks), "ids": len(codes),
        "ids_split_off": len(codes) - len(looks)}


def real_pixels(decoded_looks: torch.Tensor, frames: np.ndarray, report: dict | None = None,
                exact: torch.Tensor | None = None) -> torch.Tensor | None:
    """uint8 (V, 4, 4, 3): per look, the real patch most often read as it in `frames` (a look no real patch reads
    as keeps its decoded pixels); None if reading with them would give a real patch another id (it cannot: a
    check). `exact`: the world's real pixels so far (ids split off by `split_looks` are read by them); a look whose
    pixels are among its real patches keeps them. `report`,
    if given, receives the counts of distinct patches, looks, and patches sharing a look."""
    looks = decoded_looks.cpu()
    patches, counts = distinct_patches(frames)
    as_frames = _tiled(patches)
    ids = ids_by_look(as_frames, looks, exact=None if exact is None else exact.cpu())[:, 0, 0].numpy()
    table = looks.clone() if exact is None else exact.cpu().clone()
    shared = 0
    flat, rows = patches.reshape(len(patches), -1), table.reshape(len(table), -1).numpy()
    for look in np.unique(ids):
        members = np.flatnonzero(ids == look)
        kept = members[(flat[members] == rows[look]).all(1)] if exact is not None else members[:0]
        chosen = kept[0] if len(kept) else members[counts[members].argmax()]   # a real patch already drawn stays
        table[look] = torch.from_numpy(patches[chosen])
        shared += int(counts[members].sum() - counts[chosen])
    if report is not None:
        report.update(distinct_patches=len(patches), looks_used=int(len(np.unique(ids))),
                      patch_share_drawn_as_another=shared / max(int(counts.sum()), 1))
    again = ids_by_look(as_frames, looks, exact=table)[:, 0, 0].numpy()
    return table if np.array_equal(again, ids) else None


def draw_real_pixels(world, frames: np.ndarray) -> dict:
    """Give `world` the real pixels of its looks read off `frames` (`WorldModel.set_pixels`); returns what
    `real_pixels` reports, with "set" False (and the decoder's looks kept) if its check failed."""
    report: dict = {}
    table = real_pixels(world.tokenizer.patch_table()[world.vocab.cpu()], frames, report, world.pixels)
    if table is not None:
        world.set_pixels(table)
    return {"set": table is not None, **report}
