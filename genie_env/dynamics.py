"""The dynamics model: next-frame tokens from W past frames and a latent action, plus reward and episode-end heads.

Tokens are grouped 2x2 into 64 positions (one MiniGrid tile each) and the W context frames of a position are
concatenated into one vector, so attention runs over 65 positions (the action token first, as Jasmine found
prepending beats adding) whatever W is. One forward pass decodes all 256 tokens of the next frame: the step is
cheap enough to dream on a CPU.

The next frame is predicted tile by tile (issue 10): a 2x2 group of tokens is one MiniGrid tile, and the output
at each position is a categorical over the tile patterns the training data shows (`tile_table`), not four
independent tokens, so every dreamed tile is one the game draws (independent tokens let a sprite come out half
one tile and half another). The input still embeds tokens one by one, so a prompt with a tile never seen still
reads; for the copy path it counts as the known tile it is closest to.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from genie_env.latent_action import group_tokens
from genie_env.nn import Block, LocalBlock

TRUNKS = ("transformer", "local")


@dataclass
class DynamicsConfig:
    vocab_size: int = 64
    num_tiles: int = 64           # tile patterns (2x2 token groups) the training data shows
    context: int = 1
    group: int = 2
    grid: int = 16
    token_dim: int = 16
    latent_dim: int = 3           # bits of the latent action (K = 2**bits)
    dim: int = 64                 # 64 keeps a 64-world batched step faster than real MiniGrid on 2 cores
    layers: int = 4
    heads: int = 4
    changed_weight: float = 4.0   # extra loss weight on tokens that differ from the current frame
    head_weight: float = 1.0
    trunk: str = "transformer"    # "transformer": attention over the 64 tiles and the action token; "local":
                                  # `layers` LocalBlocks on the 8x8 tile grid (3x3 reads, a max over the grid), MLP 2 x dim
    positions: bool = False       # local trunk: each tile's place on the grid, learned and added to its input, so the
                                  # max over the grid can say where the agent stands to every tile in one block


@dataclass
class DynamicsOutput:
    logits: torch.Tensor       # (B, 8, 8, num_tiles) over tile patterns
    reward: torch.Tensor       # (B,)
    end_logit: torch.Tensor    # (B,) logit of "the episode ends with this step"


class Dynamics(nn.Module):
    def __init__(self, config: DynamicsConfig):
        super().__init__()
        self.config = c = config
        if c.trunk not in TRUNKS:
            raise ValueError(f"dynamics trunk must be one of {TRUNKS}, got {c.trunk!r}")
        if c.positions and c.trunk != "local":
            raise ValueError("dynamics positions are for the local trunk (the transformer has its own)")
        positions = (c.grid // c.group) ** 2
        self.embed = nn.Embedding(c.vocab_size, c.token_dim)
        self.project = nn.Linear(c.context * c.group**2 * c.token_dim, c.dim)
        if c.trunk == "transformer":
            self.action = nn.Linear(c.latent_dim, c.dim)
            self.position = nn.Parameter(torch.zeros(1, positions + 1, c.dim))
            self.blocks = nn.ModuleList(Block(c.dim, c.heads) for _ in range(c.layers))
        else:   # the action reaches every block; the grid's edge is the padding (MiniGrid's border is wall)
            self.action = nn.Linear(c.latent_dim, c.layers * c.dim)
            self.blocks = nn.ModuleList(LocalBlock(c.dim, 2 * c.dim) for _ in range(c.layers))
            if c.positions:
                self.place = nn.Parameter(torch.zeros(1, positions, c.dim))
        self.norm = nn.LayerNorm(c.dim)
        self.to_logits = nn.Linear(c.dim, c.num_tiles)
        self.to_heads = nn.Linear(c.dim if c.trunk == "transformer" else 2 * c.dim, 2)
        # A copy path: most tiles do not change between frames, so the current tile gets a learned logit bonus
        # and the transformer only has to learn what changes (the pointer idea of See et al. 2017).
        self.copy_bonus = nn.Parameter(torch.tensor(4.0))
        # tile_table[t] = the g*g token ids of tile pattern t (row-major); set from data by `set_tiles`
        self.register_buffer("tile_table", torch.zeros(c.num_tiles, c.group**2, dtype=torch.long))
        if c.trunk == "transformer":
            nn.init.normal_(self.position, std=0.02)   # last, as before there were trunks: the same seed, the same world
        elif c.positions:
            nn.init.normal_(self.place, std=0.02)

    def set_tiles(self, table: torch.Tensor) -> None:
        """Tile patterns (num_tiles, g*g) of token ids, e.g. from `tile_patterns` over the training frames."""
        if tuple(table.shape) != tuple(self.tile_table.shape):
            raise ValueError(f"tile table must have shape {tuple(self.tile_table.shape)}, got {tuple(table.shape)}")
        self.tile_table.copy_(table)

    def to_tiles(self, ids: torch.Tensor, exact: bool = False) -> torch.Tensor:
        """Token ids (..., 16, 16) -> tile ids (..., 8, 8): each 2x2 group's pattern, or the nearest known one
        (fewest differing tokens) for a group never seen in training. `exact`: unseen groups raise instead."""
        g, v = self.config.group, self.config.vocab_size
        groups = rearrange(ids, "... (h g1) (w g2) -> ... h w (g1 g2)", g1=g, g2=g)
        flat = groups.reshape(-1, g * g)
        # exact matches by key (the table is sorted, so its keys are too), else the nearest pattern; branch-free
        # (no host sync, so a CUDA graph can hold it): the nearest is computed everywhere, in fixed-size chunks
        powers = v ** torch.arange(g * g - 1, -1, -1, device=ids.device)
        table_keys = (self.tile_table * powers).sum(1)
        keys = (flat * powers).sum(1)
        index = torch.searchsorted(table_keys, keys).clamp(max=len(table_keys) - 1)
        found = table_keys[index] == keys
        if exact and not bool(found.all()):
            raise ValueError("token ids hold a tile pattern that is not in the tile table")
        if ids.device.type == "cpu":   # on the CPU a sync costs nothing: the nearest only where no key matched
            missing = (~found).nonzero().squeeze(1)
            if len(missing):
                index = index.clone()
                index[missing] = self._nearest(flat[missing])
            return index.view(groups.shape[:-1])
        tiles = torch.where(found, index, self._nearest(flat) if len(flat) else index)
        return tiles.view(groups.shape[:-1])

    def _nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Token groups (n, g*g) -> the known tile pattern with the fewest differing tokens (n,), in chunks."""
        return torch.cat([(chunk[:, None, :] != self.tile_table[None]).sum(-1).argmin(1) for chunk in flat.split(16384)])

    def from_tiles(self, tiles: torch.Tensor) -> torch.Tensor:
        """Tile ids (..., 8, 8) -> token ids (..., 16, 16)."""
        g = self.config.group
        return rearrange(self.tile_table[tiles], "... h w (g1 g2) -> ... (h g1) (w g2)", g1=g, g2=g)

    def forward(self, context: torch.Tensor, action: torch.Tensor) -> DynamicsOutput:
        """context tokens (B, W, 16, 16), action vectors (B, latent_dim) -> next-frame logits and heads."""
        c = self.config
        side = c.grid // c.group
        x = self.project(group_tokens(self.embed(context), c.group))              # (B, P, dim)
        if c.trunk == "transformer":
            x = torch.cat([self.action(action)[:, None], x], 1) + self.position   # (B, P + 1, dim)
            for block in self.blocks:
                x = block(x)
            x = self.norm(x)
            tiles, summary = x[:, 1:], x[:, 0]
        else:
            if c.positions:
                x = x + self.place
            x = x.view(len(x), side, side, c.dim)
            for block, act in zip(self.blocks, self.action(action).chunk(c.layers, -1)):
                x = block(x, act)
            x = self.norm(x).flatten(1, 2)
            tiles, summary = x, torch.cat([x.amax(1), x.mean(1)], -1)
        logits = rearrange(self.to_logits(tiles), "b (h w) t -> b h w t", h=side)                # (B, 8, 8, T)
        current = self.to_tiles(context[:, -1])[..., None]                                       # (B, 8, 8, 1)
        logits = logits.scatter_add(-1, current, self.copy_bonus.expand(current.shape).to(logits.dtype))
        heads = self.to_heads(summary)
        return DynamicsOutput(logits, heads[:, 0], heads[:, 1])

    def frame_loss(self, out: DynamicsOutput, context: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(B,) each frame's token loss: cross-entropy summed over its tiles (nats per frame), a changed tile
        weighted 1 + changed_weight. Summed, not averaged, so the few tiles an action changes outweigh the latent's
        entropy terms; averaged per tile, the entropy terms won and left/right merged into one code."""
        target_tiles = self.to_tiles(target)
        weight = 1.0 + self.config.changed_weight * (target_tiles != self.to_tiles(context[:, -1])).float()
        return (F.cross_entropy(out.logits.permute(0, 3, 1, 2), target_tiles, reduction="none") * weight).flatten(1).sum(1)

    def loss(self, out: DynamicsOutput, context: torch.Tensor, target: torch.Tensor, reward: torch.Tensor,
             ended: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """target tokens (B, 16, 16); reward (B,) float; ended (B,) bool. The per-frame token losses (B,) are
        kept, detached, in `self.last_frame_loss` (a trainer's prioritized replay reads them)."""
        frame_loss = self.frame_loss(out, context, target)
        self.last_frame_loss = frame_loss.detach()
        token_loss = frame_loss.mean()
        reward_loss = F.mse_loss(out.reward, reward)
        end_loss = F.binary_cross_entropy_with_logits(out.end_logit, ended.float())
        with torch.no_grad():
            changed = target != context[:, -1]
            predicted = self.from_tiles(out.logits.argmax(-1))
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
        if temperature < 1e-6:   # greedy: 0, and tiny ones (logits / 1e-38 overflow; softmax gave NaN, issue 12)
            tiles = out.logits.argmax(-1)
        else:
            probs = torch.softmax(out.logits.float() / temperature, -1)
            tiles = torch.multinomial(probs.view(-1, probs.shape[-1]), 1, generator=generator).view(probs.shape[:-1])
        return self.from_tiles(tiles), out.reward, torch.sigmoid(out.end_logit)


def tile_patterns(ids: torch.Tensor, group: int = 2) -> torch.Tensor:
    """Token ids (F, 16, 16) -> the distinct tile patterns (T, group * group) they hold, sorted."""
    groups = rearrange(ids, "f (h g1) (w g2) -> (f h w) (g1 g2)", g1=group, g2=group)
    return torch.unique(groups, dim=0)
