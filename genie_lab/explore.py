"""Go-Explore for any seeded MiniGrid env: an archive of the distinct states reached, returned to by replay.

MiniGrid is deterministic under a reset seed, so every archived state is stored as the shortest action prefix
from its reset (the archive file; `restore` replays it), and, while its layout is explored, as a copy of the
env (a snapshot: returning costs no env step). Per layout (one reset seed) the explorer keeps an `Archive` of every distinct
state (`state_key`: the grid's encoding, the agent's place, heading and what it carries). Each *leg* picks a
*cell* (`cell_key`: each object's kind and state and the room it lies in, what the agent carries, the agent's
room: "the door closed again, the key dropped in the other room, the agent back in the first") with weight
1 / sqrt(1 + times chosen), a state of it with weight 1 / sqrt(1 + times reached), returns there and acts: from each state, an action not yet taken there (uniformly), so every action is tried once in
every state reached before any is tried twice. Cells, not states, are chosen so that a new situation (rare under any policy) is
explored as often as the first one, however many agent and object places either holds. (Cells keyed by the exact
object places were tried first: every place a key was dropped became a cell, and the door-locked room took most
legs; docs/RESULTS.md.)

Nothing here is specific to a family: no planner, no placed state. `trainers.record --policy explore-archive`
records the legs; `trainers.evaluate world --states N` samples the archive of unseen seeds uniformly.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

NUM_ACTIONS = 7


def rooms(env) -> np.ndarray:
    """(width, height) int: each cell's room, the cells reachable from it without crossing a wall or a door (of
    any state); walls and doors are -1. Walls do not move, so one layout keeps its rooms."""
    from collections import deque

    u = env.unwrapped
    label = np.full((u.width, u.height), -2, np.int64)
    for x in range(u.width):
        for y in range(u.height):
            cell = u.grid.get(x, y)
            if cell is not None and cell.type in ("wall", "door"):
                label[x, y] = -1
    room = 0
    for x in range(u.width):
        for y in range(u.height):
            if label[x, y] != -2:
                continue
            label[x, y], queue = room, deque([(x, y)])
            while queue:
                cx, cy = queue.popleft()
                for nx, ny in ((cx + 1, cy), (cx - 1, cy), (cx, cy + 1), (cx, cy - 1)):
                    if 0 <= nx < u.width and 0 <= ny < u.height and label[nx, ny] == -2:
                        label[nx, ny] = room
                        queue.append((nx, ny))
            room += 1
    return label


def cell_key(env, room_of: np.ndarray) -> tuple:
    """A coarse cell: each object's kind, colour and state with the room it lies in (doors as they stand), what
    the agent carries and the agent's room. "The door closed, the key in the other room, the agent back in the
    first" is one cell, however many places the key and the agent could take in it."""
    u = env.unwrapped
    objects = []
    for x in range(u.width):
        for y in range(u.height):
            cell = u.grid.get(x, y)
            if cell is not None and cell.type not in ("wall", "empty"):
                kind, color, state = cell.encode()
                objects.append((kind, color, state, int(room_of[x, y])))
    carrying = u.carrying.encode() if u.carrying is not None else (0, 0, 0)
    return (tuple(sorted(objects)), tuple(carrying), int(room_of[int(u.agent_pos[0]), int(u.agent_pos[1])]))


def state_key(env) -> bytes:
    """A MiniGrid state as far as the next step and the frame depend on it (the step count aside)."""
    u = env.unwrapped
    carrying = u.carrying.encode() if u.carrying is not None else (0, 0, 0)
    return u.grid.encode().tobytes() + bytes((*carrying, int(u.agent_pos[0]), int(u.agent_pos[1]), int(u.agent_dir)))


@dataclass
class Archive:
    """The distinct states of one layout (reset seed), each with the shortest known action prefix from the reset."""

    seed: int
    room_of: np.ndarray                               # genie_lab.explore.rooms of the layout
    prefixes: dict = field(default_factory=dict)      # state key -> tuple of actions from the reset
    cell_of: dict = field(default_factory=dict)       # state key -> cell key
    cells: dict = field(default_factory=dict)         # cell key -> list of state keys
    chosen: dict = field(default_factory=dict)        # cell key or state key -> times chosen
    snapshots: dict = field(default_factory=dict)     # state key -> a copy of the env in that state (in memory only)
    seen: dict = field(default_factory=dict)          # state key -> times reached
    tried: dict = field(default_factory=dict)         # state key -> set of actions taken from it
    label: object = None                              # env -> str, if given: each new state's name (e.g. its situation)
    label_of: dict = field(default_factory=dict)      # state key -> label(env) when it was first reached

    def action(self, env, rng) -> int:
        """An action not yet taken from the env's state, uniformly (every action once before any twice), else any."""
        tried = self.tried.setdefault(state_key(env), set())
        untried = [a for a in range(NUM_ACTIONS) if a not in tried]
        action = int(rng.choice(untried)) if untried else int(rng.integers(NUM_ACTIONS))
        tried.add(action)
        return action

    def add(self, env, prefix: tuple) -> bool:
        """Add the env's current state, reached by `prefix`; True when the state is new."""
        key = state_key(env)
        self.seen[key] = self.seen.get(key, 0) + 1
        known = self.prefixes.get(key)
        if known is not None:
            if len(prefix) < len(known):
                self.prefixes[key], self.snapshots[key] = prefix, copy.deepcopy(env)
            return False
        cell = cell_key(env, self.room_of)
        self.prefixes[key], self.cell_of[key], self.snapshots[key] = prefix, cell, copy.deepcopy(env)
        if self.label is not None:
            self.label_of[key] = self.label(env)
        self.cells.setdefault(cell, []).append(key)
        return True

    def _pick(self, keys: list, rng, counts=None):
        counts = self.chosen if counts is None else counts
        weights = np.array([1.0 / np.sqrt(1.0 + counts.get(k, 0)) for k in keys])
        key = keys[int(rng.choice(len(keys), p=weights / weights.sum()))]
        self.chosen[key] = self.chosen.get(key, 0) + 1
        return key

    def choose(self, rng) -> bytes:
        """A state to explore from: a cell, then one of its states, each weighted 1 / sqrt(1 + times chosen)."""
        cell = self._pick(list(self.cells), rng)
        return self._pick(self.cells[cell], rng, self.seen)

    def __len__(self) -> int:
        return len(self.prefixes)


