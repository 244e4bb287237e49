"""Issue 10's pieces: tile-level dynamics, label-anchored latents, label propagation, policies, the policy evaluation."""
import re

import numpy as np
import pytest
import torch

from genie_env.dataset import Dataset
from genie_env.dynamics import Dynamics, DynamicsConfig, tile_patterns
from genie_env.bridge import ENV_ACTION_NAMES
from genie_env.nn import CategoricalBottleneck


def test_tiles_round_trip_and_unseen_tiles_read_as_the_nearest_known_one():
    ids = torch.randint(0, 4, (20, 16, 16))
    table = tile_patterns(ids)
    model = Dynamics(DynamicsConfig(vocab_size=5, num_tiles=len(table), dim=32, layers=1))
    model.set_tiles(table)
    assert torch.equal(model.from_tiles(model.to_tiles(ids, exact=True)), ids)
    unseen = ids[:1].clone()
    unseen[0, :2, :2] = torch.tensor([[4, 4], [4, table[0, 3]]])     # three tokens no tile has, one that matches
    with pytest.raises(ValueError, match="tile table"):
        model.to_tiles(unseen, exact=True)
    assert model.to_tiles(unseen)[0, 0, 0] == 0                        # nearest by differing tokens, not an error
    with pytest.raises(ValueError, match="tile table must have shape"):
        model.set_tiles(table[:-1])


def test_dreamed_frames_are_made_of_known_tiles_only():
    torch.manual_seed(0)
    ids = torch.randint(0, 6, (10, 16, 16))
    table = tile_patterns(ids)
    model = Dynamics(DynamicsConfig(vocab_size=6, num_tiles=len(table), dim=32, layers=1)).eval()
    model.set_tiles(table)
    nxt, _, _ = model.step(ids[:4, None], torch.randn(4, model.config.latent_dim), temperature=2.0,
                           generator=torch.Generator().manual_seed(1))
    model.to_tiles(nxt, exact=True)                                    # raises if any tile is not a known pattern


def test_labels_fix_which_code_a_row_takes():
    bottleneck = CategoricalBottleneck(7, 4)
    logits = torch.randn(6, 7, requires_grad=True)
    labels = torch.tensor([3, -1, 0, -1, 6, 2])
    out = bottleneck(logits, labels)
    assert out.indices[[0, 2, 4, 5]].tolist() == [3, 0, 6, 2]
    assert out.indices[1] == logits[1].argmax() and out.indices[3] == logits[3].argmax()
    (out.vectors.sum() + out.supervised).backward()
    assert logits.grad is not None and out.supervised.item() > 0


def test_propagated_labels_agree_with_the_true_actions(tiny_data, tiny_world):
    """Every changed step gets the action an ActionBridge fitted on the labelled ones reads from its change."""
    from genie_lab.labels import propagate_labels

    data = Dataset.load(tiny_data)
    ids = torch.cat([tiny_world.frames_to_ids(data.frames[i : i + 256]) for i in range(0, len(data.frames), 256)]).numpy()
    labelled = np.random.default_rng(0).choice(len(data.actions), 60, replace=False)
    labels = propagate_labels(ids, data, labelled, len(tiny_world.vocab))
    changed = (ids[data.step_frame] != ids[data.step_frame + 1]).reshape(len(data.actions), -1).any(1)
    assert (labels[labelled] == data.actions[labelled]).all()
    free = ~changed & ~np.isin(np.arange(len(labels)), labelled)
    assert (labels[free] == -1).all()
    # the tiny world's tokenizer is weak; the labels must still mostly agree with the truth on changed steps
    assert (labels[changed] == data.actions[changed]).mean() >= 0.8
    with_noop = propagate_labels(ids, data, labelled, len(tiny_world.vocab), noop_code=7)
    assert (with_noop[free] == 7).all() and (with_noop[~free] == labels[~free]).all()


