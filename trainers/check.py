"""Let the real env check a world, and record where it is wrong (one round of active data collection).

    python -m trainers.check --world runs/world --env MiniGrid-DoorKey-8x8-v0 --layouts 60 --states 600 --seed 601 --out data/round1

Explores --layouts reset seeds (seed * 1,000,000 + i, a block no other recording uses) with the Go-Explore
recorder, draws --states of the distinct states found uniformly (and, with --per-situation N, up to N more of every
situation, so the rare ones a uniform draw almost never meets are checked too; going back to them costs no env step:
the explorer's snapshots, genie_lab.states.draw_states), and tries all seven actions from each on copies of the real
env against the dream (genie_lab.states). From every state where some action dreams wrong it records
new real episodes (a dataset folder with episode offsets, as `trainers.record --policy explore-archive` writes):
each of the seven actions once from that state, then --legs legs of --leg-steps steps that act as the explorer does.
With --play-episodes N it also plays N long real episodes of --play-policy (uniform: MiniGrid's seven actions at
random), every step dreamed from the real frame before it (genie_lab.lockstep), and records the same from every
state where a step dreamed wrong (replayed from its reset seed), into --out/play, a dataset of its own (its episodes
ran under the play's step limit, not --max-steps): long play reaches the states far from the reset that a sparse
reward depends on. The world learns from these frames alone (trainers.world --init ... --focus-data
1). `check.json` in --out holds the share of states (and of play steps) the world got right, where it was wrong,
and the real steps used.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from genie_env.config import parse_config, run_cli
from genie_env.dataset import FORMAT_VERSION, shard_name, write_shard
from genie_env.frames import check_minigrid_env
from genie_env.io import atomic_write_json, make_folder
from genie_lab.episodes import episode_seed, play_episode
from genie_env.policies import POLICIES, make_policy
from genie_lab.explore import Archive, restore, rooms

NUM_ACTIONS = 7
PLAY_POLICIES = [name for name in POLICIES if name != "explore-archive"]   # one episode at a time
PLAY_SEED_OFFSET = 100_000   # the play episodes' reset seeds: the check's block + this + i (its layouts are below)


@dataclass
class CheckConfig:
    world: str = "runs/world"
    env: str = "MiniGrid-DoorKey-8x8-v0"
    out: str = "data/round1"
    layouts: int = 60
    states: int = 600
    per_situation: int = 0        # also up to this many states of every situation (rare ones are where worlds fail)
    legs: int = 2                 # explorer legs recorded from each wrong state, beside its seven one-step tries
    leg_steps: int = 20
    max_steps: int = 0            # the env's step limit (0: its own); as the data the world was trained on
    play_episodes: int = 0        # also this many long real episodes of --play-policy, every step dreamed from the
                                  # real frame before it (genie_lab.lockstep); where a step dreams wrong is recorded too
    play_steps: int = 640         # steps of each (the episode's limit is raised to this where the env's is lower)
    play_policy: str = "uniform"
    seed: int = 601


def leg(env, seed: int, rng, steps: int, first: int | None = None) -> dict:
    """One recorded episode from `env`'s state (a copy moves): `first`, if given, then explorer actions."""
    env = copy.deepcopy(env)
    archive = Archive(seed, rooms(env))
    return play_episode(env, lambda env, k, previous: first if k == 0 and first is not None else archive.action(env, rng),
                        seed, steps)


def write_dataset(folder: Path, spec: dict, episodes: list[dict]) -> None:
    """`episodes` as a dataset folder (one shard, or none), as trainers.world reads it."""
    make_folder(folder)
    shards = []
    if episodes:
        info = write_shard(folder / shard_name(0), episodes)
        shards.append({"file": shard_name(0), "episodes": info["episodes"], "steps": info["steps"]})
    steps = sum(len(e["actions"]) for e in episodes)
    atomic_write_json(folder / "manifest.json", {**spec, "shards": shards, "counts": {
        "episodes": len(episodes), "steps": steps, "frames": steps + len(episodes)}})


def recorded_from(env, seed: int, rng, config: CheckConfig) -> list[dict]:
    """What a check records from a state the world got wrong: each of the seven actions once, then --legs legs."""
    return ([leg(env, seed, rng, 1, a) for a in range(NUM_ACTIONS)]
            + [leg(env, seed, rng, config.leg_steps) for _ in range(config.legs)])


