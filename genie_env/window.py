"""The window GenieDream-v0 draws in "human" mode and `genie_env.play` plays in (the env owns its window, as
MiniGrid's does): 64x64 frames scaled up crisp, a status that fits, the keys on request. pygame is imported
when a window opens, not before."""
from __future__ import annotations

import numpy as np
from minigrid.core.actions import Actions

ENV_ACTION_KEYS = {"K_LEFT": int(Actions.left), "K_RIGHT": int(Actions.right), "K_UP": int(Actions.forward),
                   "K_p": int(Actions.pickup), "K_d": int(Actions.drop), "K_t": int(Actions.toggle)}
HELP = (("Left / Right", "turn left / right"), ("Up", "move forward"), ("P / D / T", "pickup / drop / toggle"),
        ("0-9", "a raw latent action (the dream)"), ("R", "reset"), ("H", "show / hide these keys"), ("Esc", "quit"))
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
