import numpy as np

from genie_env.dataset import Dataset


def test_split_is_by_episode_and_complete(tiny_data):
    data = Dataset.load(tiny_data)
    train, val = data.split(0.34, seed=0)
    assert len(set(train) & set(val)) == 0 and sorted([*train, *val]) == list(range(data.num_episodes))
    assert len(val) == 2
    train_steps, val_steps = data.step_indices(train), data.step_indices(val)
    assert set(data.step_episode[train_steps]) == set(train) and set(data.step_episode[val_steps]) == set(val)


def test_transitions_and_context(tiny_data):
    data = Dataset.load(tiny_data)
    assert len(data.frames) == len(data.actions) + data.num_episodes
    second = data.step_start[1]
    index = data.context_indices(np.array([second, second + 2]), context=3)
    first = data.frame_start[1]
    assert index.tolist() == [[first, first, first, first + 1], [first, first + 1, first + 2, first + 3]]


def test_clip(tiny_data):
    data = Dataset.load(tiny_data)
    clip = data.clip(0, 1, 4)
    assert clip.shape == (5, 64, 64, 3)
    assert np.array_equal(clip[0], data.frames[1])
