"""What trainers.evaluate measures of a world: controllability (ΔtPSNR@4), the action probe and confusion, open-loop
rollout fidelity on data and under the real policies, every action from policy states, the guard's rates, latent
consistency, the reward and end heads; and the PNG grids it draws."""
from __future__ import annotations

import numpy as np
import torch

from genie_env.dataset import Dataset
from genie_env.frames import psnr
from genie_env.world import EFFECT_NAMES, ENV_ACTION_NAMES, NOOP, WorldModel
from genie_lab.situations import ahead
from genie_lab.states import CORRECT_DB, dream_every_action


def save_grid_png(path, rows: list[np.ndarray], scale: int = 2) -> None:
    """Save rows of uint8 frames (n, 64, 64, 3) as one PNG, each row left to right."""
    import imageio.v3 as iio

    grid = np.concatenate([np.concatenate(list(row), 1) for row in rows], 0)
    iio.imwrite(path, np.kron(grid, np.ones((scale, scale, 1), np.uint8)))


def tpsnr(world: WorldModel, data: Dataset, episodes: np.ndarray, rng, clips: int, horizon: int = 4) -> dict:
    """ΔtPSNR@horizon: PSNR of the horizon-th dreamed frame with inferred latents minus with random latents."""
    long_enough = episodes[data.lengths[episodes] >= horizon]
    chosen = rng.choice(long_enough, clips)
    starts = np.array([rng.integers(0, data.lengths[e] - horizon + 1) for e in chosen])
    real = np.stack([data.clip(e, s, horizon) for e, s in zip(chosen, starts)])   # (M, H + 1, 64, 64, 3)
    inferred = world.infer_actions(real)
    random_latents = rng.integers(0, world.num_actions, inferred.shape)
    target = real[:, horizon]
    with_inferred = psnr(world.dream(real[:, :1], inferred)[:, -1], target)
    with_random = psnr(world.dream(real[:, :1], random_latents)[:, -1], target)
    return {"tpsnr_inferred": float(with_inferred.mean()), "tpsnr_random": float(with_random.mean()),
            "delta_tpsnr": float(with_inferred.mean() - with_random.mean())}


def probe(world: WorldModel, data: Dataset, steps: np.ndarray, png: str | None) -> dict:
    """probe_scores on recorded steps of a dataset."""
    frames = data.frames[data.context_indices(steps, 1)]                         # (N, 2, 64, 64, 3)
    return probe_scores(world, frames[:, 0], data.actions[steps], frames[:, 1], png)


def probe_scores(world: WorldModel, before: np.ndarray, actions: np.ndarray, after: np.ndarray, png: str | None = None) -> dict:
    """Does the latent inferred from (before, after) do, in `before`, what the real action did? The truth is the
    env action, or no-op where the frame did not change; the latent's effect is the bridge's reading of the
    change it dreams there. Overall and per true class (a rare class cannot hide in the mean)."""
    from sklearn.metrics import normalized_mutual_info_score

    unchanged = (before == after).all((1, 2, 3))
    truth = np.where(unchanged, NOOP, actions)
    latents, predicted = [], []
    for i in range(0, len(before), 512):
        chunk = before[i : i + 512]
        latents.append(world.infer_actions(np.stack([chunk, after[i : i + 512]], 1))[:, 0])
        predicted.append(world.latent_effects(chunk, latents[-1]))
    latents, predicted = np.concatenate(latents), np.concatenate(predicted)
    confusion = np.zeros((world.num_actions, len(EFFECT_NAMES)), np.int64)
    np.add.at(confusion, (latents, truth), 1)
    if png:
        plot_confusion(confusion, png)
    return {"probe_accuracy": float((predicted == truth).mean()), "probe_transitions": len(before),
            "probe_by_class": {EFFECT_NAMES[c]: {"accuracy": float((predicted[truth == c] == c).mean()),
                                                 "transitions": int((truth == c).sum())} for c in np.unique(truth)},
            "nmi": float(normalized_mutual_info_score(truth, latents)),
            "latent_share": (np.bincount(latents, minlength=world.num_actions) / len(latents)).round(4).tolist(),
            "latents_used": int((np.bincount(latents, minlength=world.num_actions) > 0).sum()),
            "classes_present": [EFFECT_NAMES[c] for c in np.unique(truth)],
            "confusion_latent_by_true": confusion.tolist()}


