"""Building blocks shared by the models: a vector quantizer and a transformer block."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Quantized:
    vectors: torch.Tensor      # (..., D) quantized, with straight-through gradients to the input
    indices: torch.Tensor      # (...,) int64 code per vector
    commitment: torch.Tensor   # scalar loss pulling the encoder towards its codes
    supervised: torch.Tensor | None = None   # cross-entropy of the code choice on the rows that have a target


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantizer with an EMA codebook and dead-code reset (van den Oord 2017; Razavi 2019).

    A code whose running usage falls below `dead_fraction` of a uniform share is moved onto the batch vector
    that is worst represented, so rare inputs (a MiniGrid key, a latent action seldom taken) get codes too.
    """

    def __init__(self, num_codes: int, dim: int, decay: float = 0.99, commitment: float = 0.25,
                 dead_fraction: float = 1e-3):
        super().__init__()
        self.num_codes, self.dim, self.decay, self.beta, self.dead_fraction = num_codes, dim, decay, commitment, dead_fraction
        self.register_buffer("codebook", torch.randn(num_codes, dim) * 0.1)
        self.register_buffer("ema_count", torch.ones(num_codes))
        self.register_buffer("ema_sum", self.codebook.clone())
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        return self.distances(flat).argmin(1)

    def distances(self, flat: torch.Tensor) -> torch.Tensor:
        """(N, D) -> squared distances (N, K) to every code (a copy of the codebook, which the EMA updates in place)."""
        codebook = self.codebook.clone()
        return flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codebook.t() + codebook.pow(2).sum(1)[None]

    def forward(self, z: torch.Tensor, targets: torch.Tensor | None = None) -> Quantized:
        """z (N, D); `targets` (N,): a code each row must take, or -1 for rows free to take the nearest.

        Rows with a target take that code (in the output and in the EMA update) and add a cross-entropy over
        negative distances that pulls the encoder's vector towards it: a few labels anchor what each code means.
        """
        flat = z.reshape(-1, self.dim).float()
        if self.training and not self.initialized:
            self._initialize(flat.detach())
        distances = self.distances(flat)
        indices = distances.argmin(1)
        supervised = None
        if targets is not None:
            targets = targets.reshape(-1)
            labelled = targets >= 0
            indices = torch.where(labelled, targets, indices)
            supervised = F.cross_entropy(-distances, targets, ignore_index=-1) if bool(labelled.any()) else flat.sum() * 0
        if self.training:
            self._update(flat.detach(), indices)
        quantized = self.codebook[indices].view_as(z)
        commitment = self.beta * F.mse_loss(z, quantized.detach())
        return Quantized(z + (quantized - z).detach(), indices.view(z.shape[:-1]), commitment, supervised)

    @torch.no_grad()
    def _initialize(self, flat: torch.Tensor) -> None:
        """Data-dependent init: codes start on encoder outputs rather than far from all of them."""
        picks = torch.randint(len(flat), (self.num_codes,), device=flat.device)
        self.codebook.copy_(flat[picks])
        self.ema_sum.copy_(flat[picks])
        self.initialized.fill_(True)

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, indices: torch.Tensor) -> None:
        onehot = F.one_hot(indices, self.num_codes).type_as(flat)               # (N, K)
        self.ema_count.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(onehot.t() @ flat, alpha=1 - self.decay)
        total = self.ema_count.sum()
        smoothed = (self.ema_count + 1e-5) / (total + self.num_codes * 1e-5) * total
        self.codebook.copy_(self.ema_sum / smoothed[:, None])
        dead = torch.nonzero(self.ema_count < self.dead_fraction * len(flat) / self.num_codes).flatten()
        if len(dead):
            error = (flat - self.codebook[indices]).pow(2).sum(1)
            worst = torch.argsort(error, descending=True)[: len(dead)]
            dead = dead[: len(worst)]
            self.codebook[dead] = flat[worst]
            self.ema_sum[dead] = flat[worst]
            self.ema_count[dead] = 1.0

    @torch.no_grad()
    def usage(self, indices: torch.Tensor) -> tuple[int, float]:
        """How many codes `indices` use, and the perplexity of their distribution."""
        counts = torch.bincount(indices.flatten(), minlength=self.num_codes).float()
        p = counts / counts.sum().clamp(min=1)
        perplexity = torch.exp(-(p * torch.log(p.clamp(min=1e-10))).sum())
        return int((counts > 0).sum()), float(perplexity)


