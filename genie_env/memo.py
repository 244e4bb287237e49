"""Greedy dream steps remembered: a dream at temperature 0 is a function of (context ids, latent), and an agent
comes back to the same states again and again, so a step seen before costs a dictionary lookup, not a forward
pass of the dynamics model.

    memo = StepMemo(capacity=32768)
    nxt, reward, end_prob = memo.step_ids(world, context_ids, latents)   # as world.step_ids(context_ids, latents)

What is remembered is the dynamics' raw greedy outcome (next ids, reward head, end probability); the guard, the
reward rule and the step count are applied after it, as without the memo. Least recently used entries go first.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch


class StepMemo:
    def __init__(self, capacity: int = 32768):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.table: OrderedDict = OrderedDict()
        self.hits = self.misses = 0

    def keys(self, context_ids: torch.Tensor, latents: torch.Tensor) -> list[bytes]:
        rows = context_ids.reshape(len(context_ids), -1).to(torch.int16).numpy()
        codes = latents.to(torch.int16).numpy()
        return [row.tobytes() + code.tobytes() for row, code in zip(rows, codes)]

    @torch.no_grad()
    def step_ids(self, world, context_ids: torch.Tensor, latents: torch.Tensor) -> tuple:
        """`world.step_ids(context_ids, latents)` at temperature 0 (CPU tensors), each row looked up first."""
        keys = self.keys(context_ids, latents)
        found = []
        for key in keys:
            entry = self.table.get(key)
            if entry is not None:
                self.table.move_to_end(key)   # most recently used last; the first goes first
            found.append(entry)
        missing = [i for i, entry in enumerate(found) if entry is None]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            rows = torch.as_tensor(missing)
            nxt, reward, end_prob = world.step_ids(context_ids[rows], latents[rows])
            for j, i in enumerate(missing):
                entry = found[i] = (nxt[j], reward[j], end_prob[j])
                self.table[keys[i]] = entry
            while len(self.table) > self.capacity:
                self.table.popitem(last=False)
        if len(keys) == 1:   # one env: no stacking needed
            nxt, reward, end_prob = found[0]
            return nxt[None], reward[None], end_prob[None]
        return (torch.stack([entry[0] for entry in found]), torch.stack([entry[1] for entry in found]),
                torch.stack([entry[2] for entry in found]))

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else float(np.nan)
