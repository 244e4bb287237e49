"""How a training batch is drawn and made: shares of special pools (changed steps, ended ones, labelled ones, a
check round's), prioritized replay by last seen loss (HardSteps), and the batch tensors of a set of steps."""
from __future__ import annotations

import numpy as np
import torch


def sample_steps(rng, pools: list[tuple[np.ndarray, float]], batch_size: int) -> np.ndarray:
    """A batch of step indices: pools[i] gives a share of the batch (empty pools give none); the first pool fills the rest."""
    counts = [int(round(batch_size * share)) if len(steps) else 0 for steps, share in pools[1:]]
    if sum(counts) >= batch_size:   # the first pool (all steps: the only source of unchanged, unlabelled ones) must get a share
        raise ValueError(f"the shares of the special pools take the whole batch of {batch_size} ({counts}); lower them")
    counts = [batch_size - sum(counts), *counts]
    return np.concatenate([rng.choice(steps, n) for (steps, _), n in zip(pools, counts) if n > 0])


def make_batch(data, ids: np.ndarray, steps: np.ndarray, context: int, device, step_labels=None,
               candidates=None):
    """(clip ids (B, W + 1, 16, 16), reward (B,), terminated (B,), labels (B,) or None, candidates (B, K) or
    None) on `device`."""
    clip = torch.from_numpy(ids[data.context_indices(steps, context)]).long()
    labels = None if step_labels is None else torch.from_numpy(step_labels[steps]).to(device)
    still = None if candidates is None else torch.from_numpy(candidates[steps]).to(device)
    return (clip.to(device), torch.from_numpy(data.rewards[steps]).to(device),
            torch.from_numpy(data.terminated[steps]).to(device), labels, still)


class HardSteps(torch.nn.Module):
    """Prioritized replay over training steps: each step's last seen per-frame loss (a step not seen yet counts
    as the largest seen), `rows` more rows a batch drawn with probability ~ loss ** power. Uniform draws visit the
    rare states an explorer found (a door closed again, the agent behind it facing back) a few times in a whole
    run, and the world stayed wrong there while right on the common ones; their loss says where. The losses are a
    buffer of the module the checkpoint holds (`Brain.hard`), so a resumed run draws as the uninterrupted one."""

    def __init__(self, steps: np.ndarray, power: float = 1.0):
        super().__init__()
        self.steps, self.power = steps, power
        self.register_buffer("loss", torch.full((len(steps),), -1.0))    # -1: not seen yet
        self.index = np.full(int(steps.max()) + 1 if len(steps) else 0, -1, np.int64)
        self.index[steps] = np.arange(len(steps))

    def draw(self, rng, n: int) -> np.ndarray:
        loss = self.loss.cpu().numpy().astype(np.float64)
        seen = loss[loss >= 0]
        weight = np.where(loss >= 0, loss, seen.max() if len(seen) else 1.0).clip(min=1e-6) ** self.power
        return self.steps[rng.choice(len(self.steps), n, p=weight / weight.sum())]

    @torch.no_grad()
    def update(self, steps: np.ndarray, loss: torch.Tensor) -> None:
        """Record the per-frame losses (len(steps),) of `steps` (training steps)."""
        self.loss[torch.from_numpy(self.index[steps]).to(self.loss.device)] = loss.float().to(self.loss.device)
