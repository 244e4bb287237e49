"""Name a MiniGrid state by the situation its rules read: the doors, the key, the agent's room, the cell ahead.

`Situation(env)` is taken right after a reset (it remembers where the key lay and which room the agent started
in); `situation.of(env)` then names any later state of that layout, e.g. "door closed, key dropped, other room".
Families without a door or a key name only what they have.
"""
from __future__ import annotations

from collections import deque


def _cells(u, kind: str) -> list[tuple[int, int]]:
    return [(x, y) for x in range(u.width) for y in range(u.height)
            if u.grid.get(x, y) is not None and u.grid.get(x, y).type == kind]


def _room(u, start) -> set:
    """The cells reachable from `start` without passing a wall or a door (of any state)."""
    seen, queue = {start}, deque([start])
    while queue:
        x, y = queue.popleft()
        for nxt in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
            if nxt in seen or not (0 <= nxt[0] < u.width and 0 <= nxt[1] < u.height):
                continue
            cell = u.grid.get(*nxt)
            if cell is None or cell.type not in ("wall", "door"):
                seen.add(nxt)
                queue.append(nxt)
    return seen


def door_state(door) -> str:
    return "locked" if door.is_locked else "open" if door.is_open else "closed"


class Situation:
    """Situations of one layout, read against its reset state."""

    def __init__(self, env):
        u = env.unwrapped
        self.keys = set(_cells(u, "key"))
        self.has_door, self.has_key = bool(_cells(u, "door")), bool(self.keys)
        self.start_room = _room(u, tuple(int(v) for v in u.agent_pos))

    def of(self, env) -> str:
        """"door locked|closed|open, key lying|carried|dropped, start room|other room" (the parts that apply)."""
        u = env.unwrapped
        parts = []
        if self.has_door:
            doors = [u.grid.get(*c) for c in _cells(u, "door")]
            parts.append("door " + "/".join(sorted({door_state(d) for d in doors})))
        if self.has_key:
            carried = u.carrying is not None and u.carrying.type == "key"
            lying = set(_cells(u, "key"))
            parts.append("key carried" if carried else "key lying" if lying <= self.keys else "key dropped")
        agent = tuple(int(v) for v in u.agent_pos)
        standing = u.grid.get(*agent)
        if standing is not None and standing.type == "door":
            parts.append("in the doorway")
        elif self.has_door:
            parts.append("start room" if agent in self.start_room else "other room")
        return ", ".join(parts) or "no objects"


def ahead(env) -> str:
    """What MiniGrid's rules read for the next action: the cell ahead, what the agent carries, the doorway."""
    u = env.unwrapped
    front, standing = u.grid.get(*u.front_pos), u.grid.get(*u.agent_pos)
    front = "empty" if front is None else (f"{door_state(front)} door" if front.type == "door" else front.type)
    parts = [f"ahead {front}", f"carrying {u.carrying.type}" if u.carrying is not None else "carrying nothing"]
    return ", ".join(parts + (["in the doorway"] if standing is not None and standing.type == "door" else []))
