"""Assembling a world from its trained parts: the dataset's frames as tokenizer codes, and the bridge and guard
fitted on a dataset's labelled and unlabelled steps (trainers.world and trainers.bridge share these)."""
from __future__ import annotations

import numpy as np
import torch

from genie_env.tokenizer import Tokenizer
from genie_env.world import WorldModel, frames_to_ids_numpy


def encode_dataset(tokenizer: Tokenizer, frames: np.ndarray, batch_size: int = 256) -> torch.Tensor:
    """uint8 frames (F, 64, 64, 3) -> tokenizer codes (F, 16, 16), in batches."""
    return torch.cat([tokenizer.encode(torch.from_numpy(frames[i : i + batch_size])) for i in range(0, len(frames), batch_size)])


def fit_bridge_on_data(world: WorldModel, data, steps: np.ndarray, labelled: np.ndarray,
                       ids: np.ndarray | None = None) -> np.ndarray:
    """Fit `world`'s bridge on the `labelled` steps of a Dataset (their true actions are the only labels read);
    all of `steps`, unlabelled, show which token changes real play makes (the guard). `ids`: the dataset's frames
    as compact ids (F, 16, 16), if already encoded. Returns the labelled steps."""
    if ids is None:
        ids = frames_to_ids_numpy(world, data.frames)
    ids_now, ids_next = (torch.from_numpy(ids[data.step_frame[steps] + k]).long().to(world.device) for k in (0, 1))
    world.fit_bridge(data.frames[data.context_indices(labelled, 1)], data.actions[labelled],
                     observed=world.fit_guard(ids_now, ids_next))
    return labelled
