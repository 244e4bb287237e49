"""The eyes: a VQ-VAE that turns 64x64 RGB frames into 16x16 grids of discrete tokens and back.

Each token sees exactly one 4x4 pixel patch (the encoder's first layer has kernel = stride = 4 and the rest are
1x1), and the decoder paints each patch from its token alone. MiniGrid draws tiles independently on an 8-pixel
grid aligned with these patches, so a frame holds few distinct patches and a codebook that covers them is
lossless. Patch-local tokens also make the dream cheap: decoding is a table lookup (`patch_table`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from genie_env.frames import PATCH, psnr as frame_psnr
from genie_env.nn import VectorQuantizer


@dataclass
class TokenizerConfig:
    codebook_size: int = 256
    code_dim: int = 32
    hidden: int = 128
    commitment: float = 0.25
    ema_decay: float = 0.95
    dead_fraction: float = 2e-3


def to_unit(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) in [0, 255] -> float (N, 3, H, W) in [-1, 1]."""
    return rearrange(frames, "n h w c -> n c h w").float() / 127.5 - 1.0


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float (N, 3, H, W) in [-1, 1] -> uint8 (N, H, W, 3) in [0, 255]."""
    return rearrange(((images.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8), "n c h w -> n h w c")


class Tokenizer(nn.Module):
    def __init__(self, config: TokenizerConfig):
        super().__init__()
        self.config = config
        c = config
        self.encoder = nn.Sequential(
            nn.Conv2d(3, c.hidden, PATCH, stride=PATCH), nn.GELU(),
            nn.Conv2d(c.hidden, c.hidden, 1), nn.GELU(),
            nn.Conv2d(c.hidden, c.code_dim, 1),
        )
        self.quantizer = VectorQuantizer(c.codebook_size, c.code_dim, c.ema_decay, c.commitment, c.dead_fraction)
        self.decoder = nn.Sequential(
            nn.Conv2d(c.code_dim, c.hidden, 1), nn.GELU(),
            nn.Conv2d(c.hidden, c.hidden, 1), nn.GELU(),
            nn.ConvTranspose2d(c.hidden, 3, PATCH, stride=PATCH),
        )

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """frames uint8 (N, 64, 64, 3) -> (loss, metrics)."""
        x = to_unit(frames)                                                        # (N, 3, 64, 64)
        z = rearrange(self.encoder(x), "n d h w -> n h w d")                      # (N, 16, 16, D)
        q = self.quantizer(z)
        recon = self.decoder(rearrange(q.vectors, "n h w d -> n d h w"))          # (N, 3, 64, 64)
        mse = F.mse_loss(recon, x)
        with torch.no_grad():
            psnr = frame_psnr(to_uint8(recon), frames).mean()
            used, perplexity = self.quantizer.usage(q.indices)
        metrics = {"loss/mse": mse.item(), "loss/commitment": q.commitment.item(), "psnr": psnr.item(),
                   "codebook/used": used, "codebook/perplexity": perplexity}
        return mse + q.commitment, metrics

    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 64, 64, 3) -> int64 tokens (N, 16, 16)."""
        z = rearrange(self.encoder(to_unit(frames)), "n d h w -> n h w d")
        return self.quantizer.nearest(z.reshape(-1, z.shape[-1])).view(z.shape[:-1])

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """int64 tokens (N, 16, 16) -> uint8 frames (N, 64, 64, 3)."""
        vectors = rearrange(self.quantizer.codebook[tokens], "n h w d -> n d h w")
        return to_uint8(self.decoder(vectors))

    @torch.no_grad()
    def patch_table(self) -> torch.Tensor:
        """uint8 (K, 4, 4, 3): the patch each code decodes to (exact, since the decoder is patch-local)."""
        codes = torch.arange(self.config.codebook_size).view(-1, 1, 1)
        return self.decode(codes)
