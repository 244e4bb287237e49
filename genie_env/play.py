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

ENV_ACTION_KEYS = {"K_LEFT": 0, "K_RIGHT": 1, "K_UP": 2, "K_p": 3, "K_d": 4, "K_t": 5}
HELP = (("Left / Right", "turn left / right"), ("Up", "move forward"), ("P / D / T", "pickup / drop / toggle"),
        ("0-9", "a raw latent action (the dream)"), ("R", "reset"), ("H", "show / hide these keys"), ("Esc", "quit"))
READY = "new episode   H: keys"   # the status at the start and after R: no action taken yet
STATUS_LINES = 2                  # a long status wraps onto a second line instead of running off the window (issue 25)
MARGIN = 6


class Window:
    """A pygame window that shows 64x64 frames scaled up with nearest-neighbour (crisp), a status below them and,
    on request, the keys over them."""

    def __init__(self, scale: int = 8, title: str = "GenieDream"):
        import os

        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")   # no sound is played: no ALSA errors on a machine without one
        import pygame

        pygame.display.init()
        pygame.font.init()
        self.pygame, self.scale, self.width = pygame, scale, 64 * scale
        self.font = pygame.font.Font(None, 22)
        self.line_height = self.font.get_linesize()
        self.screen = pygame.display.set_mode((self.width, self.width + STATUS_LINES * self.line_height + MARGIN))
        pygame.display.set_caption(title)
        self.clock = pygame.time.Clock()

    def cut(self, text: str, room: int) -> str:
        """`text`, shortened with "..." until its rendered width fits `room` pixels."""
        if self.font.size(text)[0] <= room:
            return text
        while text and self.font.size(text + "...")[0] > room:
            text = text[:-1]
        return text + "..."

    def status_lines(self, text: str) -> list[str]:
        """A status as at most STATUS_LINES lines, each measured in the window's font to fit its width: fields
        ("   "-separated) wrap whole, and what still does not fit is cut with "..."."""
        room, lines = self.width - 2 * MARGIN, []
        for field in text.split("   "):
            if lines and self.font.size(f"{lines[-1]}   {field}")[0] <= room:
                lines[-1] = f"{lines[-1]}   {field}"
            else:
                lines.append(field)
        lines = lines[:STATUS_LINES - 1] + ["   ".join(lines[STATUS_LINES - 1:])]
        return [self.cut(line, room) for line in lines if line]

    def show(self, frame: np.ndarray, text: str = "", fps: int = 0, show_help: bool = False) -> None:
        pg = self.pygame
        surface = pg.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))
        self.screen.fill((20, 20, 20))
        self.screen.blit(pg.transform.scale(surface, (self.width, self.width)), (0, 0))
        if show_help:
            self.draw_help()
        for row, line in enumerate(self.status_lines(text)):
            y = self.width + 4 + row * self.line_height
            self.screen.blit(self.font.render(line, True, (230, 230, 230)), (MARGIN, y))
        pg.display.flip()
        pg.event.pump()
        if fps:
            self.clock.tick(fps)

    def draw_help(self) -> None:
        """The keys (HELP) in two columns over a darkened frame."""
        pg = self.pygame
        shade = pg.Surface((self.width, self.width), pg.SRCALPHA)
        shade.fill((0, 0, 0, 200))
        self.screen.blit(shade, (0, 0))
        column = max(self.font.size(keys)[0] for keys, _ in HELP) + 2 * MARGIN
        for row, (keys, does) in enumerate(HELP):
            y = MARGIN + row * self.line_height
            keys, does = self.cut(keys, column - 2 * MARGIN), self.cut(does, self.width - column - MARGIN)
            self.screen.blit(self.font.render(keys, True, (250, 220, 90)), (MARGIN, y))
            self.screen.blit(self.font.render(does, True, (230, 230, 230)), (column, y))

    def close(self) -> None:
        self.pygame.display.quit()


def show_frame(window: Window | None, frame: np.ndarray, fps: int) -> Window:
    """Used by GenieDreamEnv.render() in "human" mode."""
    window = window or Window()
    window.show(frame, fps=fps)
    return window


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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default=None, help="a shipped world's name or a world folder (default: the shipped one)")
    parser.add_argument("--real", action="store_true", help="play the real MiniGrid env instead of the dream")
    parser.add_argument("--env", default=None, help="env id for --real (default: the env of --world)")
    parser.add_argument("--scale", type=int, default=8)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames (for scripts)")
    args = parser.parse_args(argv)
    if args.env is None:   # the real game of the world asked for, so --real --world doorkey8 plays DoorKey
        from genie_env.dream import shared_world

        args.env = shared_world(args.world, "cpu").info.get("env_id", "MiniGrid-Empty-8x8-v0")
    result = play(args.world, args.real, args.env, args.scale, args.seed, args.max_frames)
    print(f"{result['env']}: {result['frames']} frames, {result['steps']} steps, {result['fps']:.1f} FPS")


if __name__ == "__main__":
    main()
