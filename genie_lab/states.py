"""Measure a world by states, not by policies: from states drawn uniformly over what an explorer reached on
unseen seeds, every action and uniform-action dreams, each checked against the real env.

    from genie_lab.states import sample_states, every_action_from, dreams_from
    states = sample_states("MiniGrid-DoorKey-8x8-v0", count=600, layouts=60, seed=7_000_000)
    every_action_from(world, states)     # all seven actions from each, named by situation
    dreams_from(world, states[:100], horizon=50)

A state is (env in that state, its situation). `sample_states` explores `layouts` reset seeds with the Go-Explore
recorder (genie_lab.explore), pools every distinct state found and draws `count` of them uniformly, so a state
counts once however often a policy would pass it. Every check goes through the documented frame-only calls
(`env_to_latent_action(frame, action)`, then `dream(frame, latent)`) from the real frame, as a user makes them.
"""
from __future__ import annotations

import copy
from collections import Counter

import numpy as np

from genie_env.bridge import ENV_ACTION_NAMES
from genie_env.frames import psnr, render_frame
from genie_lab.explore import explore_layout, restore
from genie_lab.situations import Situation, ahead

CORRECT_DB = 30.0   # a dreamed frame counts as correct at PSNR >= 30 dB against the real frame


def explored_layouts(env_id: str, layouts: int, seed: int, legs: int = 30, leg_steps: int = 20, max_steps: int = 0,
                     steps: dict | None = None, keep_snapshots: bool = False):
    """Yield (reset seed, archive) for each of layouts seed .. seed + layouts - 1 as the explorer leaves it, each
    state named by its situation; `steps`, if given, receives the real env steps spent exploring."""
    import gymnasium as gym
    import minigrid  # noqa: F401  (registers the MiniGrid envs)

    env = gym.make(env_id, **({"max_steps": max_steps} if max_steps > 0 else {}))
    try:
        for i in range(layouts):
            env.reset(seed=seed + i)
            archive, counts = explore_layout(env, seed + i, np.random.default_rng([seed, i]), legs, leg_steps,
                                             label=Situation(env).of, keep_snapshots=keep_snapshots)
            if steps is not None:
                steps["explore"] = steps.get("explore", 0) + counts["env_steps"]
            yield seed + i, archive
    finally:
        env.close()


def explore_pool(env_id: str, layouts: int, seed: int, legs: int = 30, leg_steps: int = 20, max_steps: int = 0,
                 steps: dict | None = None) -> list[tuple[int, tuple, str]]:
    """Every distinct state an explorer reached on layouts seed .. seed + layouts - 1, as (reset seed, action
    prefix, situation name). `steps`, if given, receives the real env steps spent exploring."""
    return [(layout, prefix, archive.label_of[key])
            for layout, archive in explored_layouts(env_id, layouts, seed, legs, leg_steps, max_steps, steps)
            for key, prefix in archive.prefixes.items()]


def states_at(env_id: str, pool: list, picks, max_steps: int = 0, with_seeds: bool = False,
              steps: dict | None = None) -> list[tuple]:
    """The pool entries `picks` replayed: a list of (env in that state, situation name[, reset seed])."""
    import gymnasium as gym
    import minigrid  # noqa: F401

    env = gym.make(env_id, **({"max_steps": max_steps} if max_steps > 0 else {}))
    states, replayed = [], 0
    for index in picks:
        layout, prefix, situation = pool[index]
        replayed += restore(env, layout, prefix)[1]
        states.append((copy.deepcopy(env), situation, *((layout,) if with_seeds else ())))
    env.close()
    if steps is not None:
        steps["replay"] = steps.get("replay", 0) + replayed
    return states


class Reservoir:
    """A uniform draw without replacement of up to `size` items from a stream of unknown length (Vitter's
    algorithm R): every item offered is kept with the same chance, and at most `size` are held at any time."""

    def __init__(self, size: int, rng):
        self.size, self.rng, self.items, self.offered = size, rng, [], 0

    def offer(self, item) -> None:
        self.offered += 1
        if len(self.items) < self.size:
            self.items.append(item)
            return
        slot = int(self.rng.integers(self.offered))
        if slot < self.size:
            self.items[slot] = item


