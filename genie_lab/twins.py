"""Rotated twins: a recorded real episode played again on its layout turned a quarter turn.

MiniGrid's rules do not depend on where the agent faces: turn left from any heading is a quarter turn to the
left, forward is a step ahead. So a real episode's actions, replayed from its reset state rotated 90 degrees,
give another real episode (rendered by the env itself: sprites, grid lines and the view highlight as the game
draws them) whose every step was made by the same action as its twin's. An unsupervised world may then ask one
latent to explain both steps of a pair (genie_lab.brain.best_codes): a latent that meant "left" when facing east
and "right" when facing north explains no pair, so each latent comes to mean one thing at every heading. No
action label is read: the pairing is a symmetry of the game, the frames its evidence.
"""
from __future__ import annotations

import numpy as np

from genie_env.frames import render_frame
from genie_lab.labels import frame_keys


def rotate_env(env) -> None:
    """Turn the env's state a quarter turn counter-clockwise, in place: the grid (MiniGrid's Grid.rotate_left),
    the agent's place and heading. A cell (x, y) goes to (y, W - 1 - x); heading d (0 east, 1 south, ...) to d - 1."""
    base = env.unwrapped
    if base.width != base.height:
        raise ValueError(f"rotated twins need a square grid, got {base.width}x{base.height} ({base.spec.id if base.spec else base})")
    x, y = (int(v) for v in base.agent_pos)
    base.grid = base.grid.rotate_left()
    base.agent_pos = (y, base.width - 1 - x)
    base.agent_dir = (int(base.agent_dir) - 1) % 4


def twin_episode(env, episode: dict) -> dict | None:
    """The rotated twin of a recorded episode that starts at a reset (`episode["seed"]`), with the same keys, or
    None where the replay does not follow its twin (other rewards or ends: an env whose rules know a direction)."""
    if episode.get("offset", 0):
        raise ValueError("a twin replays an episode from its reset; this one starts mid-episode (offset > 0)")
    env.reset(seed=int(episode["seed"]))
    rotate_env(env)
    frames, rewards, terminated, truncated = [render_frame(env)], [], [], []
    for action in episode["actions"]:
        _, reward, term, trunc, _ = env.step(int(action))
        frames.append(render_frame(env))
        rewards.append(reward)
        terminated.append(term)
        truncated.append(trunc)
    same = (np.allclose(rewards, episode["rewards"]) and np.array_equal(terminated, episode["terminated"])
            and np.array_equal(truncated, episode["truncated"]))
    if not same:
        return None
    return {**episode, "frames": np.stack(frames), "rewards": np.array(rewards), "terminated": np.array(terminated),
            "truncated": np.array(truncated)}


def with_twins(env, episodes: list[dict]) -> list[dict]:
    """Each episode followed by its twin where there is one; `twin` names the partner's place in the list."""
    out = []
    for episode in episodes:
        twin = twin_episode(env, episode)
        if twin is None:
            out.append(episode)
            continue
        out += [{**episode, "twin": len(out) + 1}, {**twin, "twin": len(out)}]
    return out