def test_policies_are_deterministic_per_episode_and_named():
    import gymnasium as gym
    import minigrid  # noqa: F401

    from genie_env.policies import POLICIES, make_policy

    env = gym.make("MiniGrid-DoorKey-5x5-v0")
    for name in POLICIES:
        if name == "explore-archive":   # explores whole layouts (genie_lab.explore): no per-episode policy
            with pytest.raises(ValueError, match="explores whole layouts"):
                make_policy(name, np.random.default_rng(0))
            continue
        runs = []
        for _ in range(2):
            env.reset(seed=3)
            rng = np.random.default_rng(7)
            policy, previous, actions = make_policy(name, rng), None, []
            for _ in range(20):
                previous = policy(env, rng, previous)
                actions.append(previous)
                env.step(previous)
            runs.append(actions)
        assert runs[0] == runs[1] and all(0 <= a < 7 for a in runs[0]), name
    with pytest.raises(ValueError, match="unknown policy"):
        make_policy("teleport", np.random.default_rng(0))


def test_policy_rollouts_count_frames_and_the_guard_never_rejects_real_changes(tiny_world):
    from genie_lab.measure import guard_rates, latent_consistency, policy_rollouts

    result, transitions = policy_rollouts(tiny_world, "MiniGrid-Empty-5x5-v0", "wander", episodes=3, seed=5, horizon=6)
    assert result["alive_at_last"] <= 3 and 0 <= result["correct_all"] <= 1 and result["policy"] == "wander"
    # each episode with a wrong frame names the action its first wrong frame followed, once
    wrong_episodes = sum(result["first_wrong_after"].values())
    assert 0 <= wrong_episodes <= 3 and set(result["first_wrong_after"]) <= set(ENV_ACTION_NAMES)
    assert (wrong_episodes == 0) == (result["correct_all"] == 1.0)
    before, actions, after = transitions
    assert len(before) == len(actions) == len(after) >= 6
    rates = guard_rates(tiny_world, transitions)
    assert 0 <= rates["guard_fires"] <= 1 and rates["guard_transitions"] == len(before)
    consistency = latent_consistency(tiny_world, before[:10])
    assert len(consistency["latent_consistency"]) == tiny_world.num_actions


def test_the_probe_on_unseen_policies_real_transitions_scores_every_class():
    """The shipped world reads what real actions did, class by class, on transitions of a policy and seeds it
    never trained on (unchanged frames count as no-op)."""
    from genie_env import load_world_model
    from genie_lab.measure import policy_rollouts, probe_scores

    world = load_world_model("empty8", device="cpu")
    _, (before, actions, after) = policy_rollouts(world, "MiniGrid-Empty-8x8-v0", "uniform", episodes=4, seed=31_000, horizon=25)
    scores = probe_scores(world, before, actions, after)
    assert scores["probe_transitions"] == len(before) == sum(c["transitions"] for c in scores["probe_by_class"].values())
    assert {"left", "right", "forward", "no-op"} <= set(scores["probe_by_class"]) <= {"left", "right", "forward", "no-op"}
    assert scores["probe_accuracy"] >= 0.99, scores["probe_by_class"]
    assert all(c["accuracy"] >= 0.95 for c in scores["probe_by_class"].values()), scores["probe_by_class"]


