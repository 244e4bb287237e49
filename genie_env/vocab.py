"""Compact vocabulary: the dynamics model predicts only the patches the data actually shows, one id per look.

A VQ tokenizer can give two codes to patches that decode to the same pixels (near-duplicate codes). Then a dreamed
frame, decoded and encoded again (as the documented calls do: pixels in, pixels out), comes back with other ids
than the ones it was dreamed as, and the next step reads tiles it never trained on (issue 10: DoorKey's dreams
broke after one step this way). So ids are given by *appearance*: codes whose decoded patches are (nearly) equal
share one id, and a frame's patch is read as the look nearest to it.
"""
from __future__ import annotations

import torch

MERGE_MSE = 2.0     # mean squared pixel difference (0..255) under which two decoded patches count as one look


def _appearance(patches: torch.Tensor) -> torch.Tensor:
    return patches.reshape(len(patches), -1).float()


def build_vocab(tokens: torch.Tensor, patches: torch.Tensor, merge_mse: float = MERGE_MSE) -> torch.Tensor:
    """From tokenizer codes seen in `tokens` and the patch each code decodes to (uint8 (K, 4, 4, 3)), return the
    vocabulary: one code per distinct look (V,). Frames are read against these looks (`ids_by_look`), so a prompt
    with a patch never seen still reads as the look nearest to it."""
    used = torch.unique(tokens)
    looks = _appearance(patches)
    keep: list[int] = []
    for code in used.tolist():
        if not keep or ((looks[keep] - looks[code]).pow(2).mean(1) >= merge_mse).all():
            keep.append(code)
    vocab = torch.tensor(keep, dtype=torch.long)
    return vocab


def ids_by_look(frames: torch.Tensor, looks: torch.Tensor, batch_size: int = 512, exact: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 frames (N, 64, 64, 3) -> ids (N, 16, 16): each 4x4 patch's nearest look among `looks` (V, 4, 4, 3).

    The tokenizer is patch-local, so this is its encoder with the codebook replaced by what the codes look like:
    a dreamed frame, decoded and read again, gets back exactly the ids it was dreamed as (distance 0), and a
    real frame gets the look its patches reconstruct to.

    `exact` (V, 4, 4, 3), the real pixels of each look: a patch equal to one of them reads as its id, any other
    as its nearest look; so a frame drawn with `exact` reads back as drawn, and every patch reads as it would
    without `exact` (each real pixel table row is a patch that read as its own id)."""
    table = _appearance(looks)
    real = None if exact is None else _appearance(exact.to(looks.device))
    out = []
    for start in range(0, len(frames), batch_size):
        chunk = frames[start : start + batch_size].float()
        patches = chunk.view(-1, 16, 4, 16, 4, 3).permute(0, 1, 3, 2, 4, 5).reshape(-1, 48)
        ids = torch.cdist(patches, table).argmin(1)
        if real is not None:
            distance, match = torch.cdist(patches, real).min(1)
            ids = torch.where(distance == 0, match, ids)
        out.append(ids.view(-1, 16, 16))
    return torch.cat(out) if out else torch.zeros(0, 16, 16, dtype=torch.long, device=frames.device)
