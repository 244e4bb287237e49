"""Rotated twins (genie_lab.twins) and the unsupervised code search that reads them (Brain.best_codes)."""
import gymnasium as gym
import minigrid  # noqa: F401
import numpy as np
import pytest
import torch

from genie_env.dataset import Dataset, read_shard, write_shard
from genie_env.frames import render_frame
from genie_lab.episodes import record_episode
from genie_lab.twins import rotate_env, twin_episode, twin_steps, with_twins
from trainers.record import RecordConfig, record


def test_four_quarter_turns_give_back_the_frame_and_a_twin_follows_its_episode():
    env = gym.make("MiniGrid-DoorKey-8x8-v0", max_steps=200)
    env.reset(seed=4)
    first = render_frame(env)
    for turn in range(4):
        rotate_env(env)
        assert (render_frame(env) == first).all() == (turn == 3)
    episode = record_episode(env, "noisy-expert", 0, 2)           # picks the key, opens the door, reaches the goal
    x, y = env.unwrapped.agent_pos
    twin = twin_episode(env, episode)
    assert twin is not None and episode["rewards"].sum() > 0
    assert np.array_equal(twin["rewards"], episode["rewards"]) and np.array_equal(twin["actions"], episode["actions"])
    assert tuple(env.unwrapped.agent_pos) == (y, 7 - x)            # the twin's agent ends where the turned one would
    changed = lambda e: (e["frames"][1:] != e["frames"][:-1]).any((1, 2, 3))   # noqa: E731
    assert np.array_equal(changed(twin), changed(episode)) and not (twin["frames"] == episode["frames"]).all()


def test_recorded_twins_pair_steps_of_the_same_action_both_ways(tmp_path):
    out = tmp_path / "data"
    record(RecordConfig(env="MiniGrid-Empty-6x6-v0", episodes=4, episodes_per_shard=2, workers=1, max_steps=40,
                        twins=True, out=str(out)))
    data = Dataset.load([out])
    assert data.num_episodes == 8 and data.twins.tolist() == [1, 0, 3, 2, 5, 4, 7, 6]
    steps = np.arange(len(data.actions))
    assert (data.step_twin >= 0).all() and (data.step_twin[data.step_twin] == steps).all()
    assert (data.actions[data.step_twin] == data.actions).all()   # the pairing the search reads, never the actions
    rows, same = twin_steps(data.step_twin, np.array([0, 5]))
    assert rows.tolist() == [0, 5, data.step_twin[0], data.step_twin[5]] and same.tolist() == [0, 1, 0, 1]


@pytest.mark.parametrize("change, message", [({"policy": "explore-archive"}, "mid-episode"),
                                             ({"env": "MiniGrid-Unlock-v0"}, "square grid")])
def test_twins_that_cannot_be_made_are_refused_before_anything_is_written(tmp_path, change, message):
    out = tmp_path / "data"
    with pytest.raises(ValueError, match=message):
        record(RecordConfig(**{"env": "MiniGrid-Empty-6x6-v0", "episodes": 2, "workers": 1, "twins": True,
                               "out": str(out), **change}))
    assert not out.exists()


def test_a_shard_whose_twins_do_not_pair_is_refused(tmp_path):
    env = gym.make("MiniGrid-Empty-6x6-v0", max_steps=10)
    episodes = with_twins(env, [record_episode(env, "mixture", 0, i) for i in range(2)])
    write_shard(tmp_path / "good.npz", episodes)
    assert read_shard(tmp_path / "good.npz")["episode_twins"].tolist() == [1, 0, 3, 2]
    episodes[1]["twin"] = 2                                          # 0 -> 1 but 1 -> 2
    write_shard(tmp_path / "bad.npz", episodes)
    with pytest.raises(ValueError, match="episode_twins"):
        read_shard(tmp_path / "bad.npz")