@pytest.mark.parametrize("name", ["tiny", "empty8", "doorkey8"])
def test_a_dreamed_frame_read_again_gives_back_its_ids(name, tiny_world):
    """Pixels out, pixels in (the documented calls) must not change what the dream dreamed: every tile the world
    can draw is read back as itself."""
    from genie_env import load_world_model
    from genie_env.world_file import WORLDS_DIR

    if name != "tiny" and not (WORLDS_DIR / name / "world.json").is_file():
        pytest.skip(f"no shipped world {name}")
    world = tiny_world if name == "tiny" else load_world_model(name)
    tiles = torch.arange(world.dynamics.config.num_tiles)
    tiles = tiles.repeat(64 // len(tiles) + 1)[:64].view(1, 8, 8)
    ids = world.dynamics.from_tiles(torch.cat([tiles, tiles.flip(-1), tiles.transpose(1, 2)]))   # every known tile
    assert torch.equal(world.frames_to_ids(world.ids_to_frames(ids).numpy()), ids)


def small_lam_and_dynamics(frames: int):
    """(lam, dynamics, ids (frames, 16, 16)): a K = 8 LAM and a dynamics model over 4 tokens, seeded."""
    from genie_env.latent_action import LatentActionConfig, LatentActionModel

    torch.manual_seed(0)
    lam = LatentActionModel(LatentActionConfig(vocab_size=4, num_actions=8, dim=32, layers=1))
    ids = torch.randint(0, 4, (frames, 16, 16))
    dynamics = Dynamics(DynamicsConfig(vocab_size=4, num_tiles=len(tile_patterns(ids)), latent_dim=lam.config.latent_dim,
                                       dim=32, layers=1))
    dynamics.set_tiles(tile_patterns(ids))
    return lam, dynamics, ids


def test_unchanged_steps_train_other_latents_to_change_nothing():
    """A batch of unlabelled steps that changed nothing (code 7): without counterfactual no-ops only code 7's
    vector learns from them; with them, the drawn codes do too (the dynamics model sees them change nothing)."""
    from genie_lab.brain import Brain

    grads = {}
    for noop_code in (None, 7):
        lam, dynamics, ids = small_lam_and_dynamics(64)
        brain = Brain(lam, dynamics, noop_code=noop_code)
        clip = torch.stack([ids, ids], 1)                       # nothing changed
        loss, _ = brain(clip, torch.zeros(64), torch.zeros(64, dtype=torch.bool), torch.full((64,), 7))
        loss.backward()
        grads[noop_code] = lam.action_vectors.grad.abs().sum(1)
    assert (grads[None][:7] == 0).all() and grads[None][7] > 0
    assert (grads[7][:7] > 0).sum() >= 5                         # 64 uniform draws over 8 codes reach most of them


def test_a_labelled_step_that_changed_nothing_moves_the_dynamics_but_reads_as_nothing_changed():
    """Forward into a wall, labelled: the dynamics model receives "forward" (so it learns walls stop it), while
    the LAM, which sees only the frames, is taught "nothing changed" (code 7) there; a changed labelled step
    keeps its label for both."""
    from genie_lab.brain import Brain

    lam, dynamics, ids = small_lam_and_dynamics(2)
    clip = torch.stack([ids, ids], 1)
    clip[1, 1] = (clip[1, 0] + 1) % 4                       # row 0 unchanged, row 1 changed
    labels = torch.tensor([2, 2])
    seen = {}
    dynamics.register_forward_hook(lambda module, args, out: seen.update(vectors=args[1].detach()))
    brain = Brain(lam, dynamics, noop_code=7)
    brain.eval()                                            # no counterfactual rows: only the two steps
    _, metrics = brain(clip, torch.zeros(2), torch.zeros(2, dtype=torch.bool), labels)
    assert torch.allclose(seen["vectors"], lam.action_vectors[[2, 2]])      # the dynamics model gets "forward" twice
    logits = lam.encode(clip).float()
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([7, 2]))
    assert metrics["loss/latent_labels"] == pytest.approx(expected.item(), rel=1e-5)
    _, metrics = Brain(lam, dynamics).eval()(clip, torch.zeros(2), torch.zeros(2, dtype=torch.bool), labels)
    assert metrics["loss/latent_labels"] == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item(), rel=1e-5)


def test_noop_rows_are_the_unlabelled_unchanged_steps_only():
    from genie_env.latent_action import LatentActionConfig, LatentActionModel
    from genie_lab.brain import Brain

    lam = LatentActionModel(LatentActionConfig(vocab_size=4, num_actions=8, dim=32, layers=1))
    dynamics = Dynamics(DynamicsConfig(vocab_size=4, num_tiles=4, latent_dim=lam.config.latent_dim, dim=32, layers=1))
    dynamics.set_tiles(tile_patterns(torch.randint(0, 4, (50, 16, 16)))[:4])
    clip = torch.randint(0, 4, (5, 2, 16, 16))
    clip[:4, 1] = clip[:4, 0]                                # rows 0-3 unchanged, row 4 changed
    labels = torch.tensor([7, 2, 7, 7, 7])                   # row 1 is labelled (forward into a wall)
    ended = torch.tensor([False, False, False, True, False]) # row 3 ended the episode
    for uniform in (1.0, 0.25):
        rows, codes = Brain(lam, dynamics, noop_code=7, noop_uniform=uniform).noop_rows(clip, ended, labels)
        assert rows.tolist() == [0, 2] and ((codes >= 0) & (codes < 8)).all()
    assert Brain(lam, dynamics).noop_rows(clip, ended, labels) is None