def plot_confusion(confusion: np.ndarray, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.imshow(confusion / np.maximum(confusion.sum(0, keepdims=True), 1), cmap="Blues")
    for (i, j), n in np.ndenumerate(confusion):
        if n:
            ax.text(j, i, str(n), ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(EFFECT_NAMES)), EFFECT_NAMES, rotation=45)
    ax.set_yticks(range(len(confusion)))
    ax.set_xlabel("true action (unchanged frame = no-op)")
    ax.set_ylabel("latent action")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def rollout_fidelity(world: WorldModel, data: Dataset, episodes: np.ndarray, horizon: int = 50) -> dict:
    """Dream from each episode's real first frame, driven by its real actions mapped through the bridge."""
    first = data.frames[data.frame_start[episodes]]
    ids = world.context_ids(first[:, None])
    length = np.minimum(data.lengths[episodes], horizon)
    correct = np.zeros((len(episodes), horizon), bool)
    alive = np.zeros((len(episodes), horizon), bool)
    for t in range(int(length.max())):
        active = length > t
        step = data.step_start[episodes] + np.minimum(t, data.lengths[episodes] - 1)
        latents = world.latents_for(ids, data.actions[step])       # read in the dream's own context
        nxt = world.dream_step(ids, latents)[0]                    # as the env and `dream` step (dream_guard)
        ids = torch.cat([ids[:, 1:], nxt[:, None]], 1)
        real = data.frames[data.frame_start[episodes] + np.minimum(t + 1, data.lengths[episodes])]
        correct[:, t] = psnr(world.ids_to_frames(nxt).cpu().numpy(), real) >= CORRECT_DB
        alive[:, t] = active
    share = lambda t: float(correct[alive[:, t - 1], t - 1].mean()) if alive[:, t - 1].any() else None
    return {"rollout_episodes": len(episodes), "rollout_correct_all": float(correct[alive].mean()),
            **{f"rollout_correct_at_{t}": share(t) for t in (1, 10, 25, 50) if t <= horizon},
            "rollout_episodes_alive_at_50": int(alive[:, horizon - 1].sum()) if horizon >= 50 else None}


def policy_episodes(env_id: str, policy: str, episodes: int, seed: int) -> tuple[list, list, list]:
    """(envs, rngs, policies) for `episodes` real episodes of `policy` (genie_env.policies): episode i is reset on
    seed + i and draws from its own rng [seed, i], so an episode depends only on its own seed."""
    import gymnasium as gym
    import minigrid  # noqa: F401

    from genie_env.policies import make_policy

    envs = [gym.make(env_id) for _ in range(episodes)]
    rngs = [np.random.default_rng([seed, i]) for i in range(episodes)]
    for i, env in enumerate(envs):
        env.reset(seed=seed + i)
    return envs, rngs, [make_policy(policy, rng) for rng in rngs]


def policy_rollouts(world: WorldModel, env_id: str, policy: str, episodes: int, seed: int, horizon: int = 50) -> dict:
    """Drive the dream with a policy's real actions, exactly as a user does, on seeds training never saw.

    Each episode runs the real env under `policy` (genie_env.policies) and, in lockstep, the dream from the same
    first frame: every real action becomes a latent through the documented frame-only call
    `world.env_to_latent_action(dreamed frame, action)` and the dream steps with `world.dream(dreamed frame,
    latent)`. A dreamed frame is correct when it is within CORRECT_DB of the real one. Also returns the real
    transitions seen, (frames before, actions, frames after), for the guard and consistency measurements.
    """
    from genie_env.frames import render_frame

    envs, rngs, policies = policy_episodes(env_id, policy, episodes, seed)
    real = np.stack([render_frame(env) for env in envs])
    dreamed = real.copy()
    previous = [None] * episodes
    alive = np.ones(episodes, bool)
    correct = np.zeros((episodes, horizon), bool)
    exact = np.zeros((episodes, horizon), bool)
    pixel_exact = np.zeros((episodes, horizon), bool)
    was_alive = np.zeros((episodes, horizon), bool)
    before, taken, after = [], [], []
    first_wrong = {}                                  # episode -> the env action whose dreamed frame went wrong first
    for t in range(horizon):
        live = np.flatnonzero(alive)
        if not len(live):
            break
        actions = np.array([policies[i](envs[i], rngs[i], previous[i]) for i in live])
        latents = world.env_to_latent_action(dreamed[live], actions)
        dreamed[live] = world.dream(dreamed[live][:, None], latents[:, None])[:, 0]
        before.append(real[live].copy())
        for i, a in zip(live, actions):
            _, _, terminated, truncated, _ = envs[i].step(int(a))
            real[i] = render_frame(envs[i])
            previous[i] = int(a)
            alive[i] = not (terminated or truncated)
        taken.append(actions)
        after.append(real[live].copy())
        was_alive[live, t] = True
        correct[live, t] = psnr(dreamed[live], real[live]) >= CORRECT_DB
        for i, a in zip(live, actions):
            if not correct[i, t] and i not in first_wrong:
                first_wrong[i] = ENV_ACTION_NAMES[int(a)]
        # exact: the same ids (tile for tile what the tokenizer reads), since decoded pixels are never bit-exact
        exact[live, t] = (world.frames_to_ids(dreamed[live]) == world.frames_to_ids(real[live])).flatten(1).all(1).cpu().numpy()
        pixel_exact[live, t] = (dreamed[live] == real[live]).reshape(len(live), -1).all(1)
    for env in envs:
        env.close()
    # an episode counts at step t when it was still running when that step was taken
    share = lambda t: float(correct[was_alive[:, t - 1], t - 1].mean()) if was_alive[:, t - 1].any() else None
    result = {"policy": policy, "episodes": episodes, "first_seed": seed,
              "correct_all": float(correct[was_alive].mean()), "exact_all": float(exact[was_alive].mean()),
              # the same frame pixel for pixel (worlds with real pixels draw a token-exact frame exactly)
              "pixel_exact_all": float(pixel_exact[was_alive].mean()),
              "pixel_exact_of_token_exact": float(pixel_exact[was_alive & exact].mean()) if (was_alive & exact).any() else None,
              **{f"correct_at_{t}": share(t) for t in (1, 10, 25, 50) if t <= horizon},
              "exact_at_last": float(exact[was_alive[:, -1], -1].mean()) if was_alive[:, -1].any() else None,
              "alive_at_last": int(was_alive[:, -1].sum()), "horizon": horizon,
              # which action the first wrong frame of an episode followed: where the world's rules give way
              "first_wrong_after": {name: sum(v == name for v in first_wrong.values()) for name in ENV_ACTION_NAMES
                                    if name in first_wrong.values()}}
    transitions = (np.concatenate(before), np.concatenate(taken), np.concatenate(after)) if before else None
    return result, transitions


