"""Frames: how a MiniGrid env becomes a 64x64 RGB image, input checks shared by the API, PSNR, and GIFs.

Rendering rule (documented in docs/ARCHITECTURE.md):
the full grid is rendered with ``tile_size = 64 // max(grid_width, grid_height)`` (highlight at the env's
default) and padded with black at the bottom and right to 64x64. For 8x8 grids this is exactly the
``image`` of ``minigrid.wrappers.RGBImgObsWrapper(env, tile_size=8)``.
"""
from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

FRAME_SIZE = 64          # frames are (64, 64, 3) uint8 in [0, 255]
TOKEN_GRID = 16          # the tokenizer turns a frame into (16, 16) tokens
PATCH = FRAME_SIZE // TOKEN_GRID  # each token covers a 4x4 pixel patch


def tile_size_for(unwrapped_env) -> int:
    return max(1, FRAME_SIZE // max(unwrapped_env.width, unwrapped_env.height))


def render_frame(env) -> np.ndarray:
    """The 64x64 full-grid RGB frame of a MiniGrid env (wrapped or not)."""
    base = env.unwrapped
    image = base.get_frame(highlight=base.highlight, tile_size=tile_size_for(base))
    if image.shape[:2] == (FRAME_SIZE, FRAME_SIZE):
        return image
    frame = np.zeros((FRAME_SIZE, FRAME_SIZE, 3), dtype=np.uint8)
    frame[: image.shape[0], : image.shape[1]] = image
    return frame


def check_minigrid_env(env_id: str, flag: str = "--env") -> None:
    """Refuse, as a ValueError naming `flag`, an env id that is unknown or not a MiniGrid env: only MiniGrid envs
    render the frames a world learns from (issue 12)."""
    import gymnasium as gym
    import minigrid  # noqa: F401  (registers the MiniGrid envs)

    spec = gym.registry.get(env_id)
    if spec is None:
        raise ValueError(f"unknown {flag} {env_id!r} (unknown env id; MiniGrid ids look like 'MiniGrid-Empty-8x8-v0')")
    if not str(spec.entry_point).startswith("minigrid."):
        raise ValueError(f"{flag} {env_id!r} is not a MiniGrid env (entry point {spec.entry_point}); "
                         f"MiniGrid ids look like 'MiniGrid-Empty-8x8-v0'")


def check_frames(frames, name: str = "frames", ndim: int = 4) -> np.ndarray:
    """Validate uint8 frames of shape (..., 64, 64, 3) with exactly `ndim` dims; return them as an ndarray."""
    frames = np.asarray(frames) if not hasattr(frames, "numpy") else frames.cpu().numpy()
    lead = ", ".join(["N", "T+1", "C"][: ndim - 3]) if ndim > 3 else ""
    expected = f"({lead + ', ' if lead else ''}{FRAME_SIZE}, {FRAME_SIZE}, 3)"
    if frames.ndim != ndim or frames.shape[-3:] != (FRAME_SIZE, FRAME_SIZE, 3):
        raise ValueError(f"{name} must have shape {expected}, got {tuple(frames.shape)}")
    if frames.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 in [0, 255] with shape {expected}, got dtype {frames.dtype}")
    return frames


def psnr(a, b, cap: float = 60.0):
    """Per-frame PSNR in dB between uint8 frames (..., 64, 64, 3), numpy arrays or torch tensors (then a tensor, in
    float32 on their device); identical frames score `cap`."""
    if not isinstance(a, np.ndarray):   # torch tensors: the tokenizer's metrics, on its device
        err = (a.float() - b.float()).pow(2).flatten(-3).mean(-1)
        return (10 * (255.0**2 / err.clamp(min=1e-10)).log10()).clamp(max=cap)
    diff = a.astype(np.float64) - b.astype(np.float64)
    mse = (diff**2).reshape(*diff.shape[:-3], -1).mean(-1)
    with np.errstate(divide="ignore"):
        value = 10.0 * np.log10(255.0**2 / mse)
    return np.minimum(value, cap)


def upscale(frames: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling of uint8 images (..., H, W, 3) by an integer factor, so tiles stay crisp."""
    return frames.repeat(scale, -3).repeat(scale, -2)


def save_gif(path, frames, captions: list[str] | None = None, scale: int = 4, fps: int = 10) -> None:
    """Write uint8 images (T, H, W, 3) as a looping GIF, upscaled `scale` times, each with an optional caption below.

    Pillow merges identical consecutive GIF frames into one longer frame; captions that differ (a step number)
    keep one GIF frame per image.
    """
    import imageio.v3 as iio
    from PIL import Image, ImageDraw

    images = upscale(np.asarray(frames), scale)
    if captions is not None:
        if len(captions) != len(images):
            raise ValueError(f"got {len(captions)} captions for {len(images)} frames")
        strip = np.full((len(images), 14, images.shape[2], 3), 24, np.uint8)      # a dark band for the text
        images = np.concatenate([images, strip], 1)
        for image, caption in zip(images, captions):
            canvas = Image.fromarray(image)
            ImageDraw.Draw(canvas).text((3, image.shape[0] - 13), caption, fill=(230, 230, 230))
            image[:] = np.asarray(canvas)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, images, duration=1000 / fps, loop=0)


class RealFrames(gym.ObservationWrapper):
    """A real MiniGrid env that observes what the dream shows: the 64x64 full-grid frame (genie_env.frames rule),
    so a policy can move between the dream and the real env, and baselines see the same pixels."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.observation_space = spaces.Box(0, 255, (FRAME_SIZE, FRAME_SIZE, 3), np.uint8)

    def observation(self, observation):
        return render_frame(self.env)
