"""The latent action model (LAM): from frames up to t and frame t+1, one of K discrete latent actions.

Issue 10: the default is W = 1 (frames t and t+1 only: a longer past let the LAM learn "as before", which a
persistent recording policy rewards) and a categorical bottleneck whose codes the trainer anchors to MiniGrid's
7 actions with the bridge's ~200 labelled transitions (code 7: nothing changed), so each latent means one action
in every state.

Genie (Bruce et al. 2024) infers actions without labels: an encoder sees the past and the next frame and must
squeeze what changed through a tiny discrete bottleneck; a decoder that already sees the past must rebuild the
next frame from it. Here the decoder is the dynamics model itself (trained jointly), so the latents are exactly
what the dream understands. K = 2**bits codes of a binary scalar quantizer (fixed boundaries, so no code dies) and entropy terms guard against collapse; K small and the
decoder's access to the past frame guard against the latent leaking the next frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from einops import rearrange

from genie_env.nn import BinaryQuantizer, Block, CategoricalBottleneck, Quantized, VectorQuantizer


@dataclass
class LatentActionConfig:
    vocab_size: int = 64          # tokens are compact ids of the tokenizer codes the data uses
    num_actions: int = 8          # K
    context: int = 1              # W past frames (the frame at t included)
    group: int = 2                # a position is a group x group block of tokens (one 8x8-pixel MiniGrid tile)
    grid: int = 16
    token_dim: int = 16
    dim: int = 96
    layers: int = 2
    heads: int = 4
    bottleneck: str = "categorical"  # "categorical": argmax of K logits, label-anchored; "vq": EMA codebook; "binary": FSQ
    sample_entropy: float = 0.0
    batch_entropy: float = 0.05
    vq_dim: int = 16

    @property
    def latent_dim(self) -> int:
        return self.num_actions.bit_length() - 1 if self.bottleneck == "binary" else self.vq_dim

    @property
    def encoder_out(self) -> int:
        """Width of the encoder's output: K logits for the categorical bottleneck, else the latent itself."""
        return self.num_actions if self.bottleneck == "categorical" else self.latent_dim


def group_tokens(embedded: torch.Tensor, group: int) -> torch.Tensor:
    """(B, T, H, W, E) token embeddings -> (B, H/g * W/g, T * g * g * E): one vector per block of tokens."""
    return rearrange(embedded, "b t (h g1) (w g2) e -> b (h w) (t g1 g2 e)", g1=group, g2=group)


class LatentActionModel(nn.Module):
    def __init__(self, config: LatentActionConfig):
        super().__init__()
        self.config = c = config
        positions = (c.grid // c.group) ** 2
        self.embed = nn.Embedding(c.vocab_size, c.token_dim)
        # Marks the tokens that differ between the last context frame and the next one, so what changed (the
        # action's footprint) is visible to every position without the encoder having to compare frames first.
        self.changed = nn.Embedding(2, c.token_dim)
        self.project = nn.Linear((c.context + 1) * c.group**2 * c.token_dim, c.dim)
        self.position = nn.Parameter(torch.zeros(1, positions + 1, c.dim))
        self.cls = nn.Parameter(torch.zeros(1, 1, c.dim))
        self.blocks = nn.ModuleList(Block(c.dim, c.heads) for _ in range(c.layers))
        self.norm = nn.LayerNorm(c.dim)
        self.to_latent = nn.Linear(c.dim, c.encoder_out)
        if c.bottleneck == "categorical":
            self.quantizer = CategoricalBottleneck(c.num_actions, c.latent_dim, c.batch_entropy)
        elif c.bottleneck == "binary":
            if c.num_actions < 2 or c.num_actions & (c.num_actions - 1):
                raise ValueError(f"num_actions must be a power of two >= 2 (one sign per bit), got {c.num_actions}")
            self.quantizer = BinaryQuantizer(c.latent_dim, c.sample_entropy, c.batch_entropy)
        elif c.bottleneck == "vq":
            self.quantizer = VectorQuantizer(c.num_actions, c.latent_dim, decay=0.95, dead_fraction=0.1)
        else:
            raise ValueError(f"bottleneck must be 'categorical', 'vq' or 'binary', got {c.bottleneck!r}")
        nn.init.normal_(self.position, std=0.02)

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, W + 1, 16, 16): W context frames then the next frame -> continuous latent (B, latent_dim)."""
        embedded = self.embed(tokens)                                              # (B, W + 1, 16, 16, E)
        changed = self.changed((tokens[:, -1] != tokens[:, -2]).long())            # (B, 16, 16, E)
        embedded = torch.cat([embedded[:, :-1], (embedded[:, -1] + changed)[:, None]], 1)
        x = self.project(group_tokens(embedded, self.config.group))               # (B, P, dim)
        x = torch.cat([self.cls.expand(len(x), -1, -1), x], 1) + self.position
        for block in self.blocks:
            x = block(x)
        return self.to_latent(self.norm(x[:, 0]))

    def forward(self, tokens: torch.Tensor, labels: torch.Tensor | None = None) -> Quantized:
        """`labels` (B,): the code a labelled transition must take (its env action), -1 where unlabelled (VQ only)."""
        if labels is not None and self.config.bottleneck == "binary":
            raise ValueError("labelled latent actions need the 'categorical' or 'vq' bottleneck")
        if labels is not None:
            return self.quantizer(self.encode(tokens), labels)
        return self.quantizer(self.encode(tokens))

    @torch.no_grad()
    def infer(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, W + 1, 16, 16) -> latent action indices (B,)."""
        return self.quantizer.nearest(self.encode(tokens))

    @property
    def action_vectors(self) -> torch.Tensor:
        """(K, latent_dim): the vector the dynamics model receives for each latent action."""
        return self.quantizer.codebook
