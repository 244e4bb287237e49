"""What the dream's changes mean and which ones may happen: the action bridge, the change guard, the reward rule.

Three small objects a `WorldModel` composes (DIAMOND keeps the env apart from the models; here the models, the
names of their actions and the rules that guard the dream are apart too). All three read *changes*: which token
pairs ("token a became token b") occur at the positions where a frame changed, present or not, wherever they
are. A turn is "agent facing east became agent facing north" in any cell, so 200 labels cover every
(direction, action) pair, and presence rather than counts keeps the many cells a turn re-highlights from drowning
out the one cell that says which way the agent turned.

- `ActionBridge`: a linear softmax from a change to the env action that makes it (an unchanged frame is "no-op"
  by definition), fitted on a few labelled real transitions.
- `ChangeGuard`: the set of changes real play showed (hashed signatures of unlabelled transitions). A dreamed
  change outside it is one the real env never makes (walking into a wall and vanishing): the dream holds still.
- `RewardRule`: where rewards happen in real play (their range; only when an episode ends?), so the dream pays
  as the game does and an agent cannot farm the reward head's small errors.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from minigrid.core.actions import Actions

ENV_ACTION_NAMES = tuple(action.name for action in Actions)   # MiniGrid's own names, in its order: left ... done
NOOP = len(ENV_ACTION_NAMES)          # the effect class of "the frame did not change"
EFFECT_NAMES = ENV_ACTION_NAMES + ("no-op",)
# info["meaning"] of a step: one that changed nothing says so in plain words (issue 25: "done" in Empty answered
# "env_action 4, meaning no-op", as if the player had dropped something)
STEP_MEANINGS = ENV_ACTION_NAMES + ("does nothing here",)
IMPLAUSIBLE = -1                      # effect of a dreamed change that real play never shows
HASH_BITS = 40                        # signature hashes: sums of V * V weights below 2**40 stay inside int64


def change_signature(before: torch.Tensor, after: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """ids (N, 16, 16) twice -> (N, V * V) float 0/1: presence of 'token a became token b' at changed positions."""
    pairs = (before * vocab_size + after).flatten(1)
    changed = (before != after).flatten(1).float()
    return torch.zeros(len(before), vocab_size**2, device=before.device).scatter_add_(1, pairs, changed).clamp_(max=1.0)


class ActionBridge:
    """Change signature (N, V * V) -> the env action (0..6) whose effect it is, or NOOP for no change."""

    TENSORS = ("weight", "bias", "seen")

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, seen: torch.Tensor, noop_action: int, labels: int):
        self.weight, self.bias, self.seen = weight.float(), bias.float(), seen.float()
        self.noop_action, self.labels = int(noop_action), int(labels)

    @classmethod
    def fit(cls, signatures: torch.Tensor, actions: np.ndarray, steps: int = 300, l2: float = 1e-3) -> "ActionBridge":
        """Multinomial logistic regression on the signatures of labelled transitions that changed the frame, from
        zero weights with a fixed number of full-batch Adam steps, so the fit is deterministic. `actions` (N,)."""
        device = signatures.device
        changed = (signatures.sum(1) > 0).cpu().numpy()
        features = signatures[torch.from_numpy(changed).to(device)]
        labels = torch.from_numpy(actions[changed]).long().to(device)
        num_classes = len(ENV_ACTION_NAMES)
        weight = torch.zeros(signatures.shape[1], num_classes, device=device, requires_grad=True)
        bias = torch.zeros(num_classes, device=device, requires_grad=True)
        if len(labels):
            optimizer = torch.optim.Adam([weight, bias], lr=0.1)
            with torch.enable_grad():
                for _ in range(steps):
                    loss = torch.nn.functional.cross_entropy(features @ weight + bias, labels) + l2 * weight.pow(2).sum()
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        seen = torch.bincount(labels, minlength=num_classes).clamp(max=1).float()
        counts = np.bincount(actions, minlength=num_classes)
        # the env action that most often changes nothing stands for "no-op" when an env action is asked for
        noop_share = np.bincount(actions, weights=~changed, minlength=num_classes) / np.maximum(counts, 1)
        return cls(weight.detach(), bias.detach(), seen, int(np.argmax(noop_share + 1e-6 * counts)), len(actions))

    def to(self, device) -> "ActionBridge":
        self.weight, self.bias, self.seen = (t.to(device) for t in (self.weight, self.bias, self.seen))
        return self

    def probabilities(self, signatures: torch.Tensor) -> torch.Tensor:
        """(N, V * V) -> (N, 7) class probabilities (meaningful for changed frames)."""
        return torch.softmax(signatures @ self.weight + self.bias, -1)

    def classify(self, signatures: torch.Tensor) -> torch.Tensor:
        """(N, V * V) -> effect class (N,) in 0..7: the env action whose effect it is, or NOOP (no change)."""
        logits = (signatures @ self.weight + self.bias).masked_fill(self.seen == 0, float("-inf"))  # classes no label showed
        changed = signatures.sum(1) > 0
        return torch.where(changed, logits.argmax(1), torch.full_like(changed, NOOP, dtype=torch.long))

    def env_action(self, effects: torch.Tensor) -> torch.Tensor:
        """Effect classes (N,) -> env actions (N,): NOOP becomes the env action that most often does nothing."""
        return torch.where(effects == NOOP, torch.full_like(effects, self.noop_action), effects)

    def tensors(self) -> dict:
        return {k: getattr(self, k) for k in self.TENSORS}

    def meta(self) -> dict:
        return {"noop_action": self.noop_action, "labels": self.labels}


class ChangeGuard:
    """The changes real play showed, as sorted unique hashes (S,) of change signatures. Unlabelled data is
    enough: it says which changes can happen, not which action made them."""

    def __init__(self, observed: torch.Tensor):
        self.observed = observed.long()
        self._weights = None

    def hash(self, signatures: torch.Tensor) -> torch.Tensor:
        """(N, V * V) 0/1 signatures -> (N,) int64 hashes (fixed random weights: equal signatures, equal hashes)."""
        if self._weights is None or self._weights.device != signatures.device or len(self._weights) != signatures.shape[1]:
            weights = torch.randint(0, 2**HASH_BITS, (signatures.shape[1],), generator=torch.Generator().manual_seed(0))
            self._weights = weights.to(signatures.device)
        # elementwise product and sum: an int64 matmul has no CUDA kernel (addmv_impl_cuda for Long, issue 11)
        return (signatures.long() * self._weights).sum(1)

    @classmethod
    def from_signatures(cls, chunks) -> "ChangeGuard":
        """From an iterable of signature batches (N, V * V) of real transitions."""
        guard = cls(torch.zeros(0, dtype=torch.long))
        hashes = [guard.hash(s) for s in chunks]
        if hashes:
            guard.observed = torch.unique(torch.cat(hashes))
        return guard

    def to(self, device) -> "ChangeGuard":
        self.observed = self.observed.to(device)
        return self

    def allows(self, signatures: torch.Tensor) -> torch.Tensor:
        """(N, V * V) -> (N,) bool: no change, or a change that real play showed."""
        return (signatures.sum(1) == 0) | torch.isin(self.hash(signatures), self.observed)


@dataclass
class RewardRule:
    """Rewards as real play shows them: clipped to [low, high]; paid only where an episode ends if `at_end_only`
    (MiniGrid's are). An unclipped head summed over a 256-step dream paid 10x the real return.

    With `success_base` / `success_slope` / `time_limit` (read off real play by `from_data` when every success
    paid base - slope * t / T, t the env's step count and T its limit: MiniGrid's 1 - 0.9 t / T), an episode end
    whose head says "success" pays exactly that for the dream's own step count t, with T the real env's own
    limit: the head cannot see the time, so alone it paid the data's average success (0.867 at any step)."""

    low: float
    high: float
    at_end_only: bool
    success_base: float | None = None
    success_slope: float | None = None
    time_limit: int | None = None

    TIME_FIT_TOLERANCE = 1e-3   # every success of the data within this of base - slope * t / T, or no time rule

    @classmethod
    def from_data(cls, rewards, terminated, times=None, limits=None, time_limit: int | None = None) -> "RewardRule":
        """From real steps: rewards and terminated (S,); with `times` (S,) (the env's step count after each step),
        `limits` (S,) (the limit each episode ran under) and `time_limit` (the real env's own), the time rule too."""
        rewards, terminated = np.asarray(rewards, np.float64), np.asarray(terminated, bool)
        if rewards.shape != terminated.shape or rewards.ndim != 1 or not len(rewards):
            raise ValueError(f"rewards and terminated must be two (S,) arrays, got {rewards.shape} and {terminated.shape}")
        rule = cls(min(float(rewards.min()), 0.0), max(float(rewards.max()), 0.0), bool((rewards[~terminated] == 0).all()))
        success = terminated & (rewards > 0)
        if times is None or limits is None or time_limit is None or not rule.at_end_only or success.sum() < 2:
            return rule
        fraction = np.asarray(times, np.float64)[success] / np.asarray(limits, np.float64)[success]
        design = np.stack([np.ones_like(fraction), -fraction], 1)
        (base, slope), *_ = np.linalg.lstsq(design, rewards[success], rcond=None)
        if np.abs(design @ (base, slope) - rewards[success]).max() > cls.TIME_FIT_TOLERANCE or np.ptp(fraction) == 0:
            return rule
        return cls(rule.low, rule.high, True, float(round(base, 6)), float(round(slope, 6)), int(time_limit))

    @property
    def timed(self) -> bool:
        return self.time_limit is not None

    def apply(self, reward: torch.Tensor, ended: torch.Tensor, steps: torch.Tensor | None = None) -> torch.Tensor:
        """The reward head's output (N,) as the dream pays it, given the dream's episode ends (N,) bool and, for
        the time rule, each world's step count after this step (N,)."""
        reward = reward.clamp(self.low, self.high)
        if self.timed and steps is not None:
            # "success" where the head pays more than half of the least a success pays (at t = T); the pay is the time's
            least = self.success_base - self.success_slope
            paid = (self.success_base - self.success_slope * steps.to(reward.dtype) / self.time_limit).clamp(min=least)
            return torch.where(ended & (reward > 0.5 * least), paid, torch.zeros_like(reward))
        return torch.where(ended, reward, torch.zeros_like(reward)) if self.at_end_only else reward

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}
