"""Compact vocabulary: the dynamics model predicts only the tokenizer codes that the data actually uses."""
from __future__ import annotations

import torch


def build_vocab(tokens: torch.Tensor, codebook: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """From tokenizer codes seen in `tokens`, return (used codes (V,), code_to_id (K,)).

    Codes never seen map to the id of the nearest used code in the codebook, so a prompt frame with an unseen
    patch still encodes to ids the dynamics model knows.
    """
    used = torch.unique(tokens)
    nearest = torch.cdist(codebook, codebook[used]).argmin(1)
    return used, nearest