def every_action(world: WorldModel, env_id: str, policy: str, episodes: int, seed: int, horizon: int = 30) -> dict:
    """Every env action from every state `policy` visits in the real env, each tried on a copy of the env, against
    the dream from the same real frame through the documented frame-only calls (`env_to_latent_action(frame,
    action)`, then `dream(frame, latent)`). Rollouts test only the actions a policy took; a world that knows
    MiniGrid's rules gets all seven right wherever the agent stands (toggle with the key two cells from the door,
    pickup with nothing ahead, a turn in the doorway). Returns the share right per action and the situations
    (`genie_lab.situations.ahead`) of the wrong ones."""
    from collections import Counter

    envs, rngs, policies = policy_episodes(env_id, policy, episodes, seed)
    previous = [None] * episodes
    alive, n = np.ones(episodes, bool), len(ENV_ACTION_NAMES)
    right, tried, wrong_where = np.zeros(n, int), np.zeros(n, int), Counter()
    for _ in range(horizon):
        live = np.flatnonzero(alive)
        if not len(live):
            break
        ok = dream_every_action(world, [envs[i] for i in live])
        right, tried = right + ok.sum(0), tried + len(live)
        for j, a in zip(*np.nonzero(~ok)):
            wrong_where[f"{ENV_ACTION_NAMES[a]}: {ahead(envs[live[j]])}"] += 1
        for i in live:
            previous[i] = int(policies[i](envs[i], rngs[i], previous[i]))
            _, _, terminated, truncated, _ = envs[i].step(previous[i])
            alive[i] = not (terminated or truncated)
    for env in envs:
        env.close()
    return {"policy": policy, "episodes": episodes, "first_seed": seed, "horizon": horizon, "states": int(tried[0]),
            "right": float(right.sum() / max(tried.sum(), 1)),
            "right_per_action": {name: float(right[a] / max(tried[a], 1)) for a, name in enumerate(ENV_ACTION_NAMES)},
            "wrong_where": dict(wrong_where.most_common(10))}


def guard_rates(world: WorldModel, transitions) -> dict:
    """How often the dream's change guard acts on real transitions (frames before, env actions, frames after).

    `real_changes_rejected`: the share of real frame changes whose change the guard would call impossible (it
    must be 0: the guard may only refuse what real play never does). `fires`: the share of real steps where
    the dynamics model's own prediction, for the latent the bridge picks, was refused by the guard.
    """
    before, actions, after = transitions
    fired, rejected, changed_count = 0, 0, 0
    for i in range(0, len(before), 512):
        ids_before, ids_after = world.frames_to_ids(before[i : i + 512]), world.frames_to_ids(after[i : i + 512])
        changed = (ids_before != ids_after).flatten(1).any(1)
        real_ok = world.allowed(ids_before, ids_after)
        rejected += int((changed & ~real_ok).sum())
        changed_count += int(changed.sum())
        latents = torch.from_numpy(world.env_to_latent_action(before[i : i + 512], actions[i : i + 512])).to(world.device)
        raw, _, _ = world.step_ids(ids_before[:, None], latents)
        fired += int((~world.allowed(ids_before, raw)).sum())
    return {"guard_transitions": len(before), "guard_fires": fired / max(len(before), 1),
            "guard_real_changes": changed_count, "guard_real_changes_rejected": rejected / max(changed_count, 1)}