def small_brain(seed: int):
    """A searching Brain over a 4-id vocabulary, K = 4 with code 3 "nothing changed", and its LAM."""
    from genie_env.dynamics import Dynamics, DynamicsConfig, tile_patterns
    from genie_env.latent_action import LatentActionConfig, LatentActionModel
    from genie_lab.brain import Brain

    torch.manual_seed(seed)
    lam = LatentActionModel(LatentActionConfig(vocab_size=4, num_actions=4, dim=32, layers=1))
    dynamics = Dynamics(DynamicsConfig(vocab_size=4, num_tiles=8, latent_dim=lam.config.latent_dim, dim=32, layers=1))
    dynamics.set_tiles(tile_patterns(torch.randint(0, 4, (50, 16, 16)))[:8])
    return Brain(lam, dynamics, noop_code=3, search=True), lam


def test_balanced_argmax_spreads_rows_while_scores_tie_and_follows_clear_scores():
    from genie_lab.brain import balanced_argmax

    tied = torch.zeros(60, 3) + torch.randn(60, 3) * 1e-3
    tied[:, 0] += 0.01                                             # column 0 a hair better everywhere
    counts = torch.bincount(balanced_argmax(tied), minlength=3)
    assert (counts >= 10).all()                                    # plain argmax would give all 60 to column 0
    clear = torch.full((6, 3), -30.0)
    clear[torch.arange(6), torch.tensor([0, 0, 0, 0, 1, 2])] = 0.0
    assert balanced_argmax(clear).tolist() == [0, 0, 0, 0, 1, 2]


def test_best_codes_fill_changed_steps_only_never_with_nothing_changed_and_one_code_a_pair():
    brain, lam = small_brain(0)
    clip = torch.randint(0, 4, (12, 2, 16, 16))
    clip[:2, 1] = clip[:2, 0]                                      # rows 0-1 unchanged
    labels = torch.tensor([3, 3] + [-5] * 10)                      # noop code 3; changed rows barred from it
    same = torch.tensor([-1, -1, 2, 3, -1, -1, -1, 2, 3, -1, -1, -1])   # rows 2 and 7 one pair, 3 and 8 another
    codes = brain.best_codes(clip, labels, same)
    assert codes[:2].tolist() == [3, 3] and ((codes[2:] >= 0) & (codes[2:] < 3)).all()
    assert codes[2] == codes[7] and codes[3] == codes[8]
    assert torch.equal(brain.best_codes(clip, labels, same), codes)   # no draw: the scores decide
    loss, _ = brain.train()(clip, torch.zeros(12), torch.zeros(12, dtype=torch.bool), labels, None, same)
    loss.backward()                                                # the LAM learns the chosen codes
    assert lam.to_latent.weight.grad.abs().sum() > 0


def test_inverse_steps_pair_a_step_with_the_one_that_gives_its_frame_back():
    """A left turn then a right one (both changed the frame, the second gives the first frame back) are inverses,
    both ways; a step into a wall, a step across episodes and a step followed by another change are not."""
    from types import SimpleNamespace

    from genie_lab.twins import inverse_rows, inverse_steps

    a, b, c = (np.full((16, 16), v, np.int16) for v in (0, 1, 2))
    # episode 0: frames a b a a c ; episode 1: frames b a
    ids = np.stack([a, b, a, a, c, b, a])
    data = SimpleNamespace(step_frame=np.array([0, 1, 2, 3, 5]), step_episode=np.array([0, 0, 0, 0, 1]))
    inverse = inverse_steps(ids, data)
    assert inverse.tolist() == [1, 0, -1, -1, -1]
    rows, partner = inverse_rows(inverse, np.array([0, 3, 1]), 2)
    assert rows.tolist() == [0, 3, 1, 1] and partner.tolist() == [3, -1, -1, 0]   # only the first 2 rows bring theirs


