"""Fit (or refit) a world's action bridge from a few labelled real transitions, without retraining the world.

    python -m trainers.bridge --world runs/world-empty8 --data data/empty8 --labels 200 --out worlds/empty8

Chooses --labels transitions from the training episodes of --data (the same split and the same choice as
trainers.world: trainers.labels) and reads only their true actions; all training transitions, unlabelled, show which token changes real play makes.
Also reads the data's reward rule (range; paid only at episode ends; how it follows the time) that the dream
applies to its reward head, and the real pixels of every look (genie_lab.pixels), so frames come back exact.
Writes the world with its new bridge to --out (world.safetensors + world.json).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from genie_env.config import fail, parse_config, run_cli
from genie_env.dataset import Dataset
from genie_env.world import check_world_env, frames_to_ids_numpy, load_world_model
from genie_lab.assemble import fit_bridge_on_data
from genie_lab.labels import label_steps, step_changes
from genie_lab.pixels import draw_real_pixels


@dataclass
class BridgeConfig:
    world: str = "runs/world-empty8"
    data: list[str] = field(default_factory=lambda: ["data/empty8"])
    out: str = "worlds/empty8"
    labels: int = 200
    cover_labels: int = 50        # of them, chosen to show every kind of change the data shows (trainers.labels)
    val_fraction: float = 0.1     # as trainers.world: the bridge's labels come from training episodes only
    seed: int = 0


def main(argv=None) -> None:
    config = parse_config(BridgeConfig, argv, __doc__)   # --labels >= 1, --cover-labels >= 0 (config.RULES)
    try:
        world = load_world_model(config.world)
        data = Dataset.load(config.data)
        check_world_env(world, data.env_ids[0], "--data")
    except (ValueError, FileNotFoundError) as e:
        fail(f"{e}")
    train_eps, _ = data.split(config.val_fraction, config.seed)
    train_steps = data.step_indices(train_eps)
    ids = frames_to_ids_numpy(world, data.frames, progress="bridge: reading frames")
    labelled = label_steps(train_steps, config.labels, config.seed + 2, step_changes(ids, data.step_frame, train_steps),
                           config.cover_labels)
    fit_bridge_on_data(world, data, train_steps, labelled, ids)
    world.set_reward_rule(**data.reward_facts(train_steps))   # from the same data
    exact = draw_real_pixels(world, data.frames)                # each look drawn as real play draws it
    world.save(config.out, {"bridge_label_steps": labelled.tolist(), "bridge_data": config.data, "real_pixels": exact})
    print(f"bridge fitted on {len(labelled)} labelled transitions; world written to {config.out}")


if __name__ == "__main__":
    run_cli(main)