def test_counterfactual_noops_never_ask_a_code_seen_acting_from_that_frame_to_stand_still():
    """Frame A is seen turned by code 0 and unchanged once; frame C only unchanged. The unchanged step at A may be
    redrawn with any code but 0; the one at C with any; the draws follow."""
    from genie_env.latent_action import LatentActionConfig, LatentActionModel
    from genie_lab.labels import steps_beside_still, still_codes
    from genie_lab.brain import Brain

    a, b, c = (np.full((16, 16), v, np.int16) for v in (0, 1, 2))
    ids = np.stack([a, b, a, a, c, c])                       # steps: A->B, A->A, C->C (frames 0-1, 2-3, 4-5)
    step_frame = np.array([0, 2, 4])
    labels = np.array([0, 7, 7])
    still = still_codes(ids, step_frame, labels, 8)
    assert still.tolist() == [[False] + [True] * 7, [False] + [True] * 7, [True] * 8]
    assert steps_beside_still(ids, step_frame, np.arange(3)).tolist() == [0]   # A->B: its frame A also stands still

    lam = LatentActionModel(LatentActionConfig(vocab_size=4, num_actions=8, dim=32, layers=1))
    dynamics = Dynamics(DynamicsConfig(vocab_size=4, num_tiles=4, latent_dim=lam.config.latent_dim, dim=32, layers=1))
    dynamics.set_tiles(tile_patterns(torch.randint(0, 4, (50, 16, 16)))[:4])
    clip = torch.zeros(400, 2, 16, 16, dtype=torch.long)    # all unchanged, unlabelled
    candidates = torch.ones(400, 8, dtype=torch.bool)
    candidates[:200, :3] = False                             # rows 0-199: codes 0, 1, 2 act there
    rows, codes = Brain(lam, dynamics, noop_code=7).noop_rows(clip, torch.zeros(400, dtype=torch.bool),
                                                               torch.full((400,), 7), candidates)
    assert (codes[rows < 200] >= 3).all() and (codes[rows >= 200] < 3).any()
    assert (codes != 7).all()                                # "nothing changed" is the row's own latent already

    candidates[:100] = False
    candidates[:100, [4, 7]] = True                          # rows 0-99: only code 4 may stand still besides 7
    candidates[100:110] = False
    candidates[100:110, 7] = True                            # rows 100-109: every other code acts there
    rows, codes = Brain(lam, dynamics, noop_code=7, noop_draws=3).noop_rows(
        clip, torch.zeros(400, dtype=torch.bool), torch.full((400,), 7), candidates)
    per_row = torch.bincount(rows, minlength=400)
    assert per_row[:100].eq(1).all() and (codes[rows < 100] == 4).all()
    assert per_row[100:110].eq(1).all() and (codes[(rows >= 100) & (rows < 110)] == 7).all()
    assert per_row[110:].eq(3).all() and (codes[rows >= 110] != 7).all()
    pairs = rows * 8 + codes
    assert len(pairs.unique()) == len(pairs)                 # distinct codes within a row


def test_hard_steps_draw_by_last_seen_loss_and_unseen_steps_first():
    from genie_lab.batches import HardSteps

    hard = HardSteps(np.array([3, 5, 9, 11]))
    rng = np.random.default_rng(0)
    hard.update(np.array([3, 5, 9]), torch.tensor([0.01, 0.01, 10.0]))   # 11 not seen: counts as the largest (10)
    draws = hard.draw(rng, 2000)
    assert set(draws.tolist()) <= {3, 5, 9, 11}
    assert 0.4 < (draws == 9).mean() < 0.6 and 0.4 < (draws == 11).mean() < 0.6 and (draws == 3).mean() < 0.01
    hard.update(np.array([11]), torch.tensor([0.0]))
    assert (hard.draw(rng, 500) == 9).mean() > 0.95


