"""Evaluate a tokenizer or a world on held-out recordings (episodes whose seeds training never saw).

    python -m trainers.evaluate tokenizer --tokenizer runs/tok-empty8/tokenizer.safetensors --data data/empty8-heldout --png tok.png
    python -m trainers.evaluate world --world runs/world-empty8 --data data/empty8-heldout --json eval.json

World metrics: reconstruction PSNR; Genie's controllability ΔtPSNR@4; probe accuracy of the action bridge
(latent -> real action, unchanged frames count as 'no-op'); NMI and confusion matrix of latents against true
actions; the share of transitions each latent takes; open-loop rollout fidelity over 50 steps driven by the
real actions through the bridge; precision/recall of the episode-end head and the reward head's error. With
--policies (`under_policies`): rollout fidelity driven by each policy's real actions on unseen seeds through the
documented calls, and on those real transitions the guard's rates, latent consistency and the probe again, per
class (the planner opens doors, which the held-out data may never do). With --states: all seven actions from
states drawn uniformly over an explorer's reach (genie_lab.states). With --play-episodes: long uniform play, every
step dreamed from the real frame before it (genie_lab.lockstep).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from genie_env.config import Parser, check_args, fail, run_cli
from genie_env.dataset import Dataset
from genie_env.frames import check_minigrid_env, psnr
from genie_env.world import check_world_env, load_world_model
from genie_lab.agents import check_same_game, real_time_limit, run_dream_episodes, run_real_episodes, starts_in_bank
from genie_lab.measure import evaluate_policies, heads, probe, rollout_fidelity, save_grid_png, tpsnr
from genie_lab.lockstep import play_checked
from genie_lab.states import evaluate_states


def evaluate_tokenizer(args) -> dict:
    from genie_env.checkpoint import load_model
    from genie_env.tokenizer import Tokenizer, TokenizerConfig

    tokenizer = load_model(args.tokenizer, Tokenizer, TokenizerConfig, "tokenizer")
    data = Dataset.load(args.data)
    frames = data.frames[np.random.default_rng(0).permutation(len(data.frames))[: args.frames]]
    recon, codes = [], []
    for i in tqdm(range(0, len(frames), 512), desc="tokenizer: frames", unit="batch"):
        tokens = tokenizer.encode(torch.from_numpy(frames[i : i + 512]))
        codes.append(tokens.flatten())
        recon.append(tokenizer.decode(tokens).numpy())
    recon = np.concatenate(recon)
    scores = psnr(frames, recon)
    used, perplexity = tokenizer.quantizer.usage(torch.cat(codes))
    result = {"frames": len(frames), "psnr_mean": float(scores.mean()), "psnr_p1": float(np.percentile(scores, 1)),
              "exact_frames": float((frames == recon).all((1, 2, 3)).mean()), "codebook_used": used,
              "codebook_size": tokenizer.config.codebook_size, "perplexity": perplexity}
    if args.png:
        save_grid_png(args.png, [frames[:8], recon[:8]])
    return result


def evaluate_world(args) -> dict:
    world = load_world_model(args.world)
    data = Dataset.load(args.data)
    rng = np.random.default_rng(args.seed)
    episodes = np.arange(data.num_episodes)
    frames = data.frames[rng.permutation(len(data.frames))[: args.transitions]]
    recon = np.concatenate([world.decode(world.encode(frames[i : i + 512])) for i in range(0, len(frames), 512)])
    all_steps = np.arange(len(data.actions))
    steps = rng.permutation(all_steps)[: args.transitions]
    head_steps = np.union1d(steps, all_steps[data.terminated])
    env_id = args.env or data.env_ids[0]
    check_world_env(world, data.env_ids[0], "--data")
    check_world_env(world, env_id, "--env")
    seconds, clock = {}, time.time()

    def part(name: str, value: dict) -> dict:   # each part's time, printed as it ends (progress) and kept
        nonlocal clock
        seconds[name], clock = round(time.time() - clock, 1), time.time()
        print(f"evaluate world: {name} done in {seconds[name]} s", file=sys.stderr, flush=True)
        return value

    result = {"world": str(args.world), "data": args.data, "episodes": data.num_episodes,
              "reconstruction_psnr": float(psnr(frames, recon).mean()),
              **part("tpsnr", tpsnr(world, data, episodes, rng, args.clips)),
              **part("probe", probe(world, data, steps, args.confusion_png)),
              **part("rollouts", rollout_fidelity(world, data, rng.permutation(episodes)[: args.rollouts])),
              **part("heads", heads(world, data, head_steps))}
    if args.policies:
        result["under_policies"] = part("policies", evaluate_policies(
            world, env_id, args.policies, args.policy_episodes, args.policy_seed, args.policy_horizon,
            args.rule_episodes, args.rule_horizon))
    if args.states:
        result["from_states"] = part("states", evaluate_states(
            world, env_id, args.states, args.state_layouts, args.state_seed, args.state_dreams, args.policy_horizon,
            args.states_per_situation))
    if args.play_episodes:
        play = play_checked(world, env_id, args.play_episodes, args.play_steps, args.play_seed)
        play.pop("wrong")   # (seed, prefix) of each wrong state: for a check to record from, not for a report
        result["play"] = part("play", play)
    result["seconds"] = seconds
    return result


def evaluate_agent(args) -> dict:
    from genie_env.agent import Agent
    from genie_env.dream import shared_world

    check_minigrid_env(args.env)
    agent = Agent(args.agent)
    config = agent.info["config"]
    env_actions = bool(config["real_env"]) or config.get("actions", "latent") == "env"   # MiniGrid's own actions
    dream_world = args.world or config["world"]   # the dream it is measured in
    check_same_game(dream_world, args.env, "--env")
    world = None if env_actions else shared_world(config["world"], "cpu")   # read only: the bridge
    torch.manual_seed(args.seed)   # sampled actions are drawn with torch's generator: the same run, the same episodes
    act = lambda frames: agent.act(frames, deterministic=not args.sample)   # noqa: E731
    result = {"agent": str(args.agent), "env": args.env, "trained_in": agent.info["trained_in"],
              "train_seconds": agent.info["train_seconds"], "timesteps": agent.info["timesteps"],
              "acting": "sampled" if args.sample else "greedy",
              **run_real_episodes(act, world, args.env, args.episodes, args.seed)}
    in_bank = starts_in_bank(shared_world(dream_world, "cpu"), args.env, args.episodes, args.seed)
    success = np.array(result["successes"])
    result.update({"start_in_bank": float(in_bank.mean()),   # success split by whether the dream ever started there
                   "success_start_in_bank": float(success[in_bank].mean()) if in_bank.any() else None,
                   "success_start_not_in_bank": float(success[~in_bank].mean()) if (~in_bank).any() else None})
    result.update(run_dream_episodes(act, dream_world, args.episodes, args.seed,
                                     env_actions=env_actions, max_episode_steps=real_time_limit(args.env)))
    return result


def main(argv=None) -> None:
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    tok = sub.add_parser("tokenizer", help="held-out reconstruction of a trained tokenizer")
    tok.add_argument("--tokenizer", required=True)
    tok.add_argument("--data", nargs="+", required=True)
    tok.add_argument("--frames", type=int, default=5000)
    tok.add_argument("--png", default=None, help="write originals (top) above reconstructions (bottom)")
    tok.add_argument("--json", default=None)
    world = sub.add_parser("world", help="controllability, probe, rollouts and heads of a world")
    world.add_argument("--world", required=True)
    world.add_argument("--data", nargs="+", required=True)
    world.add_argument("--transitions", type=int, default=4000)
    world.add_argument("--clips", type=int, default=1000)
    world.add_argument("--rollouts", type=int, default=100)
    world.add_argument("--confusion-png", default=None)
    world.add_argument("--env", default=None, help="real env for the policy rollouts (default: the data's)")
    world.add_argument("--policies", nargs="*", default=["uniform", "wander", "sticky", "noisy-expert"],
                       help="policies that drive real-action rollouts through the documented calls (genie_env.policies)")
    world.add_argument("--policy-episodes", type=int, default=40)
    world.add_argument("--policy-horizon", type=int, default=50)
    world.add_argument("--policy-seed", type=int, default=2_000_000, help="first real seed of those rollouts")
    world.add_argument("--rule-episodes", type=int, default=20,
                       help="episodes per policy whose every state tries all seven actions (0: skip; seeds: policy seed + 5,000)")
    world.add_argument("--rule-horizon", type=int, default=30, help="steps of each of those episodes")
    world.add_argument("--states", type=int, default=600,
                       help="states drawn uniformly from what an explorer reaches on unseen layouts; all seven actions "
                            "tried from each (0: skip; genie_lab.states)")
    world.add_argument("--state-layouts", type=int, default=60, help="layouts (reset seeds) those states come from")
    world.add_argument("--state-seed", type=int, default=7_000_000, help="first of those reset seeds")
    world.add_argument("--state-dreams", type=int, default=100,
                       help="of those states, how many start a uniform-action dream of --policy-horizon steps")
    world.add_argument("--states-per-situation", type=int, default=100,
                       help="also up to this many states of every situation (door locked/closed/open x key lying/"
                            "carried/dropped x room), all seven actions from each (0: skip)")
    world.add_argument("--play-episodes", type=int, default=32,
                       help="long uniform-play episodes on unseen seeds, every step dreamed from the real frame before it "
                            "(0: skip; genie_lab.lockstep): states far from the reset, as play reaches them")
    world.add_argument("--play-steps", type=int, default=640, help="steps of each of those episodes")
    world.add_argument("--play-seed", type=int, default=7_300_000, help="first reset seed of those episodes")
    world.add_argument("--seed", type=int, default=0)
    world.add_argument("--json", default=None)
    agent = sub.add_parser("agent", help="a trained agent's success in the real env (and its return in the dream)")
    agent.add_argument("--agent", required=True, help="folder with policy.safetensors + policy.json")
    agent.add_argument("--env", default="MiniGrid-Empty-8x8-v0")
    agent.add_argument("--episodes", type=int, default=100)
    agent.add_argument("--seed", type=int, default=100_000, help="first real episode seed (training never used these)")
    agent.add_argument("--world", default=None, help="the dream to measure its return in (default: the one it trained in)")
    agent.add_argument("--sample", action="store_true",
                       help="act by sampling from the policy, as PPO trained it (default: its most likely action)")
    agent.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    # a mean over 0 episodes is NaN, which is not even JSON; --states 0 skips the states
    check_args(parser, args, {"episodes": (1, None, "a count >= 1"), "states": (0, None, "a count >= 0 (0: skip)")})
    jobs = {"tokenizer": evaluate_tokenizer, "world": evaluate_world, "agent": evaluate_agent}
    try:
        result = jobs[args.what](args)
    except (ValueError, FileNotFoundError) as e:
        fail(f"{e}")
    print(json.dumps(result, indent=2), flush=True)   # first: a --json that cannot be written loses nothing
    if args.json:
        from genie_env.io import atomic_write_json

        try:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(args.json, result)
        except OSError as e:
            fail(f"cannot write --json {args.json} ({e.strerror}); the result is printed above")


if __name__ == "__main__":
    run_cli(main)
