"""Ship a world: copy the world a pipeline's world stage wrote into the folder users load, as one unit.

    python -m trainers.ship --world runs/pipe-doorkey8/world --out genie_env/worlds/doorkey8

The world stage already fitted the bridge, the reward rule and the real pixels on the data it trained on, so
the shipped world is that one, byte for byte (`genie_env.world_file.copy_world`), not a second assembly. To fit
a world's bridge on other labelled data, use trainers.bridge.
"""
from __future__ import annotations

from dataclasses import dataclass

from genie_env.config import parse_config, run_cli
from genie_env.world_file import copy_world


@dataclass
class ShipConfig:
    world: str = "runs/world"
    out: str = "worlds/world"


def main(argv=None) -> None:
    config = parse_config(ShipConfig, argv, __doc__)
    copy_world(config.world, config.out)   # a ValueError ends as one error: line (run_cli)
    print(f"ship: {config.world} -> {config.out}")


if __name__ == "__main__":
    run_cli(main)
