"""Which tile sizes keep every MiniGrid tile apart? The question behind one rendering for every family (issue 23).

    python benchmarks/tile_sizes.py --sizes 4 5 6 8
    python benchmarks/tile_sizes.py --sizes 4 8 --json tile_sizes.json

Every tile MiniGrid can draw (`minigrid.core.grid.Grid.render_tile`, MiniGrid's own renderer and its cache): empty
floor, wall, goal, lava, and a key, ball, box and door (open, closed, locked) in each of the six colours; the agent
facing each of the four directions on every tile it can stand on (floor, an open door, goal, lava); each with and
without the view's highlight. A size is usable for a world only if no two of these tiles look the same: a world
that sees an open door as floor cannot know that a toggle there closes a door. Reported for each size: the distinct
pictures, the groups of tiles that share one, whether a tile covers whole 4x4 tokenizer patches (one token or a
2x2 group per tile), and the largest square grid that fits a 64x64 frame at that size.
"""
from __future__ import annotations

import argparse

from minigrid.core.constants import COLOR_NAMES
from minigrid.core.grid import Grid
from minigrid.core.world_object import Ball, Box, Door, Goal, Key, Lava, Wall

from genie_env.frames import FRAME_SIZE, PATCH
from genie_env.io import atomic_write_json

DOOR_STATES = {"open": dict(is_open=True, is_locked=False), "closed": dict(is_open=False, is_locked=False),
               "locked": dict(is_open=False, is_locked=True)}


def every_tile() -> list[tuple[str, object, int | None]]:
    """(name, world object or None, agent direction or None) for every tile MiniGrid draws."""
    objects = [("floor", None), ("wall", Wall()), ("goal", Goal()), ("lava", Lava())]
    for color in COLOR_NAMES:
        objects += [(f"key {color}", Key(color)), (f"ball {color}", Ball(color)), (f"box {color}", Box(color))]
        objects += [(f"door {color} {state}", Door(color, **flags)) for state, flags in DOOR_STATES.items()]
    tiles = [(name, obj, None) for name, obj in objects]
    for name, obj in objects:   # where the agent can stand: floor, an open door, the goal and lava (as an episode ends)
        if obj is None or (isinstance(obj, Door) and obj.is_open) or isinstance(obj, (Goal, Lava)):
            tiles += [(f"agent {d} on {name}", obj, d) for d in range(4)]
    return tiles


def measure(size: int) -> dict:
    pictures: dict[bytes, list[str]] = {}
    for name, obj, direction in every_tile():
        for highlight in (False, True):
            picture = Grid.render_tile(obj, agent_dir=direction, highlight=highlight, tile_size=size)
            pictures.setdefault(picture.tobytes(), []).append(name + (" highlighted" if highlight else ""))
    same = [names for names in pictures.values() if len(names) > 1]
    return {"tile_size": size, "tiles": sum(len(names) for names in pictures.values()), "distinct": len(pictures),
            "look_the_same": same, "on_patches": size % PATCH == 0, "largest_grid": FRAME_SIZE // size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 5, 6, 8], help="tile sizes in pixels (>= 1)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    if any(size < 1 for size in args.sizes):
        parser.error(f"--sizes must be >= 1 pixel, got {args.sizes}")
    rows = [measure(size) for size in args.sizes]
    print("| tile px | tiles drawn | distinct pictures | groups that look the same | on 4x4 patches | largest grid in 64 px |")
    print("| ---: | ---: | ---: | --- | --- | ---: |")
    for r in rows:
        groups = "; ".join(", ".join(names[:3]) + (f" (+{len(names) - 3})" if len(names) > 3 else "")
                           for names in r["look_the_same"][:3]) or "none"
        more = f" (+{len(r['look_the_same']) - 3} groups)" if len(r["look_the_same"]) > 3 else ""
        print(f"| {r['tile_size']} | {r['tiles']} | {r['distinct']} | {groups}{more} | "
              f"{'yes' if r['on_patches'] else 'no'} | {r['largest_grid']} |")
    if args.json:
        atomic_write_json(args.json, rows)


if __name__ == "__main__":
    main()