def test_best_codes_give_a_step_and_its_inverse_two_codes():
    brain, lam = small_brain(0)
    clip = torch.randint(0, 4, (10, 2, 16, 16))
    labels = torch.full((10,), -5)                                 # every row changed, noop code 3
    # every row's scores the same: one code would win them all, unless a pair must take two
    with torch.no_grad():
        clip[:] = clip[0]
    inverses = torch.tensor([5, 6, 7, -1, -1, 0, 1, 2, -1, -1])
    codes = brain.best_codes(clip, labels, None, inverses)
    assert all(codes[i] != codes[j] for i, j in ((0, 5), (1, 6), (2, 7)))
    assert ((codes >= 0) & (codes < 3)).all()
    same = torch.tensor([0, -1, -1, -1, -1, -1, -1, -1, 0, -1])   # row 0's twin takes row 0's code
    codes = brain.best_codes(clip, labels, same, inverses)
    assert codes[8] == codes[0] and codes[0] != codes[5]


def test_cycle_steps_find_four_quarter_turns_the_same_way_in_a_real_episode():
    """Four left turns give the frame back through four different ones: one cycle. A left turn and a right one
    give it back after two (no cycle), and so does a step cut by the episode's end."""
    from types import SimpleNamespace

    from genie_lab.twins import cycle_rows, cycle_steps

    env = gym.make("MiniGrid-Empty-8x8-v0")
    env.reset(seed=3)
    actions = [2, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 2]                 # forward, LLLL, R L, RRRR, forward
    frames = [render_frame(env)]
    for action in actions:
        env.step(action)
        frames.append(render_frame(env))
    ids = np.stack(frames).reshape(len(frames), 16, 4, 16, 4, 3).sum((2, 4, 5))   # a stand-in for token ids
    steps = len(actions)
    data = SimpleNamespace(step_frame=np.arange(steps), step_episode=np.zeros(steps, np.int64))
    assert cycle_steps(ids, data).tolist() == [[1, 2, 3, 4], [7, 8, 9, 10]]
    data.step_episode[9:] = 1                                      # the second cycle cut in two: not one
    assert cycle_steps(ids, data).tolist() == [[1, 2, 3, 4]]
    rows, same = cycle_rows(cycle_steps(ids, data), np.array([11, 0]), np.array([-1, -1]))
    assert rows.tolist() == [11, 0, 1, 2, 3, 4] and same.tolist() == [-1, -1, 2, 2, 2, 2]


def test_best_codes_give_the_four_steps_of_a_cycle_one_code():
    brain, lam = small_brain(1)
    clip = torch.randint(0, 4, (12, 2, 16, 16))
    labels = torch.full((12,), -5)
    alone = brain.best_codes(clip, labels)
    assert len(set(alone[4:8].tolist())) > 1                       # left alone, the four rows take several codes
    same = torch.tensor([-1] * 4 + [4] * 4 + [-1] * 4)
    codes = brain.best_codes(clip, labels, same)
    assert len(set(codes[4:8].tolist())) == 1 and ((codes >= 0) & (codes < 3)).all()


def test_rival_steps_pair_two_steps_that_left_one_frame_two_ways():
    """From frame a one step went to b, one to c and one to d: each has one of the others as its rival, which one
    drawn by the rng; a step that changed nothing and a frame left only one way have none."""
    from genie_lab.labels import frame_keys
    from genie_lab.twins import rival_steps

    a, b, c, d = (np.full((16, 16), v, np.int16) for v in range(4))
    ids = np.stack([a, b, a, c, a, d, d, d, b, c])                  # steps: a->b, a->c, a->d, d->d, b->c
    keys, first = frame_keys(ids), np.array([0, 2, 4, 6, 8])
    assert rival_steps(keys, first).tolist() == [1, 0, 0, -1, -1]
    seen = {tuple(rival_steps(keys, first, np.random.default_rng(seed)).tolist()) for seed in range(40)}
    assert all(r[0] in (1, 2) and r[1] in (0, 2) and r[2] in (0, 1) and r[3:] == (-1, -1) for r in seen)
    assert len(seen) > 2                                            # the pairing changes with the draw
