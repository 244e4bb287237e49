"""Start a new training run from a trained world's weights, though the new data's vocabulary and tile table differ.

A round of active data collection (trainers.check, then trainers.world --init) adds data where the world was
wrong; it may show looks or tile patterns the first data never did. Ids are given by appearance
(genie_env.vocab), so a new id is matched to the old id with the same look, and a new tile pattern to the old
pattern of the same looks; their rows of the token embeddings and of the tile logits are copied, new ones keep
their fresh initialisation, and every other tensor is copied as it is (shapes must agree: same model sizes).
"""
from __future__ import annotations

import torch

from genie_env.vocab import MERGE_MSE


def look_map(new_looks: torch.Tensor, old_looks: torch.Tensor, new_pixels: torch.Tensor | None = None,
             old_pixels: torch.Tensor | None = None) -> torch.Tensor:
    """(V_new,) the old id of each new id's look (mean squared pixel difference under MERGE_MSE), -1 for none.
    With both worlds' real pixels, an id whose real pixels the old world has is that old id: ids split off one
    look (genie_lab.pixels.split_looks) share its decoded look and are told apart only by their pixels."""
    new, old = new_looks.reshape(len(new_looks), -1).float(), old_looks.reshape(len(old_looks), -1).float()
    distance = (new[:, None] - old[None]).pow(2).mean(-1)
    best, index = distance.min(1)
    ids = torch.where(best < MERGE_MSE, index, torch.full_like(index, -1))
    if new_pixels is not None and old_pixels is not None:
        same = (new_pixels.reshape(len(new_pixels), 1, -1) == old_pixels.reshape(1, len(old_pixels), -1)).all(-1)
        found = same.any(1)
        ids = torch.where(found, same.float().argmax(1), ids)
    return ids


def tile_map(new_table: torch.Tensor, old_table: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """(T_new,) the old tile pattern of each new pattern under the id map `ids`, -1 for none."""
    old = {tuple(row): t for t, row in enumerate(old_table.tolist())}
    mapped = ids[new_table]
    return torch.tensor([old.get(tuple(row), -1) if min(row) >= 0 else -1 for row in mapped.tolist()], dtype=torch.long)


def _copy_rows(target: torch.Tensor, source: torch.Tensor, rows: torch.Tensor) -> None:
    keep = rows >= 0
    target[keep] = source[rows[keep]].to(target.dtype)


def warm_start(lam, dynamics, old_world, new_looks: torch.Tensor, new_pixels: torch.Tensor | None = None) -> dict:
    """Copy `old_world`'s LAM and dynamics weights into the new `lam` and `dynamics` (whose vocabulary looks are
    `new_looks` (V, 4, 4, 3), real pixels `new_pixels` if any, and whose tile table is set). Returns how many ids
    and tiles were carried over."""
    old_looks = old_world.tokenizer.patch_table()[old_world.vocab.cpu()]
    ids = look_map(new_looks.cpu(), old_looks, None if new_pixels is None else new_pixels.cpu(),
                   None if old_world.pixels is None else old_world.pixels.cpu())
    tiles = tile_map(dynamics.tile_table.cpu(), old_world.dynamics.tile_table.cpu(), ids)
    for name, module, old in (("lam", lam, old_world.lam), ("dynamics", dynamics, old_world.dynamics)):
        state, old_state = module.state_dict(), old.state_dict()
        if set(state) != set(old_state):
            raise ValueError(f"--init: the world's {name} has other tensors than this run's; use the same model sizes")
        with torch.no_grad():
            for key, value in state.items():
                before = old_state[key].cpu()
                if key == "tile_table":
                    continue
                if key == "embed.weight":
                    _copy_rows(value, before, ids)
                elif key.startswith("to_logits."):
                    _copy_rows(value, before, tiles)
                elif value.shape == before.shape:
                    value.copy_(before)
                else:
                    raise ValueError(f"--init: {name}.{key} is {tuple(before.shape)} in the world, "
                                     f"{tuple(value.shape)} here; use the same model sizes")
        module.load_state_dict(state)
    return {"ids": len(ids), "ids_carried": int((ids >= 0).sum()), "tiles": len(tiles),
            "tiles_carried": int((tiles >= 0).sum())}
