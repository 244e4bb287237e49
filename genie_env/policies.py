"""Scripted MiniGrid policies: the ones that record training data and the ones that test a world off that path.

A policy is a function ``(env, rng, previous_action) -> action`` over MiniGrid's 7 actions (left, right, forward,
pickup, drop, toggle, done); ``make_policy(name)`` returns a fresh one per episode, so a policy may keep
per-episode state (the mixture picks its member once an episode) and an episode depends only on its own rng.

Training data comes from a *mixture* (issue 10): uniform actions, sticky exploration at several persistences and
a noisy planner, so no single policy's habits (say, "repeat the last action") are a shortcut the world can learn
instead of MiniGrid's rules. Evaluation adds policies that recorded nothing the world trained on ("wander",
"sticky"), so a world is measured where an agent or a person will take it.
"""
from __future__ import annotations

from collections import deque

NUM_ACTIONS = 7  # MiniGrid: left, right, forward, pickup, drop, toggle, done
DIRECTIONS = ((1, 0), (0, 1), (-1, 0), (0, -1))  # MiniGrid agent_dir 0..3: east, south, west, north


def random_policy(env, rng, previous):
    return int(rng.integers(NUM_ACTIONS))


def explore_policy(env, rng, previous, persistence=0.75):
    if previous is not None and rng.random() < persistence:
        return previous
    return int(rng.integers(NUM_ACTIONS))


def wander_policy(env, rng, previous, repeat=0.35, other=0.07):
    """What a person or a young agent does: mostly turns and steps, some repeats, now and then another action.
    Never used to record training data."""
    if previous is not None and rng.random() < repeat:
        return previous
    if rng.random() < other:
        return int(rng.integers(3, NUM_ACTIONS))
    return int(rng.choice(3, p=(0.25, 0.25, 0.5)))


def _passable(cell) -> bool:
    return cell is None or cell.type == "goal" or (cell.type == "door" and cell.is_open)


def _bfs_first_move(grid, start, goals):
    """First cell on a shortest 4-connected path from `start` to any cell in `goals`; None if unreachable."""
    previous = {start: None}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        if cell in goals:
            while previous[cell] is not None and previous[cell] != start:
                cell = previous[cell]
            return cell
        for dx, dy in DIRECTIONS:
            nxt = (cell[0] + dx, cell[1] + dy)
            if nxt in previous or not (0 <= nxt[0] < grid.width and 0 <= nxt[1] < grid.height):
                continue
            if _passable(grid.get(*nxt)) or nxt in goals:
                previous[nxt] = cell
                queue.append(nxt)
    return None


def _turn_towards(agent_dir: int, want_dir: int) -> int:
    return 0 if (agent_dir - want_dir) % 4 == 1 else 1  # 0 = left (counter-clockwise), 1 = right


def expert_action(env) -> int:
    """Plan to the next subgoal (key, door, goal) by breadth-first search and return the action towards it."""
    u = env.unwrapped
    objects = {}
    for x in range(u.grid.width):
        for y in range(u.grid.height):
            cell = u.grid.get(x, y)
            if cell is not None and cell.type in ("key", "door", "goal", "ball", "box"):
                objects.setdefault(cell.type, []).append(((x, y), cell))
    door = objects.get("door", [(None, None)])[0]
    carrying_key = u.carrying is not None and u.carrying.type == "key"
    if door[1] is not None and door[1].is_locked and not carrying_key and "key" in objects:
        target, interact = objects["key"][0][0], 3          # pickup
    elif door[1] is not None and not door[1].is_open:
        target, interact = door[0], 5                       # toggle
    elif "goal" in objects:
        target, interact = objects["goal"][0][0], None      # walk onto it
    else:
        return 2
    agent = tuple(int(v) for v in u.agent_pos)
    front = tuple(int(v) for v in u.front_pos)
    if interact is not None and front == target:
        return interact
    if interact is not None and sum(abs(a - b) for a, b in zip(agent, target)) == 1:
        want = DIRECTIONS.index((target[0] - agent[0], target[1] - agent[1]))
        return _turn_towards(u.agent_dir, want)
    step = _bfs_first_move(u.grid, agent, {target})
    if step is None or step == agent:     # unreachable, or standing on it (in an open doorway): step on
        return 2
    want = DIRECTIONS.index((step[0] - agent[0], step[1] - agent[1]))
    return 2 if want == u.agent_dir else _turn_towards(u.agent_dir, want)


def noisy_expert_policy(env, rng, previous, epsilon=0.2):
    if rng.random() < epsilon:
        return int(rng.integers(NUM_ACTIONS))
    return expert_action(env)


class ExpertThenRandom:
    """The planner for its first `switch` steps, then uniform actions. The planner reaches the states behind its
    subgoals (the key carried, the door open, the agent in the doorway) but only ever acts there one way; the
    uniform part then tries every action in them. Tried as a seventh mixture member (docs/RESULTS.md, "every
    action from every state"): the DoorKey-8x8 world trained so got more of the noisy planner's states right for
    every action but read toggles and left turns worse, so it is not in the mixture;
    record with it by name (`--policy expert-then-random`)."""

    MAX_SWITCH = 60   # the switch step is uniform in [0, MAX_SWITCH): DoorKey-8x8's planner needs 20 to 50 steps

    def __init__(self, rng):
        self.switch, self.steps = int(rng.integers(self.MAX_SWITCH)), 0

    def __call__(self, env, rng, previous):
        self.steps += 1
        return expert_action(env) if self.steps <= self.switch else random_policy(env, rng, previous)


# The training mixture's members, equally likely per episode (the mixture both shipped worlds were recorded with).
MIXTURE = (
    random_policy,
    lambda env, rng, prev: explore_policy(env, rng, prev, 0.25),
    lambda env, rng, prev: explore_policy(env, rng, prev, 0.5),
    lambda env, rng, prev: explore_policy(env, rng, prev, 0.75),
    lambda env, rng, prev: noisy_expert_policy(env, rng, prev, 0.2),
    lambda env, rng, prev: noisy_expert_policy(env, rng, prev, 0.5),
)

RECORDING_POLICIES = ("mixture", "random", "explore", "noisy-expert", "expert-then-random", "explore-archive")
EVALUATION_POLICIES = ("uniform", "wander", "sticky", "noisy-expert")
POLICIES = ("mixture", "random", "uniform", "explore", "sticky", "wander", "noisy-expert", "expert-then-random",
            "explore-archive")   # explore-archive: Go-Explore over whole layouts (genie_lab.explore), record only


def make_policy(name: str, rng, epsilon: float = 0.2, persistence: float = 0.75):
    """A fresh policy for one episode; `rng` draws the mixture's member or `expert-then-random`'s switch step (and
    nothing else)."""
    if name == "mixture":
        return MIXTURE[int(rng.integers(len(MIXTURE)))]
    if name in ("random", "uniform"):
        return random_policy
    if name == "explore":
        return lambda env, rng, prev: explore_policy(env, rng, prev, persistence)
    if name == "sticky":          # long runs of one action: never used to record training data
        return lambda env, rng, prev: explore_policy(env, rng, prev, 0.9)
    if name == "wander":
        return wander_policy
    if name == "noisy-expert":
        return lambda env, rng, prev: noisy_expert_policy(env, rng, prev, epsilon)
    if name == "expert-then-random":
        return ExpertThenRandom(rng)
    if name == "explore-archive":
        raise ValueError("explore-archive explores whole layouts, not one episode: record with "
                         "`trainers.record --policy explore-archive` (genie_lab.explore)")
    raise ValueError(f"unknown policy {name!r}; known: {POLICIES}")