def check(config: CheckConfig) -> dict:
    from genie_env.world import load_world_model
    from genie_lab.lockstep import play_checked, play_envs
    from genie_lab.states import draw_states, every_action_from, every_action_ok

    check_minigrid_env(config.env)
    for name in ("layouts", "states", "leg_steps"):
        if getattr(config, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(config, name)}")
    if config.legs < 0 or config.max_steps < 0 or config.per_situation < 0 or config.play_episodes < 0:
        raise ValueError(f"--legs, --max-steps, --per-situation and --play-episodes must be >= 0, got {config.legs}, "
                         f"{config.max_steps}, {config.per_situation} and {config.play_episodes}")
    if config.play_episodes and config.play_steps < 1:
        raise ValueError(f"--play-steps must be >= 1, got {config.play_steps}")
    make_policy(config.play_policy, np.random.default_rng(0))   # an unknown policy is refused before any work
    out = Path(config.out)
    if (out / "manifest.json").exists():
        raise ValueError(f"--out {out} already holds a checked round; choose another folder")
    start = time.time()
    world = load_world_model(config.world)
    spent: dict = {}
    first = episode_seed(config.seed, 0)   # the seed block every recorder and check draws layouts from
    # the rare situations get states of their own (--per-situation), not only their uniform share; the states
    # are the explorer's snapshots: going back to them spends no env step
    states, found = draw_states(config.env, config.layouts, first, config.states, config.per_situation,
                                max_steps=config.max_steps, steps=spent)
    ok = every_action_ok(world, states)
    report = every_action_from(world, states, ok)
    rng = np.random.default_rng(config.seed)
    episodes, wrong_states = [], 0
    for (env, _, seed), right in zip(states, ok):
        if right.all():
            continue
        wrong_states += 1
        episodes += recorded_from(env, seed, rng, config)
    play, played, play_limit = None, [], 0
    if config.play_episodes:   # long play reaches what a uniform draw weighs little: the states far from the reset
        play = play_checked(world, config.env, config.play_episodes, config.play_steps, first + PLAY_SEED_OFFSET,
                            config.play_policy)
        spent["play"] = play["steps"]
        (env,) = play_envs(config.env, 1, config.play_steps)
        play_limit = int(env.unwrapped.max_steps)
        for seed, prefix, _, _ in play.pop("wrong"):
            spent["replay"] = spent.get("replay", 0) + restore(env, seed, prefix)[1]
            played += recorded_from(env, seed, rng, config)
        env.close()
    make_folder(out)
    spec = {"format": "genie-dataset", "version": FORMAT_VERSION, "env": config.env, "env_id": config.env,
            "policy": "check", "seed": config.seed}
    if config.play_episodes:   # its own dataset: its episodes ran under the play's step limit, not --max-steps
        write_dataset(out / "play", {**spec, "max_steps": play_limit}, played)
    steps = sum(len(e["actions"]) for e in episodes + played)
    # real env steps: exploring, the seven tries from each drawn state, the play and the replays to its wrong
    # states, the recorded episodes
    spent.update(tries=NUM_ACTIONS * len(states), recorded=steps)
    result = {"world": config.world, "config": asdict(config), "distinct_states": found, "wrong_states": wrong_states,
              "real_steps": {**spent, "total": sum(spent.values())},
              "recorded_episodes": len(episodes) + len(played), "recorded_steps": steps,
              "seconds": round(time.time() - start, 1),
              **{k: report[k] for k in ("states", "all_right", "pairs_right", "right_per_action", "situations",
                                        "situation_min", "wrong_where")},
              **({"play": {**play, "recorded_episodes": len(played), "data": str(out / "play")}} if play else {})}
    atomic_write_json(out / "check.json", result)
    write_dataset(out, {**spec, "max_steps": config.max_steps}, episodes)   # its manifest last: the round is complete
    return result


def main(argv=None) -> None:
    config = parse_config(CheckConfig, argv, __doc__, choices={"play_policy": PLAY_POLICIES},
                          rules={"legs": (0, None, "a count >= 0 (0: the seven tries only)")})
    result = check(config)   # a ValueError ends as one error: line (run_cli)
    print(f"check: all seven actions right from {100 * result['all_right']:.2f} % of {result['states']} states "
          f"(worst situation {100 * result['situation_min']:.1f} %); recorded {result['recorded_episodes']} episodes, "
          f"{result['recorded_steps']} steps from the {result['wrong_states']} wrong states"
          + (f" and the {result['play']['wrong_states']} of play" if "play" in result else "") + f" in {config.out}")
    if "play" in result:
        play = result["play"]
        print(f"check: {play['steps']} steps of {config.play_policy} play dreamed right on {100 * play['right']:.3f} % "
              f"(worst situation {100 * play['situation_min']:.1f} %); {play['wrong_states']} wrong states")


if __name__ == "__main__":
    run_cli(main)
