"""genie_lab.explore and the recorder and checker built on it: archives, replay, coverage, situations."""
import copy
import json

import gymnasium as gym
import minigrid  # noqa: F401
import numpy as np
import pytest

from genie_env.dataset import Dataset, read_shard
from genie_env.frames import render_frame
from genie_lab.explore import archive_arrays, archive_states, explore_layout, restore, state_key
from genie_lab.situations import Situation, ahead


def test_archive_states_replay_to_themselves():
    """Every archived prefix, replayed from its reset seed, reaches the state it is filed under (MiniGrid is
    deterministic under a seed), and the archive file round-trips."""
    env = gym.make("MiniGrid-DoorKey-5x5-v0")
    archive, counts = explore_layout(env, 11, np.random.default_rng(0), legs=12, leg_steps=10)
    assert counts["states"] == len(archive) > 10 and counts["env_steps"] <= 12 * 10
    for key, prefix in archive.prefixes.items():
        ended, steps = restore(env, 11, prefix)
        assert not ended and steps == len(prefix) and state_key(env) == key
    pairs = archive_states(archive_arrays([archive]))
    assert len(pairs) == len(archive) and all(seed == 11 for seed, _ in pairs)
    assert sorted(tuple(p) for _, p in pairs) == sorted(archive.prefixes.values())


def test_every_action_once_before_any_twice():
    env = gym.make("MiniGrid-Empty-5x5-v0")
    archive, _ = explore_layout(env, 3, np.random.default_rng(1), legs=20, leg_steps=8)
    tried = list(archive.tried.values())
    assert max(len(t) for t in tried) == 7          # some state had all seven actions tried
    # a leg repeats an action in a state only once all seven were tried there; distinct pairs = every try so far
    assert sum(len(t) for t in tried) >= 0.5 * 20 * 8


def test_explorer_reaches_rare_situations_more_than_the_mixture():
    """On DoorKey-8x8 the explorer finds door-closed and other-room states the recording mixture almost never
    shows, with fewer env steps (its returns are snapshots)."""
    from genie_env.policies import make_policy

    env = gym.make("MiniGrid-DoorKey-8x8-v0")
    explored, steps = set(), 0
    for i in range(3):
        archive, counts = explore_layout(env, 900 + i, np.random.default_rng(i), legs=30, leg_steps=20)
        env.reset(seed=900 + i)
        situation = Situation(env)
        for prefix in archive.prefixes.values():
            restore(env, 900 + i, prefix)
            explored.add(situation.of(env))
        steps += counts["env_steps"]
    mixture = set()
    for i in range(40):
        rng = np.random.default_rng([5, i])
        env.reset(seed=900 + i)
        situation, policy, previous = Situation(env), make_policy("mixture", rng), None
        for _ in range(200):
            previous = policy(env, rng, previous)
            _, _, terminated, truncated, _ = env.step(previous)
            mixture.add(situation.of(env))
            if terminated or truncated:
                break
    assert {"door closed, key dropped, other room", "door open, key carried, other room"} <= explored
    assert len(explored) > len(mixture) and steps <= 3 * 30 * 20


def test_situation_names():
    env = gym.make("MiniGrid-DoorKey-5x5-v0")
    env.reset(seed=0)
    situation = Situation(env)
    assert situation.of(env) == "door locked, key lying, start room"
    u = env.unwrapped
    key = next((x, y) for x in range(u.width) for y in range(u.height)
               if u.grid.get(x, y) is not None and u.grid.get(x, y).type == "key")
    u.carrying = u.grid.get(*key)
    u.grid.set(*key, None)
    assert situation.of(env) == "door locked, key carried, start room"
    assert "carrying key" in ahead(env)
    empty = gym.make("MiniGrid-Empty-5x5-v0")
    empty.reset(seed=0)
    assert Situation(empty).of(empty) == "no objects"


def test_record_explore_archive(tmp_path):
    from trainers.record import RecordConfig, record

    out = tmp_path / "x"
    record(RecordConfig(env="MiniGrid-DoorKey-5x5-v0", episodes=3, policy="explore-archive", out=str(out),
                        episodes_per_shard=2, workers=1, legs=4, leg_steps=6))
    data = Dataset.load(out)
    assert data.num_episodes == 3 * 4 and (data.offsets >= 0).all() and data.starts_at_reset.any()
    assert not data.starts_at_reset.all()        # legs from archived states start mid-episode
    archive = dict(np.load(out / "archive_00000.npz"))
    assert int(archive["legs"]) == 2 * 4 and len(archive["seeds"]) == int(archive["states"])
    # an episode's first frame is the state its offset's prefix reaches: the frames are real
    env = gym.make("MiniGrid-DoorKey-5x5-v0")
    for seed, prefix in archive_states(archive)[:10]:
        restore(env, seed, prefix)
        assert render_frame(env).shape == (64, 64, 3)
    e = int(np.flatnonzero(~data.starts_at_reset)[0])
    first = data.frames[data.frame_start[e]]
    candidates = []
    for seed, prefix in archive_states(archive):
        if seed == data.seeds[e] and len(prefix) == data.offsets[e]:
            restore(env, seed, prefix)
            candidates.append(np.array_equal(render_frame(env), first))
    assert any(candidates)
    # time after each step is the env's own step count
    assert data.step_time[data.step_start[e]] == data.offsets[e] + 1