def twin_steps(step_twin: np.ndarray, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A batch of step indices with each step's twin appended where it has one, and for every row of the result
    its `same` group (Brain.best_codes): a pair shares its first row's index, a row without a twin has -1."""
    twins = step_twin[batch]
    has = np.flatnonzero(twins >= 0)
    rows = np.concatenate([batch, twins[has]])
    same = np.full(len(rows), -1, np.int64)
    same[has] = has
    same[len(batch):] = has
    return rows, same


def cycle_steps(ids: np.ndarray, data) -> np.ndarray:
    """(C, 4) the steps of every four-step cycle: four steps one after another in an episode whose five frames are
    four different ones and then the first again. In MiniGrid such a cycle is four quarter turns the same way
    (every cycle of 12,040 in the Empty-8x8 and DoorKey-8x8 recordings of issue 26): no other action has an
    order of four, and two that undo each other give a frame back after two steps. So the four steps take one
    code (`Brain.best_codes`): "turn toward the room's centre" explains no cycle, "turn left" every one. Frames
    compared as ids (F, 16, 16); no action is read."""
    first = data.step_frame
    if len(first) < 4:
        return np.zeros((0, 4), np.int64)
    follows = (data.step_episode[1:] == data.step_episode[:-1]) & (first[1:] == first[:-1] + 1)
    start = np.flatnonzero(follows[:-2] & follows[1:-1] & follows[2:])
    key = frame_keys(ids)[first[start][:, None] + np.arange(5)]
    distinct = np.ones(len(start), bool)
    for i in range(4):
        for j in range(i + 1, 4):
            distinct &= key[:, i] != key[:, j]
    start = start[distinct & (key[:, 4] == key[:, 0])]
    return start[:, None] + np.arange(4)


def cycle_rows(cycles: np.ndarray, rows: np.ndarray, same: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """A batch with the steps of `cycles` (C, 4) appended, and every row's `same` group: each cycle's four rows one
    group (the index of its first row), the batch's own rows as `same` had them (None: each alone)."""
    same = np.full(len(rows), -1, np.int64) if same is None else same
    start = len(rows) + 4 * np.arange(len(cycles))
    return np.concatenate([rows, cycles.reshape(-1)]), np.concatenate([same, np.repeat(start, 4)])


def inverse_steps(ids: np.ndarray, data) -> np.ndarray:
    """(S,) each step's *inverse* step, -1 for none: the next step of its episode where that one gives the step's
    first frame back (a left turn then a right one, a pickup then a drop, a door opened then closed), else the
    step before where that one does. Both steps changed the frame. Frames compared as ids (F, 16, 16).

    A step and its inverse were made by actions that undo each other, so the unsupervised search gives them two
    different codes (`Brain.best_codes`): a code that holds both turns explains no such pair, and which of the two
    takes which code is a contrast read inside one pair, the same in every pair. (A door closed again is the
    same action as the one that opened it, so "open" and "close" may take two codes: each still means one thing.)
    No action is read: the pairing is read off the frames."""
    steps = len(data.step_frame)
    inverse = np.full(steps, -1, np.int64)
    if steps < 2:
        return inverse
    first = data.step_frame
    follows = (data.step_episode[1:] == data.step_episode[:-1]) & (first[1:] == first[:-1] + 1)
    changed = (ids[first] != ids[first + 1]).reshape(steps, -1).any(1)
    back = np.zeros(steps, bool)
    s = np.flatnonzero(follows & changed[:-1] & changed[1:])
    back[s] = (ids[first[s]] == ids[first[s + 1] + 1]).reshape(len(s), -1).all(1)
    s = np.flatnonzero(back)
    inverse[s + 1] = s          # the step before, unless ...
    inverse[s] = s + 1          # ... the step after undoes it too
    return inverse


def rival_steps(keys: np.ndarray, step_frame: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """(S,) for each changed step another step *from the same frame* that led to another changed frame (-1: none):
    a left turn and a right turn from one place and heading. Two steps that leave one frame two ways were made by
    two actions, so the unsupervised search gives them two different codes, as it does a step and its inverse
    (`Brain.best_codes`): a code that turned left from some frames and right from others, both turns of a frame
    under one code, explains no such pair. `keys` are the frames' keys (`frame_keys`): no action is read.

    Which other outcome a step is paired with follows an order of the outcomes: fixed without `rng`, drawn from
    `rng` with it (draw again now and then, so a left turn meets the right turn as often as the step forward)."""
    start, end = keys[step_frame], keys[step_frame + 1]
    rival = np.full(len(step_frame), -1, np.int64)
    steps = np.flatnonzero(start != end)
    if not len(steps):
        return rival
    outcome = end[steps]
    if rng is not None:     # outcomes ranked by a random permutation of the frame keys
        outcome = rng.permutation(int(keys.max()) + 1)[outcome]
    order = steps[np.lexsort((outcome, start[steps]))]
    a, b = start[order], end[order]
    n = len(order)
    new_group = np.r_[True, a[1:] != a[:-1]]
    new_run = new_group | np.r_[True, b[1:] != b[:-1]]
    group_first = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    run_starts = np.flatnonzero(new_run)
    next_run = np.r_[run_starts[1:], n][np.cumsum(new_run) - 1]       # where the run after each row's run starts
    other = np.where(b != b[group_first], group_first, np.minimum(next_run, n - 1))
    ok = (a[other] == a) & (b[other] != b)
    rival[order[ok]] = order[other[ok]]
    return rival


def inverse_rows(step_inverse: np.ndarray, rows: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` rows of a batch bring their inverse steps (appended); for every row of the result the row
    of its inverse (-1: none)."""
    inverse = step_inverse[rows[:count]]
    has = np.flatnonzero(inverse >= 0)
    out = np.concatenate([rows, inverse[has]])
    partner = np.full(len(out), -1, np.int64)
    partner[has] = len(rows) + np.arange(len(has))
    partner[len(rows):] = has
    return out, partner
