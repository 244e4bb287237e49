"""The dynamics model: next-frame tokens from W past frames and a latent action, plus reward and episode-end heads.

Tokens are grouped 2x2 into 64 positions (one MiniGrid tile each) and the W context frames of a position are
concatenated into one vector, so attention runs over 65 positions (the action token first, as Jasmine found
prepending beats adding) whatever W is. One forward pass decodes all 256 tokens of the next frame: the step is
cheap enough to dream on a CPU.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from genie_env.latent_action import group_tokens
from genie_env.nn import Block


@dataclass
class DynamicsConfig:
    vocab_size: int = 64
    context: int = 4
    group: int = 2
    grid: int = 16
    token_dim: int = 16
    latent_dim: int = 3           # bits of the latent action (K = 2**bits)
    dim: int = 64                 # 64 keeps a 64-world batched step faster than real MiniGrid on 2 cores
    layers: int = 4
    heads: int = 4
    changed_weight: float = 4.0   # extra loss weight on tokens that differ from the current frame
    head_weight: float = 1.0


@dataclass
class DynamicsOutput:
    logits: torch.Tensor       # (B, 16, 16, V)
    reward: torch.Tensor       # (B,)
    end_logit: torch.Tensor    # (B,) logit of "the episode ends with this step"


class Dynamics(nn.Module):
    def __init__(self, config: DynamicsConfig):
        super().__init__()
        self.config = c = config
        positions = (c.grid // c.group) ** 2
        self.embed = nn.Embedding(c.vocab_size, c.token_dim)
        self.project = nn.Linear(c.context * c.group**2 * c.token_dim, c.dim)
        self.action = nn.Linear(c.latent_dim, c.dim)
        self.position = nn.Parameter(torch.zeros(1, positions + 1, c.dim))
        self.blocks = nn.ModuleList(Block(c.dim, c.heads) for _ in range(c.layers))
        self.norm = nn.LayerNorm(c.dim)
        self.to_logits = nn.Linear(c.dim, c.group**2 * c.vocab_size)
        self.to_heads = nn.Linear(c.dim, 2)
        # A copy path: most tokens do not change between frames, so the current token gets a learned logit bonus
        # and the transformer only has to learn what changes (the pointer idea of See et al. 2017).
        self.copy_bonus = nn.Parameter(torch.tensor(4.0))
        nn.init.normal_(self.position, std=0.02)

    def forward(self, context: torch.Tensor, action: torch.Tensor) -> DynamicsOutput:
        """context tokens (B, W, 16, 16), action vectors (B, latent_dim) -> next-frame logits and heads."""
        c = self.config
        x = self.project(group_tokens(self.embed(context), c.group))              # (B, P, dim)
        x = torch.cat([self.action(action)[:, None], x], 1) + self.position       # (B, P + 1, dim)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        logits = rearrange(self.to_logits(x[:, 1:]), "b (h w) (g1 g2 v) -> b (h g1) (w g2) v",
                           h=c.grid // c.group, g1=c.group, g2=c.group)
        logits = logits.scatter_add(-1, context[:, -1, ..., None], self.copy_bonus.expand(*context.shape[:1], *context.shape[2:], 1))
        heads = self.to_heads(x[:, 0])
        return DynamicsOutput(logits, heads[:, 0], heads[:, 1])

    def loss(self, out: DynamicsOutput, context: torch.Tensor, target: torch.Tensor, reward: torch.Tensor,
             ended: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """target tokens (B, 16, 16); reward (B,) float; ended (B,) bool."""
        changed = target != context[:, -1]
        weight = 1.0 + self.config.changed_weight * changed.float()
        # summed over a frame's tokens (nats per frame), so the few tokens an action changes outweigh the
        # latent's entropy terms; averaged per token, the entropy terms won and left/right merged into one code
        token_loss = (F.cross_entropy(out.logits.permute(0, 3, 1, 2), target, reduction="none") * weight).flatten(1).sum(1).mean()
        reward_loss = F.mse_loss(out.reward, reward)
        end_loss = F.binary_cross_entropy_with_logits(out.end_logit, ended.float())
        with torch.no_grad():
            predicted = out.logits.argmax(-1)
            exact = (predicted == target).flatten(1).all(1).float()
            frame_exact = exact.mean()
            moved = changed.flatten(1).any(1)
            moved_exact = (exact * moved).sum() / moved.sum().clamp(min=1)
            changed_acc = ((predicted == target) & changed).sum() / changed.sum().clamp(min=1)
        metrics = {"loss/tokens": token_loss.item(), "loss/reward": reward_loss.item(), "loss/end": end_loss.item(),
                   "dynamics/frame_exact": frame_exact.item(), "dynamics/changed_frame_exact": moved_exact.item(),
                   "dynamics/changed_token_acc": changed_acc.item()}
        return token_loss + self.config.head_weight * (reward_loss + end_loss), metrics

    @torch.no_grad()
    def step(self, context: torch.Tensor, action: torch.Tensor, temperature: float = 0.0,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One dream step: (next tokens (B, 16, 16), reward (B,), end probability (B,))."""
        out = self.forward(context, action)
        if temperature <= 0:
            tokens = out.logits.argmax(-1)
        else:
            probs = torch.softmax(out.logits.float() / temperature, -1)
            tokens = torch.multinomial(probs.view(-1, probs.shape[-1]), 1, generator=generator).view(probs.shape[:-1])
        return tokens, out.reward, torch.sigmoid(out.end_logit)