def latent_consistency(world: WorldModel, frames: np.ndarray) -> dict:
    """Per latent, over real frames: the share of states where it acts (changes the frame) and, where it acts,
    the share where it does its majority effect (Genie's claim: a latent means the same thing everywhere)."""
    effects = np.stack([np.concatenate([world.latent_effects(frames[i : i + 512], np.full(len(frames[i : i + 512]), k))
                                        for i in range(0, len(frames), 512)]) for k in range(world.num_actions)], 1)
    per_latent = []
    for k in range(world.num_actions):
        acting = effects[:, k][effects[:, k] != NOOP]
        majority = np.bincount(acting, minlength=len(EFFECT_NAMES)).argmax() if len(acting) else NOOP
        per_latent.append({"latent": k, "acts_share": float(len(acting) / len(frames)),
                           "majority_effect": EFFECT_NAMES[majority],
                           "consistency": float((acting == majority).mean()) if len(acting) else 1.0})
    acting = [p for p in per_latent if p["acts_share"] > 0]
    return {"consistency_states": len(frames), "latent_consistency": per_latent,
            "latent_consistency_min": min((p["consistency"] for p in acting), default=1.0)}


def evaluate_policies(world: WorldModel, env_id: str, policies: list[str], episodes: int, seed: int,
                      horizon: int = 50, rule_episodes: int = 0, rule_horizon: int = 30) -> dict:
    """Rollout fidelity under each policy, the guard's rates and latent consistency on the real transitions seen;
    with `rule_episodes`, every action from the states each policy visits (`every_action`, on other seeds)."""
    results, seen, rules = {}, [], {}
    for index, policy in enumerate(policies):
        results[policy], transitions = policy_rollouts(world, env_id, policy, episodes, seed + 10_000 * index, horizon)
        if transitions is not None:
            seen.append(transitions)
        if rule_episodes:
            rules[policy] = every_action(world, env_id, policy, rule_episodes, seed + 10_000 * index + 5_000, rule_horizon)
    out = {"env": env_id, "policies": results,
           "correct_at_last_min": min((r[f"correct_at_{horizon}"] for r in results.values()
                                       if r.get(f"correct_at_{horizon}") is not None), default=None)}
    if rules:
        out.update({"every_action": rules, "every_action_right_min": min(r["right"] for r in rules.values())})
    if seen:
        transitions = tuple(np.concatenate(parts) for parts in zip(*seen))
        out.update(guard_rates(world, transitions))
        before, actions, after = transitions        # the probe on them: every policy's classes (the planner toggles)
        out["probe"] = {k: v for k, v in probe_scores(world, before, actions, after).items() if k != "confusion_latent_by_true"}
        pick = np.random.default_rng(seed).permutation(len(transitions[0]))[:2000]
        out.update(latent_consistency(world, transitions[0][pick]))
    return out


def heads(world: WorldModel, data: Dataset, steps: np.ndarray) -> dict:
    clips = data.frames[data.context_indices(steps, world.context)]               # (N, W + 1, 64, 64, 3)
    ids = world.frames_to_ids(clips)
    with torch.no_grad():
        latents = world.lam.infer(ids)
        _, reward, end_prob = world.step_ids(ids[:, :-1], latents)
    predicted, truth = end_prob.cpu().numpy() > 0.5, data.terminated[steps]
    paid = world.dream_reward(reward, end_prob > 0.5).cpu().numpy()            # what the dream pays
    reward, true_reward = reward.cpu().numpy(), data.rewards[steps]
    tp = int((predicted & truth).sum())
    return {"end_precision": tp / max(int(predicted.sum()), 1), "end_recall": tp / max(int(truth.sum()), 1),
            "end_true": int(truth.sum()), "end_predicted": int(predicted.sum()),
            "reward_mae": float(np.abs(reward - true_reward).mean()),
            "reward_mae_at_end": float(np.abs(reward - true_reward)[truth].mean()) if truth.any() else None,
            "dream_reward_mae": float(np.abs(paid - true_reward).mean())}
