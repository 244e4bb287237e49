"""Two GIFs from a GenieDream world: a captioned dream, and the real MiniGrid beside the dream under the same actions.

    python examples/dream_gif.py --world PATH --out gifs

dream.gif: a real start frame of the world's env (MiniGrid-Empty-8x8-v0 for empty8, DoorKey-8x8 for doorkey8), then `--steps` dreamed frames under random latent actions,
each captioned with the latent and what it did (`info["meaning"]`, read off the world's action bridge).

real_vs_dream.gif: a real episode under random left / right / forward actions, real on the left, dream on the right.
The dream starts from the same first frame and gets the same actions, each mapped to a latent in the *dreamed*
frame by `world.env_to_latent_action`, so it runs open loop: once it drifts, the PSNR under each pair shows it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import minigrid  # noqa: F401  (registers the MiniGrid envs)
import numpy as np

from genie_env.config import run_cli
import genie_env  # noqa: F401  (registers GenieDream-v0)
from genie_env.frames import psnr, render_frame, save_gif
from genie_env.world import ENV_ACTION_NAMES
from genie_lab.states import CORRECT_DB   # a dreamed frame this close to the real one counts as correct


def real_start_frame(env_id: str, seed: int) -> tuple[gym.Env, np.ndarray]:
    """The world's real env reset with `seed` and its first 64x64 frame."""
    real = gym.make(env_id)
    real.reset(seed=seed)
    return real, render_frame(real)


def captioned_dream(env, steps: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """A real start frame, then `steps` dreamed frames under random latents; an ended episode restarts there."""
    rng = np.random.default_rng(seed)
    _, start = real_start_frame(env.unwrapped.world.info["env_id"], seed)
    env.reset(seed=seed, options={"frame": start})
    frames, captions = [start], ["real start frame"]
    for t in range(1, steps + 1):
        latent = int(rng.integers(env.action_space.n))
        obs, reward, terminated, truncated, info = env.step(latent)
        frames.append(obs)
        captions.append(f"{t}: latent {latent} = {info['meaning']}" + (f", end r={reward:.2f}" if terminated or truncated else ""))
        if terminated or truncated:
            env.reset(options={"frame": start})
    return frames, captions


def real_vs_dream(env, steps: int, seed: int) -> tuple[list[np.ndarray], list[str], np.ndarray]:
    """Side-by-side real | dream frames, captions and per-step PSNR, until `steps` steps or the real episode ends."""
    rng = np.random.default_rng(seed)
    world = env.unwrapped.world
    real, real_frame = real_start_frame(world.info["env_id"], seed)
    dream_frame, _ = env.reset(seed=seed, options={"frame": real_frame})
    gap = np.full((64, 2, 3), 255, np.uint8)                                   # a white line between the two
    pairs, captions, scores = [np.concatenate([real_frame, gap, dream_frame], 1)], ["real | dream: same start"], []
    for t in range(1, steps + 1):
        action = int(rng.integers(3))                                          # left, right or forward
        _, _, terminated, truncated, _ = real.step(action)
        real_frame = render_frame(real)
        latent = int(world.env_to_latent_action(dream_frame[None], [action])[0])
        dream_frame, *_ = env.step(latent)
        scores.append(float(psnr(real_frame, dream_frame)))
        pairs.append(np.concatenate([real_frame, gap, dream_frame], 1))
        captions.append(f"{t}: {ENV_ACTION_NAMES[action]} -> latent {latent}   PSNR {scores[-1]:.1f} dB")
        if terminated or truncated:
            break
    real.close()
    return pairs, captions, np.array(scores)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default=None, help="a shipped world's name or a world folder (default: the shipped one)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="gifs", help="folder for dream.gif and real_vs_dream.gif")
    args = parser.parse_args(argv)

    env = gym.make("GenieDream-v0", world=args.world, device=args.device)
    out = Path(args.out)
    frames, captions = captioned_dream(env, args.steps, args.seed)
    save_gif(out / "dream.gif", frames, captions)
    print(f"{len(frames)} frames -> {out / 'dream.gif'}")
    pairs, captions, scores = real_vs_dream(env, args.steps, args.seed)
    save_gif(out / "real_vs_dream.gif", pairs, captions)
    print(f"{len(pairs)} frames -> {out / 'real_vs_dream.gif'}: PSNR mean {scores.mean():.1f} dB, "
          f"{(scores >= CORRECT_DB).mean():.0%} of steps >= {CORRECT_DB:.0f} dB")
    env.close()


if __name__ == "__main__":
    run_cli(main)