def test_shards_without_offsets_still_load(tmp_path, tiny_data):
    """Shards written before episode offsets existed load with every episode starting at a reset."""
    import io
    import shutil

    copy_dir = tmp_path / "old"
    shutil.copytree(tiny_data, copy_dir)
    for path in copy_dir.glob("shard_*.npz"):
        shard = read_shard(path)
        shard.pop("episode_offsets")
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **shard)
        path.write_bytes(buffer.getvalue())
    data = Dataset.load(copy_dir)
    assert data.starts_at_reset.all() and (data.step_time[data.step_start] == 1).all()


def test_reward_rule_follows_minigrid_time(tiny_world, tmp_path):
    """Fitted on real DoorKey-5x5 play, the rule pays 1 - 0.9 t / T for the dream's own step count and the real
    env's own limit; a success the head cannot time pays exactly what MiniGrid would."""
    import torch

    from genie_env.bridge import RewardRule
    from trainers.record import RecordConfig, record

    out = tmp_path / "dk"
    record(RecordConfig(env="MiniGrid-DoorKey-5x5-v0", episodes=12, policy="noisy-expert", out=str(out),
                        episodes_per_shard=6, workers=1, max_steps=100))
    data = Dataset.load(out)
    facts = data.reward_facts(np.arange(len(data.actions)))
    assert facts["time_limit"] == 250 and (facts["limits"] == 100).all()
    rule = RewardRule.from_data(**facts)
    assert rule.timed and rule.success_base == pytest.approx(1.0) and rule.success_slope == pytest.approx(0.9)
    paid = rule.apply(torch.tensor([0.8, 0.8, 0.01, 0.8]), torch.tensor([True, True, True, False]),
                      torch.tensor([25, 200, 25, 25]))
    assert paid.tolist() == pytest.approx([1 - 0.9 * 25 / 250, 1 - 0.9 * 200 / 250, 0.0, 0.0], abs=1e-6)
    # a constant success is a rule of the time too (slope 0); rewards the time does not explain keep the old rule
    constant = dict(facts, rewards=np.where(facts["rewards"] > 0, 1.0, 0.0))
    assert RewardRule.from_data(**constant).success_slope == pytest.approx(0.0)
    noisy = np.where(facts["rewards"] > 0, np.random.default_rng(0).uniform(0.2, 1.0, len(facts["rewards"])), 0.0)
    assert not RewardRule.from_data(**dict(facts, rewards=noisy)).timed
    # the rule travels in world.json and the loader checks it
    tiny_world.set_reward_rule(**facts)
    tiny_world.save(tmp_path / "w")
    from genie_env import load_world_model

    assert load_world_model(tmp_path / "w").reward_rule == rule
    meta = json.loads((tmp_path / "w" / "world.json").read_text())
    meta["info"]["reward_rule"]["success_slope"] = 5.0
    (tmp_path / "w" / "world.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="success_slope"):
        load_world_model(tmp_path / "w")


def test_dream_counts_time_for_the_reward(tiny_world_path, tmp_path):
    """The env's step count (what the time rule reads) starts at reset, counts each step, restarts on autoreset."""
    import genie_env  # noqa: F401

    env = gym.make("GenieDream-v0", world=str(tiny_world_path))
    env.reset(seed=0)
    for t in range(1, 4):
        env.step(0)
        assert int(env.unwrapped.core.elapsed[0]) == t
    env.reset(seed=1)
    assert int(env.unwrapped.core.elapsed[0]) == 0
    envs = gym.make_vec("GenieDream-v0", num_envs=3, vectorization_mode="vector_entry_point", world=str(tiny_world_path),
                        max_episode_steps=2)
    envs.reset(seed=0)
    expected, done = np.zeros(3, int), np.zeros(3, bool)
    for _ in range(5):
        _, _, terminated, truncated, _ = envs.step(np.zeros(3, np.int64))
        expected = np.where(done, 0, expected + 1)            # next-step autoreset: a finished world starts at 0
        assert envs.core.elapsed.tolist() == expected.tolist()
        assert (truncated == (~terminated & ~done & (expected >= 2))).all()
        done = terminated | truncated


def test_check_records_where_the_world_is_wrong(tiny_world_path, tmp_path):
    """trainers.check on a world that learned nothing: it finds wrong states and records real episodes from them
    (the seven actions once each, then explorer legs), a dataset trainers.world can read."""
    from trainers.check import CheckConfig, check

    out = tmp_path / "round"
    result = check(CheckConfig(world=str(tiny_world_path), env="MiniGrid-Empty-5x5-v0", out=str(out), layouts=2,
                               states=5, legs=1, leg_steps=4, seed=42))
    assert result["states"] == 5 and 0 <= result["all_right"] <= 1 and result["wrong_states"] >= 1
    data = Dataset.load(out)
    assert data.num_episodes == result["wrong_states"] * (7 + 1)
    assert sorted(set(data.actions[data.step_start[:7]].tolist())) == list(range(7))
    with pytest.raises(ValueError, match="already holds"):
        check(CheckConfig(world=str(tiny_world_path), env="MiniGrid-Empty-5x5-v0", out=str(out), layouts=2, states=5))
    # with --per-situation, states of every situation the explorer reached come on top of the uniform ones
    more = check(CheckConfig(world=str(tiny_world_path), env="MiniGrid-Empty-5x5-v0", out=str(tmp_path / "more"),
                             layouts=2, states=5, per_situation=3, legs=0, leg_steps=4, seed=42))
    assert list(more["situations"]) == ["no objects"] and more["states"] == 5 + 3     # Empty has one situation
    assert "replay" not in more["real_steps"] and more["real_steps"]["tries"] == 7 * 8   # drawn states: snapshots


def test_drawn_states_are_the_explorers_states_reached_with_no_replay():
    """genie_lab.states.draw_states keeps the explorer's snapshots: each drawn state is one the explorer archived
    (the same exploration as explore_pool's), under its situation, at the step count of its shortest prefix, and
    going back to it spends no env step; --per-situation caps every situation."""
    from genie_lab.states import draw_states, explore_pool

    spent, pooled = {}, {}
    states, found = draw_states("MiniGrid-DoorKey-5x5-v0", 3, 12_000, 40, per_situation=4, legs=10, leg_steps=10,
                                steps=spent)
    pool = explore_pool("MiniGrid-DoorKey-5x5-v0", 3, 12_000, legs=10, leg_steps=10, steps=pooled)
    assert found == len(pool) > 40 and spent == pooled          # the same exploration, nothing replayed
    env = gym.make("MiniGrid-DoorKey-5x5-v0")
    by_key = {}
    for layout, prefix, situation in pool:
        restore(env, layout, prefix)
        by_key[(layout, state_key(env))] = (situation, len(prefix))
    assert len(states) > 40
    for snapshot, situation, layout in states:
        assert by_key[(layout, state_key(snapshot))] == (situation, snapshot.unwrapped.step_count)
    names = [situation for _, situation, _ in states[40:]]
    assert set(names) == {situation for _, _, situation in pool} and max(names.count(n) for n in names) <= 4
    assert len({(layout, state_key(s)) for s, _, layout in states[:40]}) == 40    # uniform part: no state twice


def test_reservoir_draws_uniformly():
    from genie_lab.states import Reservoir

    rng, kept = np.random.default_rng(0), np.zeros(100)
    for _ in range(2000):
        reservoir = Reservoir(10, rng)
        for item in range(100):
            reservoir.offer(item)
        kept[reservoir.items] += 1
        assert len(set(reservoir.items)) == 10 and reservoir.offered == 100
    assert np.abs(kept / 2000 - 0.1).max() < 0.03


def test_warm_start_carries_weights_by_look(tiny_world, tiny_tokenizer, tiny_data):
    """A new run's LAM and dynamics start from the world's weights: ids matched by look, tile rows by pattern."""
    import torch

    from genie_env.checkpoint import load_model
    from genie_env.dynamics import Dynamics
    from genie_env.latent_action import LatentActionModel
    from genie_env.tokenizer import Tokenizer, TokenizerConfig
    from genie_lab.warm_start import warm_start

    tokenizer = load_model(tiny_tokenizer, Tokenizer, TokenizerConfig, "tokenizer")
    looks = tokenizer.patch_table()[tiny_world.vocab.cpu()]
    lam = LatentActionModel(copy.deepcopy(tiny_world.lam.config))
    dynamics = Dynamics(copy.deepcopy(tiny_world.dynamics.config))
    dynamics.set_tiles(tiny_world.dynamics.tile_table.cpu())
    carried = warm_start(lam, dynamics, tiny_world, looks, tiny_world.pixels)   # ids split off one look: by pixels
    assert carried["ids_carried"] == carried["ids"] and carried["tiles_carried"] == carried["tiles"]
    for new, old in ((lam, tiny_world.lam), (dynamics, tiny_world.dynamics)):
        for key, value in new.state_dict().items():
            assert torch.equal(value, old.state_dict()[key].cpu()), key