def test_expert_then_random_plans_until_its_switch_then_acts_uniformly():
    import gymnasium as gym
    import minigrid  # noqa: F401

    from genie_env.policies import ExpertThenRandom, expert_action, make_policy

    env = gym.make("MiniGrid-DoorKey-8x8-v0")
    switches = []
    for seed in range(40):
        env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        policy = ExpertThenRandom(rng)
        switches.append(policy.switch)
        planned, later = [], []
        for t in range(policy.switch + 30):
            expected = expert_action(env)
            action = policy(env, rng, None)
            (planned if t < policy.switch else later).append(action == expected)
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
        assert all(planned), seed
        if len(later) >= 20:   # uniform actions agree with the planner about 1 time in 7, never always
            assert np.mean(later) < 0.6, seed
    assert 0 <= min(switches) and max(switches) < ExpertThenRandom.MAX_SWITCH and len(set(switches)) > 10
    assert isinstance(make_policy("expert-then-random", np.random.default_rng(0)), ExpertThenRandom)


def test_every_action_tries_all_seven_from_each_visited_state(tiny_world):
    from genie_lab.measure import every_action

    result = every_action(tiny_world, "MiniGrid-Empty-5x5-v0", "wander", episodes=2, seed=5, horizon=4)
    assert set(result["right_per_action"]) == set(ENV_ACTION_NAMES) and 1 <= result["states"] <= 8
    assert 0 <= result["right"] <= 1 and all(0 <= v <= 1 for v in result["right_per_action"].values())
    wrong = round((1 - result["right"]) * 7 * result["states"])
    assert sum(result["wrong_where"].values()) <= wrong and (wrong == 0) == (not result["wrong_where"])
    assert all(where.split(":")[0] in ENV_ACTION_NAMES for where in result["wrong_where"])


def test_the_shipped_empty_world_dreams_every_action_right_from_unseen_states():
    """Not only the actions a policy took: all seven, from every state it visits (Empty's rules: turns always act,
    forward unless a wall is ahead, the rest never)."""
    from genie_env import load_world_model
    from genie_lab.measure import every_action

    result = every_action(load_world_model("empty8", device="cpu"), "MiniGrid-Empty-8x8-v0", "uniform", episodes=3,
                          seed=41_000, horizon=12)
    assert result["states"] >= 12 and result["right"] == 1.0, result["wrong_where"]


def test_situation_names_what_the_rules_read():
    import gymnasium as gym
    import minigrid  # noqa: F401
    from minigrid.core.world_object import Key

    from genie_lab.situations import ahead as situation

    env = gym.make("MiniGrid-DoorKey-5x5-v0")
    env.reset(seed=0)
    u = env.unwrapped
    u.grid.set(*u.front_pos, Key("yellow"))
    assert situation(env) == "ahead key, carrying nothing"
    u.grid.set(*u.front_pos, None)
    u.carrying = Key("yellow")
    assert situation(env) == "ahead empty, carrying key"


def test_an_unsupervised_world_learns_from_frames_alone(tiny_data, tiny_tokenizer, tmp_path):
    """--no-anchor-latents (issue 26): no label reaches training, so which steps are labelled (and how many)
    changes the bridge fitted afterwards and nothing the LAM or the dynamics model learned; the last code is
    "nothing changed" (read off the frames), so the world learned where actions do nothing and needs no guard."""
    from genie_env import load_world_model
    from trainers.world import TrainWorldConfig, train

    worlds = []
    for labels in (50, 12):
        out = tmp_path / f"labels{labels}"
        train(TrainWorldConfig(data=[str(tiny_data)], tokenizer=str(tiny_tokenizer), out=str(out), steps=6,
                               batch_size=8, eval_every=6, checkpoint_every=6, lam_dim=32, dim=32, layers=1,
                               bridge_labels=labels, start_states=8, anchor_latents=False, num_actions=4))
        worlds.append(load_world_model(out))
    a, b = worlds
    assert a.num_actions == 4 and not a.anchored and not a.applies_guard
    for mine, theirs in ((a.lam, b.lam), (a.dynamics, b.dynamics)):
        for (name, x), y in zip(mine.state_dict().items(), theirs.state_dict().values()):
            assert torch.equal(x, y), name
    assert a.info["bridge_label_steps"] != b.info["bridge_label_steps"]

    # --train-labels 0 of 50 is the same training: the 50 fit the bridge only
    out = tmp_path / "taught0"
    train(TrainWorldConfig(data=[str(tiny_data)], tokenizer=str(tiny_tokenizer), out=str(out), steps=6,
                           batch_size=8, eval_every=6, checkpoint_every=6, lam_dim=32, dim=32, layers=1,
                           bridge_labels=50, start_states=8, num_actions=8, train_labels=0))
    c = load_world_model(out)
    assert not c.anchored and c.info["bridge_label_steps"] == a.info["bridge_label_steps"]


