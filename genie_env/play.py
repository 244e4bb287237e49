"""Play a dreamed world (or the real MiniGrid) with the keyboard in a pygame window.

    python -m genie_env.play                 # the shipped world
    python -m genie_env.play --world PATH
    python -m genie_env.play --real          # the real MiniGrid env, same keys, for comparison

Keys: arrows turn left / turn right / move forward, P pickup, D drop, T toggle (MiniGrid's actions, mapped to
latents by the world's action bridge in the dream's own context, as `actions="env"` steps are), number keys 0-9
choose raw latent actions, R resets, H shows or hides the keys, Esc quits. pygame is imported lazily, as in
MiniGrid's manual_control and Gymnasium's utils.play.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from genie_env.config import Parser, check_args, run_cli
from genie_env.window import ENV_ACTION_KEYS, Window

READY = "new episode   H: keys"   # the status at the start and after R: no action taken yet


def play(world: str | None = None, real: bool = False, env_id: str = "MiniGrid-Empty-8x8-v0", scale: int = 8,
         seed: int | None = None, max_frames: int | None = None, fps: int = 30, keys: list[int] | None = None,
         prompt: np.ndarray | None = None, keep_frames: bool = False) -> dict:
    """Run the interactive loop; return counts (frames shown, steps taken, resets), the measured FPS, the last
    status shown ("status") and whether the keys were shown over the frame at the end ("help").

    `keys` (pygame key codes) are posted as key presses, one at the start of each frame: a script for headless runs.
    `prompt`: the dream's first frame (uint8 (64, 64, 3), e.g. the real env's for the same seed) instead of one
    from its bank. `keep_frames`: also return the frame shown after each step ("frames_after_steps") and whether
    that step ended the episode ("ended"), so a script can compare the dream with the real env key by key.
    """
    import gymnasium as gym
    import pygame

    from genie_env.bridge import ENV_ACTION_NAMES

    if real:
        import minigrid  # noqa: F401

        from genie_env.frames import render_frame

        env = gym.make(env_id)
        frame_of = lambda obs: render_frame(env)
    else:
        import genie_env  # noqa: F401

        env = gym.make("GenieDream-v0", world=world)
        frame_of = lambda obs: obs
    window = Window(scale, "MiniGrid (real)" if real else "GenieDream (dream)")
    keymap = {getattr(pygame, name): action for name, action in ENV_ACTION_KEYS.items()}
    obs, _ = env.reset(seed=seed, options=None if real or prompt is None else {"frame": prompt})
    shown, ended = [], []
    text, status, show_help, frames, steps, resets, start = READY, "", False, 0, 0, 0, time.perf_counter()
    running = True
    while running and (max_frames is None or frames < max_frames):
        action = None
        if keys and frames < len(keys):
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=keys[frames]))
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                running = False
            elif event.type == pygame.KEYDOWN and event.key == pygame.K_h:
                show_help = not show_help
            elif event.type == pygame.KEYDOWN and event.key == pygame.K_r:
                obs, _ = env.reset()
                text = READY   # the last action belongs to the episode just left, not to this one
                resets += 1
            elif event.type == pygame.KEYDOWN and event.key in keymap:
                env_action = keymap[event.key]
                action = env_action if real else env.unwrapped.latent_for(env_action)
            elif event.type == pygame.KEYDOWN and not real and pygame.K_0 <= event.key <= pygame.K_9:
                if event.key - pygame.K_0 < env.action_space.n:
                    action = event.key - pygame.K_0
        if action is not None:
            obs, reward, terminated, truncated, info = env.step(action)
            steps += 1
            if keep_frames:
                shown.append(np.array(frame_of(obs)))
                ended.append(bool(terminated or truncated))
            meaning = ENV_ACTION_NAMES[action] if real else f"latent {action} = {info.get('meaning')}"
            text = f"{meaning}   reward {reward:.2f}" + ("   episode over: R" if terminated or truncated else "")
        frames += 1
        elapsed = time.perf_counter() - start
        status = f"{text}   {frames / max(elapsed, 1e-9):.0f} FPS"
        window.show(frame_of(obs), status, fps, show_help)
    elapsed = time.perf_counter() - start
    window.close()
    env.close()
    result = {"frames": frames, "steps": steps, "resets": resets, "fps": frames / max(elapsed, 1e-9),
              "status": status, "help": show_help, "env": env_id if real else "GenieDream-v0"}
    if keep_frames:
        result.update(frames_after_steps=shown, ended=ended)
    return result


def main(argv=None) -> None:
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default=None, help="a shipped world's name or a world folder (default: the shipped one)")
    parser.add_argument("--real", action="store_true", help="play the real MiniGrid env instead of the dream")
    parser.add_argument("--env", default=None, help="env id for --real (default: the env of --world)")
    parser.add_argument("--scale", type=int, default=8)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames (for scripts)")
    args = parser.parse_args(argv)
    check_args(parser, args)
    if args.env is None:   # the real game of the world asked for, so --real --world doorkey8 plays DoorKey
        from genie_env.dream import shared_world

        args.env = shared_world(args.world, "cpu").info.get("env_id", "MiniGrid-Empty-8x8-v0")
    if args.real:
        from genie_env.frames import check_minigrid_env

        check_minigrid_env(args.env)   # a MiniGrid env id, or an error naming what it is
    result = play(args.world, args.real, args.env, args.scale, args.seed, args.max_frames)
    print(f"{result['env']}: {result['frames']} frames, {result['steps']} steps, {result['fps']:.1f} FPS")


if __name__ == "__main__":
    run_cli(main)