class CategoricalBottleneck(nn.Module):
    """K named codes read off logits: each row takes its argmax (straight-through softmax gradients reach the
    encoder), or the code its label names. A code is an index, not a moving point as in a VQ, so a few labels fix
    what each code means for good (LAOM, Nikulin et al. 2025: labels on a few % of transitions anchor latent
    actions); the unlabelled rows follow, shaped by the dynamics model's reconstruction."""

    def __init__(self, num_codes: int, dim: int, batch_entropy: float = 0.05):
        super().__init__()
        self.num_codes, self.dim, self.batch_entropy = num_codes, dim, batch_entropy
        self.codebook = nn.Parameter(torch.randn(num_codes, dim) * 0.5)      # the vector each code gives the decoder

    def nearest(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(-1)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor | None = None) -> Quantized:
        """logits (N, K); targets (N,): a code each row must take, -1 where free, or -2 - c where free but not code c
        (a step whose frame changed is not "nothing changed": the frames say so, no label needed)."""
        probs = torch.softmax(logits.float(), -1)
        indices = logits.argmax(-1)
        supervised = None
        if targets is not None:
            labelled, barred = targets >= 0, targets <= -2
            if bool(barred.any()):   # argmax among the other codes, and the barred code's share pushed down
                code = (-2 - targets).clamp(min=0)
                masked = logits.masked_fill(barred[:, None] & (torch.arange(self.num_codes, device=logits.device) == code[:, None]),
                                            float("-inf"))
                indices = masked.argmax(-1)
            indices = torch.where(labelled, targets, indices)
            free = torch.where(labelled, targets, torch.full_like(targets, -1))
            supervised = F.cross_entropy(logits.float(), free, ignore_index=-1) if bool(labelled.any()) else logits.sum() * 0
            if bool(barred.any()):
                share = probs[barred].gather(1, code[barred][:, None])[:, 0]
                supervised = supervised - torch.log1p(-share.clamp(max=1 - 1e-6)).mean()
        hard = F.one_hot(indices, self.num_codes).type_as(probs)
        weights = hard + probs - probs.detach()                                  # straight-through
        mean = probs.mean(0)
        regulariser = self.batch_entropy * (mean * torch.log(mean.clamp(min=1e-9))).sum()   # minus batch entropy
        return Quantized(weights @ self.codebook, indices, regulariser, supervised)

    @torch.no_grad()
    def usage(self, indices: torch.Tensor) -> tuple[int, float]:
        return VectorQuantizer.usage(self, indices)


class BinaryQuantizer(nn.Module):
    """Finite scalar quantization with two levels per dimension (Mentzer et al. 2023): `bits` signs name one of
    2**bits codes. The boundaries are fixed, so no code can die; an entropy term (low per sample, high over the
    batch) keeps the codes in use, as in the categorical bottleneck of the design this project grows from."""

    def __init__(self, bits: int, sample_entropy: float = 0.01, batch_entropy: float = 0.05):
        super().__init__()
        self.bits, self.num_codes = bits, 2**bits
        self.sample_entropy, self.batch_entropy = sample_entropy, batch_entropy
        signs = (torch.arange(self.num_codes)[:, None] >> torch.arange(bits)[None]) & 1
        self.register_buffer("codebook", signs.float() * 2 - 1)                 # (K, bits) of +-1
        self.register_buffer("powers", 2 ** torch.arange(bits))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        return ((z > 0).long() * self.powers).sum(-1)

    def forward(self, z: torch.Tensor) -> Quantized:
        soft = torch.tanh(z)
        hard = torch.where(z > 0, 1.0, -1.0)
        # probability of each code from independent bit probabilities: (B, K)
        p_bit = ((soft + 1) / 2).clamp(1e-6, 1 - 1e-6)
        p_code = torch.exp(torch.log(torch.where(self.codebook[None] > 0, p_bit[:, None], 1 - p_bit[:, None])).sum(-1))
        entropy = lambda p: -(p * torch.log(p.clamp(min=1e-9))).sum(-1)
        regulariser = self.sample_entropy * entropy(p_code).mean() - self.batch_entropy * entropy(p_code.mean(0))
        return Quantized(soft + (hard - soft).detach(), self.nearest(z), regulariser)

    @torch.no_grad()
    def usage(self, indices: torch.Tensor) -> tuple[int, float]:
        return VectorQuantizer.usage(self, indices)


class Block(nn.Module):
    """Pre-norm transformer block (nanoGPT style), bidirectional attention."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v)                       # (B, heads, L, D / heads)
        x = x + self.proj(attended.transpose(1, 2).reshape(B, L, D))
        return x + self.mlp(self.norm2(x))


class LocalBlock(nn.Module):
    """One step of local rules on a grid of tiles (channels last): each tile reads its 3x3 neighbourhood (a
    depthwise convolution: the tile ahead of the agent, a door beside it), what holds anywhere on the grid (a max
    over the tiles: whether a key still lies somewhere) and the action, then mixes its channels (an MLP). Stacked,
    the blocks carry a read as far as there are blocks: the agent's view, which MiniGrid propagates tile by tile
    from the agent, is such a read."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.spatial = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.anywhere = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """x (B, H, W, dim), action (B, dim) -> (B, H, W, dim)."""
        h = self.norm(x)
        near = self.spatial(h.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        anywhere = self.anywhere(h.amax((1, 2)))
        return x + self.mlp(near + (anywhere + action)[:, None, None])