def test_a_barred_code_is_never_taken_and_its_share_is_pushed_down():
    """CategoricalBottleneck targets -2 - c: free, but not code c (an unsupervised world's changed steps may not be
    "nothing changed"); the loss is -log(1 - p_c) there, zero-gradient-free on forced rows as before."""
    from genie_env.nn import CategoricalBottleneck

    torch.manual_seed(0)
    bottleneck = CategoricalBottleneck(4, 8, batch_entropy=0.0)
    logits = torch.randn(6, 4, requires_grad=True)
    with torch.no_grad():
        logits[:, 3] += 10.0                                  # every row's argmax would be code 3
    targets = torch.tensor([3, 3, -5, -5, -5, -1])            # two forced to 3, three barred from 3, one free
    out = bottleneck(logits, targets)
    assert out.indices[:2].tolist() == [3, 3] and (out.indices[2:5] != 3).all() and out.indices[5] == 3
    probs = torch.softmax(logits.float(), -1)
    expected = torch.nn.functional.cross_entropy(logits[:2], targets[:2]) - torch.log1p(-probs[2:5, 3]).mean()
    assert out.supervised.item() == pytest.approx(expected.item(), rel=1e-5)
    out.supervised.backward()
    assert (logits.grad[2:5, 3] > 0).all()                   # descending the loss lowers the barred code's logit


def test_an_unsupervised_world_trains_with_rival_steps(tiny_data, tiny_tokenizer, tmp_path, capsys):
    """--rival-share (issue 26): steps that left one frame two ways bring each other into the batch, the pairing
    redrawn during training; the world trains, counts its rivals and loads."""
    from genie_env import load_world_model
    from trainers.world import TrainWorldConfig, train

    out = tmp_path / "rival"
    train(TrainWorldConfig(data=[str(tiny_data)], tokenizer=str(tiny_tokenizer), out=str(out), steps=6,
                           batch_size=8, eval_every=6, checkpoint_every=6, lam_dim=32, dim=32, layers=1,
                           bridge_labels=50, start_states=8, anchor_latents=False, num_actions=4,
                           changed_share=0.25, rival_share=0.25, cycle_share=0.0))
    rivals = re.search(r"(\d+) with a rival", capsys.readouterr().out)
    assert rivals and int(rivals.group(1)) > 0
    assert load_world_model(out).num_actions == 4


def test_the_cpu_tile_reading_equals_the_branch_free_one():
    """On the CPU only groups with no exact match are searched for their nearest pattern; the branch-free reading
    (every group searched, as on a GPU) gives the same tiles."""
    torch.manual_seed(0)
    model = Dynamics(DynamicsConfig(vocab_size=8, num_tiles=16))
    model.set_tiles(tile_patterns(torch.randint(0, 8, (64, 16, 16)))[:16])
    ids = model.from_tiles(torch.randint(0, 16, (5, 8, 8)))
    ids[:, ::3, ::5] = torch.randint(0, 8, ids[:, ::3, ::5].shape)        # some groups no longer a known pattern
    flat = ids.view(5, 8, 2, 8, 2).permute(0, 1, 3, 2, 4).reshape(-1, 4)
    everywhere = model._nearest(flat).view(5, 8, 8)
    tiles = model.to_tiles(ids)
    known = (flat[:, None, :] == model.tile_table[None]).all(-1)
    assert (~known.any(1)).any()                                           # the test does read unseen groups
    assert torch.equal(tiles.flatten()[~known.any(1)], everywhere.flatten()[~known.any(1)])
    assert torch.equal(model.tile_table[tiles.flatten()][known.any(1)], flat[known.any(1)])   # known: itself