def draw_states(env_id: str, layouts: int, seed: int, count: int, per_situation: int = 0, legs: int = 30,
                leg_steps: int = 20, max_steps: int = 0, steps: dict | None = None) -> tuple[list[tuple], int]:
    """`count` states uniformly over every distinct state an explorer reached on layouts seed .. seed + layouts - 1,
    then up to `per_situation` of every situation, uniformly within it; returned by snapshot, with no env step spent
    going back: (a list of (env in that state, situation name, reset seed), the number of distinct states found).

    The same draw as `explore_pool` + `uniform_picks` / `situation_picks` + `states_at` (other states, as uniform),
    the archive's own copies of the env (~17 KB each) are kept while it explores, in reservoirs that hold at most
    count + per_situation a situation, where `states_at` replays each state's prefix from its reset (a check of
    5,000 states spent ~300,000 real steps on replays). States are shared, not copied: callers copy to step."""
    rng = np.random.default_rng([seed, 2])
    uniform, by_situation = Reservoir(count, rng), {}
    for layout, archive in explored_layouts(env_id, layouts, seed, legs, leg_steps, max_steps, steps, keep_snapshots=True):
        for key, snapshot in archive.snapshots.items():   # the archive goes with this layout: its copies are ours
            entry = (snapshot, archive.label_of[key], layout)
            uniform.offer(entry)
            if per_situation:
                by_situation.setdefault(entry[1], Reservoir(per_situation, rng)).offer(entry)
    states = uniform.items + [state for name in sorted(by_situation) for state in by_situation[name].items]
    return states, uniform.offered


def uniform_picks(pool: list, count: int, seed: int) -> np.ndarray:
    """`count` pool indices drawn uniformly (without replacement where there are enough)."""
    return np.random.default_rng(seed).choice(len(pool), count, replace=count > len(pool))


def situation_picks(pool: list, per_situation: int, seed: int) -> np.ndarray:
    """Up to `per_situation` pool indices of every situation, uniformly within it: a situation an explorer
    reaches rarely (the door open, the key still lying, the agent in the other room) gets as many states as a
    common one, so its figure means something."""
    rng = np.random.default_rng([seed, 1])
    names = np.array([entry[2] for entry in pool])
    return np.concatenate([rng.permutation(np.flatnonzero(names == name))[:per_situation] for name in sorted(set(names))]
                          or [np.zeros(0, np.int64)])


def sample_states(env_id: str, count: int, layouts: int, seed: int, legs: int = 30, leg_steps: int = 20,
                  max_steps: int = 0, with_seeds: bool = False, steps: dict | None = None) -> list[tuple]:
    """`count` states drawn uniformly (without replacement where there are enough) from every distinct state an
    explorer reached on layouts seed .. seed + layouts - 1: a list of (env in that state, situation name), and
    with `with_seeds` each state's reset seed third. `steps`, if given, receives the real env steps spent
    (exploring, and replaying each drawn state's prefix)."""
    pool = explore_pool(env_id, layouts, seed, legs, leg_steps, max_steps, steps)
    return states_at(env_id, pool, uniform_picks(pool, count, seed), max_steps, with_seeds, steps)


def dream_every_action(world, envs: list) -> np.ndarray:
    """(N, 7) bool: from each real env's current state, each env action's dreamed next frame (through the documented
    calls, `env_to_latent_action` then `dream`, from the real frame) is within CORRECT_DB of the real next frame,
    the action taken on a copy of the env (the env itself does not move)."""
    n = len(ENV_ACTION_NAMES)
    frames = np.stack([render_frame(env) for env in envs])
    real = np.empty((len(envs), n, *frames.shape[1:]), np.uint8)
    for j, env in enumerate(envs):
        for a in range(n):
            trial = copy.deepcopy(env)
            trial.step(a)
            real[j, a] = render_frame(trial)
    before = np.repeat(frames, n, 0)
    latents = world.env_to_latent_action(before, np.tile(np.arange(n), len(envs)))
    dreamed = world.dream(before[:, None], latents[:, None])[:, 0]
    return (psnr(dreamed, real.reshape(-1, *frames.shape[1:])) >= CORRECT_DB).reshape(len(envs), n)


def every_action_ok(world, states: list, batch: int = 32, progress: bool = True) -> np.ndarray:
    """(N, 7) bool: `dream_every_action` from each of `states` ((env, ...) tuples), in batches."""
    from tqdm import tqdm

    return np.concatenate([dream_every_action(world, [state[0] for state in states[i : i + batch]])
                           for i in tqdm(range(0, len(states), batch), desc="every action", unit="batch",
                                         disable=not progress)])


