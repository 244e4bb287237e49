"""Greedy dream steps remembered: a dream at temperature 0 is a function of (context ids, latent), and an agent
comes back to the same states again and again, so a step seen before costs a dictionary lookup, not a forward
pass of the dynamics model.

    memo = StepMemo(capacity=32768)
    nxt, reward, ended, effect = memo.step(world, context_ids, latents)
    # as world.settle(context_ids[:, -1], *world.step_ids(context_ids, latents))

What is remembered is the whole greedy step as the env takes it (`WorldModel.settle`: next ids after the guard,
reward head, episode end, effect class); only the reward rule, which reads each world's step count, is applied
after it, as without the memo. Least recently used entries go first.
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
    def step(self, world, context_ids: torch.Tensor, latents: torch.Tensor) -> tuple:
        """`world.settle(context_ids[:, -1], *world.step_ids(context_ids, latents))` at temperature 0 (CPU
        tensors), each row looked up first: (next ids (N, 16, 16), reward head (N,), ended (N,), effect (N,) or
        None without a bridge)."""
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
            context = context_ids[rows]
            settled = world.settle(context[:, -1], *world.step_ids(context, latents[rows]))
            for j, i in enumerate(missing):
                entry = found[i] = tuple(None if part is None else part[j] for part in settled)
                self.table[keys[i]] = entry
            while len(self.table) > self.capacity:
                self.table.popitem(last=False)
        if len(keys) == 1:   # one env: no stacking needed
            return tuple(None if part is None else part[None] for part in found[0])
        return tuple(None if found[0][k] is None else torch.stack([entry[k] for entry in found]) for k in range(4))

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else float(np.nan)