def restore(env, seed: int, prefix) -> tuple[bool, int]:
    """Reset on `seed` and replay `prefix`; (ended on the way, real steps taken). A prefix in the archive never
    ends early; a stale one (another env) is reported as ended."""
    env.reset(seed=int(seed))
    for step, action in enumerate(prefix):
        _, _, terminated, truncated, _ = env.step(int(action))
        if terminated or truncated:
            return True, step + 1
    return False, len(prefix)


def explore_layout(env, seed: int, rng, legs: int, leg_steps: int, on_leg=None, render=None,
                   patience: int = 0, label=None, keep_snapshots: bool = False) -> tuple[Archive, dict]:
    """Explore one layout: `legs` legs of up to `leg_steps` steps, each from an archive state; with `patience`,
    fewer once that many legs in a row found no new state (a small layout is covered: move on to the next).

    `on_leg(episode)`, when given, receives each leg as a recorded episode (frames rendered by `render(env)`,
    actions, rewards, terminated, truncated, seed, offset = the prefix length replayed before its first frame).
    `label(env)`, if given, names each new state (`Archive.label_of`; e.g. `Situation(env).of` after the reset).
    `keep_snapshots`: the archive keeps its copies of the env (each in the state its shortest prefix reaches), for
    a caller that returns to some of them without replaying (genie_lab.states.draw_states); else they are dropped.
    Returns the archive and counts: env steps taken (exploring: returns are snapshots), the steps returning by
    replay would have cost instead, legs, states and cells.
    """
    env.reset(seed=int(seed))
    archive = Archive(int(seed), rooms(env), label=label)
    archive.add(env, ())
    replay_cost = explored = stale = taken = 0
    for _ in range(legs):
        if patience and stale >= patience:
            break
        taken += 1
        before = len(archive)
        key = archive.choose(rng)
        prefix = archive.prefixes[key]
        env = copy.deepcopy(archive.snapshots[key])
        replay_cost += len(prefix)
        frames = [render(env)] if render is not None else None
        actions, rewards, terminated, truncated = [], [], [], []
        path = list(prefix)
        for _ in range(leg_steps):
            action = archive.action(env, rng)
            _, reward, term, trunc, _ = env.step(action)
            explored += 1
            path.append(action)
            actions.append(action)
            rewards.append(reward)
            terminated.append(term)
            truncated.append(trunc)
            if frames is not None:
                frames.append(render(env))
            if term or trunc:
                break
            archive.add(env, tuple(path))
        stale = stale + 1 if len(archive) == before else 0
        if on_leg is not None:
            on_leg({"frames": np.stack(frames), "actions": np.array(actions), "rewards": np.array(rewards),
                    "terminated": np.array(terminated), "truncated": np.array(truncated), "seed": int(seed),
                    "offset": len(prefix)})
    if not keep_snapshots:
        archive.snapshots.clear()   # the prefixes stay: `restore` replays any state later
    return archive, {"env_steps": explored, "replay_equivalent_steps": replay_cost + explored, "legs": taken, "states": len(archive),
                     "cells": len(archive.cells)}


def archive_arrays(archives: list[Archive]) -> dict:
    """Archives as flat arrays for an .npz beside the data: per state its layout's seed, prefix length, the times
    it was chosen, and the prefixes concatenated (int8)."""
    seeds, lengths, chosen, prefixes = [], [], [], []
    for archive in archives:
        for key, prefix in archive.prefixes.items():
            seeds.append(archive.seed)
            lengths.append(len(prefix))
            chosen.append(archive.chosen.get(key, 0))
            prefixes.extend(prefix)
    return {"seeds": np.array(seeds, np.int64), "prefix_lengths": np.array(lengths, np.int32),
            "chosen": np.array(chosen, np.int32), "prefixes": np.array(prefixes, np.int8)}


def archive_states(arrays: dict) -> list[tuple[int, np.ndarray]]:
    """`archive_arrays` back to (seed, prefix) pairs, one per archived state."""
    ends = np.cumsum(arrays["prefix_lengths"])
    starts = ends - arrays["prefix_lengths"]
    return [(int(s), arrays["prefixes"][a:b]) for s, a, b in zip(arrays["seeds"], starts, ends)]