def every_action_from(world, states: list, ok: np.ndarray | None = None) -> dict:
    """All seven actions from each state ((env, situation, ...) tuples; `ok` from `every_action_ok` if already
    known): the share of states with all seven right (overall and per situation), the share of (state, action)
    pairs right per action, and where the wrong ones were."""
    ok = every_action_ok(world, states) if ok is None else ok
    names = [state[1] for state in states]
    per_situation = {}
    for name in sorted(set(names)):
        rows = ok[[n == name for n in names]]
        per_situation[name] = {"states": int(len(rows)), "all_right": float(rows.all(1).mean()),
                               "pairs_right": float(rows.mean())}
    wrong = Counter(f"{ENV_ACTION_NAMES[a]}: {ahead(states[j][0])}, {names[j]}" for j, a in zip(*np.nonzero(~ok)))
    return {"states": len(states), "all_right": float(ok.all(1).mean()), "pairs_right": float(ok.mean()),
            "right_per_action": {name: float(ok[:, a].mean()) for a, name in enumerate(ENV_ACTION_NAMES)},
            "situations": per_situation,
            "situation_min": min((s["all_right"] for s in per_situation.values()), default=None),
            "wrong_where": dict(wrong.most_common(12))}


def dreams_from(world, states: list, horizon: int = 50, seed: int = 0) -> dict:
    """Uniform-action dreams of `horizon` steps from each state, in lockstep with the real env (each state's env is
    copied, never moved): the share of frames within CORRECT_DB at steps 1 / 10 / 25 / horizon among the dreams
    still running, and the states each was started from."""
    envs = [copy.deepcopy(state[0]) for state in states]
    rng = np.random.default_rng(seed)
    real = np.stack([render_frame(env) for env in envs])
    dreamed = real.copy()
    alive = np.ones(len(envs), bool)
    correct = np.zeros((len(envs), horizon), bool)
    was_alive = np.zeros((len(envs), horizon), bool)
    for t in range(horizon):
        live = np.flatnonzero(alive)
        if not len(live):
            break
        actions = rng.integers(len(ENV_ACTION_NAMES), size=len(live))
        latents = world.env_to_latent_action(dreamed[live], actions)
        dreamed[live] = world.dream(dreamed[live][:, None], latents[:, None])[:, 0]
        for i, a in zip(live, actions):
            _, _, terminated, truncated, _ = envs[i].step(int(a))
            real[i] = render_frame(envs[i])
            alive[i] = not (terminated or truncated)
        was_alive[live, t] = True
        correct[live, t] = psnr(dreamed[live], real[live]) >= CORRECT_DB
    share = lambda t: float(correct[was_alive[:, t - 1], t - 1].mean()) if was_alive[:, t - 1].any() else None  # noqa: E731
    return {"dreams": len(envs), "horizon": horizon, "correct_all": float(correct[was_alive].mean()),
            **{f"correct_at_{t}": share(t) for t in sorted({1, 10, 25, horizon}) if t <= horizon},
            "alive_at_last": int(was_alive[:, -1].sum())}


def evaluate_states(world, env_id: str, count: int, layouts: int, seed: int, dreams: int, horizon: int = 50,
                    per_situation: int = 0) -> dict:
    """`every_action_from` over `count` uniformly drawn states, `dreams_from` over the first `dreams` of them, and
    with `per_situation`, `every_action_from` over up to that many states of every situation ("by_situation")."""
    pool = explore_pool(env_id, layouts, seed)
    states = states_at(env_id, pool, uniform_picks(pool, count, seed))
    result = {"env": env_id, "layouts": layouts, "first_seed": seed, "pool_states": len(pool),
              "every_action": every_action_from(world, states),
              **({"dreams": dreams_from(world, states[:dreams], horizon, seed)} if dreams else {})}
    if per_situation:
        by = every_action_from(world, states_at(env_id, pool, situation_picks(pool, per_situation, seed)))
        result["by_situation"] = {"per_situation": per_situation, "states": by["states"], "all_right": by["all_right"],
                                  "situation_min": by["situation_min"], "situations": by["situations"],
                                  "wrong_where": by["wrong_where"]}
    return result
