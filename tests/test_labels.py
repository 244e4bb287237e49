"""Which transitions get labelled (trainers.labels): a uniform draw, plus coverage of every kind of change."""
from __future__ import annotations

import json

import numpy as np
import pytest

from genie_lab.labels import label_steps, step_changes


def frames_and_steps(kinds: list[int]):
    """(ids, step_frame, steps): step s goes from frame 2s to 2s + 1 and changes nothing (kind 0) or turns
    token 1 into token 1 + kind at (0, 0)."""
    ids = np.ones((2 * len(kinds), 16, 16), np.int16)
    ids[1::2, 0, 0] += np.asarray(kinds, np.int16)
    return ids, 2 * np.arange(len(kinds)), np.arange(len(kinds))


def test_step_changes_lists_the_pairs_each_step_shows():
    ids = np.zeros((3, 16, 16), np.int16)
    ids[1, 0, 0], ids[1, 5, 5] = 3, 2          # step 0: 0->3 and 0->2
    ids[2] = ids[1]
    ids[2, 5, 5] = 0                           # step 1: 2->0
    changes = step_changes(ids, np.array([0, 1]), np.array([0, 1]), batch_size=1)
    assert changes.shape == (2, 3)             # pairs 0->2, 0->3, 2->0
    assert changes.tolist() == [[True, True, False], [False, False, True]]
    still = step_changes(np.zeros((2, 16, 16), np.int16), np.array([0]), np.array([0]))
    assert still.shape == (1, 0)


def test_without_cover_the_draw_is_uniform_and_unchanged():
    steps = np.arange(100, 400)
    assert label_steps(steps, 20, 7).tolist() == np.random.default_rng(7).choice(steps, 20, replace=False).tolist()
    assert sorted(label_steps(steps, 1000, 7).tolist()) == steps.tolist()   # no more labels than steps


def test_cover_labels_a_rare_change_that_a_uniform_draw_misses():
    kinds = [0] * 990 + [1] * 9 + [2]          # kind 2 (one step in 1000) is the rare one, e.g. a drop
    ids, step_frame, steps = frames_and_steps(kinds)
    changes = step_changes(ids, step_frame, steps)
    uniform = label_steps(steps, 6, 0)
    assert 999 not in uniform.tolist()
    chosen = label_steps(steps, 6, 0, changes, cover=2).tolist()
    assert len(set(chosen)) == 6 and 999 in chosen and any(990 <= s < 999 for s in chosen)
    assert label_steps(steps, 6, 0, changes, cover=2).tolist() == chosen   # the same draw every time


def test_cover_goes_round_again_so_rare_changes_get_several_labels():
    kinds = [0] * 500 + [1] * 3 + [2] * 3
    ids, step_frame, steps = frames_and_steps(kinds)
    changes = step_changes(ids, step_frame, steps)
    chosen = label_steps(steps, 8, 1, changes, cover=6).tolist()
    assert sorted(s for s in chosen if s >= 500) == list(range(500, 506))     # three rounds of both kinds
    # more cover than changed steps: the rest are drawn uniformly, still without repeats
    chosen = label_steps(steps, 20, 1, changes, cover=20).tolist()
    assert len(set(chosen)) == 20 and set(range(500, 506)) <= set(chosen)


def test_changes_must_match_the_steps():
    ids, step_frame, steps = frames_and_steps([0, 1, 2])
    with pytest.raises(ValueError, match="changes has 3 rows for 2 steps"):
        label_steps(steps[:2], 2, 0, step_changes(ids, step_frame, steps), cover=1)
    with pytest.raises(ValueError, match="cover must be >= 0"):
        label_steps(steps, 2, 0, step_changes(ids, step_frame, steps), cover=-1)


def test_world_and_bridge_trainers_choose_the_same_labels(tiny_world_path, tiny_data, tmp_path):
    from trainers.bridge import main

    main(["--world", str(tiny_world_path), "--data", str(tiny_data), "--labels", "50", "--out", str(tmp_path / "w")])
    trained = json.loads((tiny_world_path / "world.json").read_text())["info"]["bridge_label_steps"]
    refitted = json.loads((tmp_path / "w" / "world.json").read_text())["info"]["bridge_label_steps"]
    assert len(trained) == 50 and refitted == trained
