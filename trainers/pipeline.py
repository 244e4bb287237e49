"""From nothing to a world: record -> tokenizer -> latent actions + dynamics + heads (+ bridge) -> ship -> evaluate.

    python -m trainers.pipeline --env MiniGrid-Empty-8x8-v0 --out worlds/empty8

Each stage is the project's own command line, run as a subprocess. Each writes a record of what made it
(WORK/stages/<stage>.json: its arguments and the SHA-256 of the files it read and wrote). Rerunning the same
command reuses a complete stage and resumes an interrupted one (--resume), so it finishes the job after a kill; a
command whose stage would get other arguments or inputs than its record shows is refused, as is an output that
no record explains: choose another --out (and --work). Nothing is relabelled, so the manifest describes what ran.
OUT receives the world its world stage wrote (world.safetensors + world.json, copied as one unit: the world is
assembled once, by the world stage), manifest.json (command, commit, seeds, metrics, stage
times), the evaluation JSON and pictures; recordings and training runs stay under --work.
"""
from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import sys
import textwrap
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from genie_env.config import fail, parse_config, run_cli
from genie_env.io import lock_folder, atomic_write_json, make_folder, read_json, sha256_file
from genie_env.dynamics import TRUNKS
from genie_lab.episodes import start_seed

PRESETS = {
    "default": {"episodes": 300, "expert_episodes": 100, "heldout_episodes": 60, "tokenizer_steps": 2000,
                "world_steps": 12000, "batch_size": 32, "start_states": 16384, "explore_layouts": 200, "legs": 30,
                # rounds 0: in four measured runs a round's fine-tune was worse than the world it came from (docs/RESULTS.md,
                # issue 20 sessions 3-4); the last check still measures the world, and --init runs check it first
                "leg_steps": 20, "rounds": 0, "round_steps": 6000, "check_layouts": 60, "check_states": 600, "check_per_situation": 40,
                "check_play_episodes": 64, "check_play_steps": 640, "evaluate": []},
    "seed": {"episodes": 1000, "expert_episodes": 300, "heldout_episodes": 100, "tokenizer_steps": 6000,
             "world_steps": 30000, "batch_size": 128, "start_states": 16384, "explore_layouts": 600, "legs": 30,
             "leg_steps": 20, "rounds": 2, "round_steps": 10000, "check_layouts": 100, "check_states": 1000, "check_per_situation": 60,
             "check_play_episodes": 128, "check_play_steps": 640, "evaluate": []},
    "tiny": {"episodes": 4, "expert_episodes": 2, "heldout_episodes": 2, "tokenizer_steps": 20,
             "world_steps": 10, "batch_size": 8, "start_states": 8, "explore_layouts": 2, "legs": 3, "leg_steps": 5,
             "rounds": 1, "round_steps": 5, "check_layouts": 2, "check_states": 6, "check_per_situation": 0,
             "check_play_episodes": 2, "check_play_steps": 10,
             # the world evaluation scaled to a world that learned nothing: it shows the stage runs, not figures
             "evaluate": ["--transitions", "200", "--clips", "20", "--rollouts", "4", "--policies", "uniform",
                          "--policy-episodes", "2", "--policy-horizon", "10", "--rule-episodes", "0", "--states", "7",
                          "--state-layouts", "2", "--state-dreams", "2", "--states-per-situation", "0",
                          "--play-episodes", "1", "--play-steps", "10"]},
}

# what each preset is for, as --help says it (measured times are in docs/RESULTS.md, not guessed here)
PRESET_USES = {
    "default": "reaches the acceptance bars from nothing on a 2-core CPU",
    "seed": "the original, larger scale, for a GPU",
    "tiny": "a smoke run that checks every stage runs end to end (an install, a change); on so little data "
            "and training its world learns nothing, and its figures mean nothing",
}

# what the closing figures mean, per preset (the pipeline's last line)
PRESET_MEANS = {
    "default": "the figures above are the world's (the acceptance bars and their measured values: docs/RESULTS.md)",
    "seed": "the figures above are the world's (made for a GPU; the CPU bars are the default preset's)",
    "tiny": "a smoke run: every stage ran; its world learned nothing, so the figures above mean nothing "
            "(expect ~0 dB, a chance-level probe); use --preset default for a world",
}


def presets_help() -> str:
    """The presets for --help: what each is for and its scale, read off PRESETS."""
    lines = ["presets (--preset; default: default; times: see docs/RESULTS.md):"]
    for name, p in PRESETS.items():
        scale = (f"{p['episodes']} training episodes, {p['tokenizer_steps']} tokenizer steps, {p['world_steps']} "
                 f"world steps, check rounds: {p['rounds']} of {p['round_steps']} steps")
        lines += textwrap.wrap(f"{PRESET_USES[name]} ({scale})", 110, initial_indent=f"  {name:8} ",
                               subsequent_indent=" " * 11)
    return "\n".join(lines)


@dataclass
class PipelineConfig:
    env: str = "MiniGrid-Empty-8x8-v0"
    out: str = "worlds/empty8"
    work: str = ""                 # default: runs/pipeline-<name of out>-<hash of its full path>
    preset: str = "default"
    policy: str = "mixture"        # recording policy of the training data (genie_env.policies)
    heldout_policy: str = "wander" # held-out data: a policy that recorded nothing the world trains on
    seed: int = 0                  # training data: seed; held-out data: seed + 1000
    workers: int = 2
    max_steps: int = 0             # cut recorded episodes after this many steps (0: the env's limit; DoorKey-8x8's is 640)
    episodes: int = 0              # training episodes to record (0: the preset's)
    explore_layouts: int = -1      # layouts the Go-Explore recorder covers (genie_lab.explore; -1: the preset's, 0: none)
    world_steps: int = 0           # world training steps (0: the preset's)
    rounds: int = -1               # rounds of checking the world in the real env and training on where it was wrong
                                   # (trainers.check; -1: the preset's, 0: none); they stop early once the error stops falling
    round_steps: int = 0           # world training steps a round (0: the preset's; with --round-from nothing: --world-steps)
    round_from: str = "world"      # what a round trains: "world": on from the last world's weights (a fine-tune of
                                   # --round-steps); "nothing": a new world from nothing on all the data so far, the
                                   # checks' in focus, as long as the first
    check_seed: int = -1           # first seed block of the checks (check-r uses this + r; -1: --seed + 600); a run
                                   # --init from a world checked before takes a fresh block here
    check_layouts: int = 0         # layouts each check explores (0: the preset's)
    check_states: int = 0          # states each check draws uniformly (0: the preset's)
    check_per_situation: int = -1  # and up to this many more of every situation (-1: the preset's)
    check_play_episodes: int = -1  # and this many long uniform-play episodes, every step checked (-1: the preset's, 0: none)
    check_play_steps: int = 0      # steps of each (0: the preset's)
    init: str = ""                 # the world stage trains on from this world's weights (it must hold this run's
                                   # tokenizer), e.g. a shipped world re-made with new data or training code
    trunk: str = "transformer"     # the world's dynamics trunk (trainers.world --trunk): "transformer" or "local"
    latents: str = "anchored"      # "anchored": the 200 bridge labels also anchor latents 0-6 to MiniGrid's actions in
                                   # training; "unsupervised": no label reaches training, the bridge only names them after
    num_actions: int = 0           # latent actions K (0: trainers.world's 8)
    train_labels: int = -1         # with --latents anchored: how many of the 200 labels training reads (-1: all; the
                                   # bridge is fitted on all 200 afterwards); the label-efficiency rows of issue 26
    init_data: list[str] = field(default_factory=list)   # with --init: data of earlier checks (the rounds that world
                                   # trained on, its own last check; name a check's play/ folder too), trained on
                                   # again beside this run's check-0


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def default_work(out) -> Path:
    """runs/pipeline-<name>-<hash of the full path of out>: `--out a/world` and `--out b/world` never share stages."""
    resolved = Path(out).resolve()
    return Path("runs") / f"pipeline-{resolved.name}-{hashlib.sha256(str(resolved).encode()).hexdigest()[:10]}"


def digest(path: Path) -> str:
    """SHA-256 of a stage's input or output file (every file is written once: none is stamped afterwards)."""
    return sha256_file(path)


@dataclass
class Stage:
    name: str
    args: list[str]        # python -m <args>
    outputs: list[Path]    # the stage is complete when all exist
    reads: list[Path]      # upstream outputs it reads: their digests are part of what made it
    resumable: bool        # an interrupted run continues with --resume


def run_stage(stage: Stage, records: Path) -> dict:
    """Run `stage`, or reuse its outputs when its record (records/<name>.json: arguments, digests of what it read
    and of what it wrote) shows that this very command made them. Outputs made by another command, or by anything
    without a record, are refused, never relabelled (issue 12). Returns the record, with "ran" set."""
    record_file = records / f"{stage.name}.json"
    wanted = {"args": stage.args, "reads": {str(p): digest(p) for p in stage.reads}}
    found = read_json(record_file) if record_file.is_file() else None
    if found is not None and {k: found.get(k) for k in wanted} != wanted:
        changed = [k for k in wanted if found.get(k) != wanted[k]]
        raise ValueError(f"stage {stage.name}: {record_file} shows it was made by other {' and '.join(changed)} "
                         f"({'arguments' if 'args' in changed else 'upstream files'}); this command cannot reuse it: "
                         f"choose another --out (and --work)")
    if all(p.exists() for p in stage.outputs):
        made = {str(p): digest(p) for p in stage.outputs}
        if found is None or found.get("outputs") != made:
            raise ValueError(f"stage {stage.name}: {stage.outputs[0]} exists but no record in {records} shows this "
                             f"command made it (or it changed since); choose another --out (and --work)")
        print(f"[pipeline] {stage.name}: done already by the same command and inputs ({stage.outputs[0]})", flush=True)
        return {**found, "ran": False}
    atomic_write_json(record_file, wanted)   # first: an interrupted stage is resumed only by the same command
    command = [sys.executable, "-m", *stage.args]
    folder = stage.outputs[0].parent
    if stage.resumable and folder.is_dir() and any(folder.iterdir()):
        command.append("--resume")
    print(f"[pipeline] {stage.name}: {' '.join(shlex.quote(a) for a in command[1:])}", flush=True)
    start = time.time()
    subprocess.run(command, check=True)
    record = {**wanted, "outputs": {str(p): digest(p) for p in stage.outputs}, "commit": git_commit(),
              "seconds": round(time.time() - start, 1)}
    atomic_write_json(record_file, record)
    return {**record, "ran": True}


# the world trainer's flags for each trunk (its defaults are the transformer's; the local trunk's size is the one
# measured in docs/RESULTS.md, issue 20 session 5: 4.95 MFLOP an env-step)
TRUNK_ARGS = {"transformer": [], "local": ["--trunk", "local", "--dim", "32", "--layers", "8"]}
LATENTS = ("anchored", "unsupervised")
ROUND_FROM = ("world", "nothing")


def world_shape(config) -> list[str]:
    """trainers.world's flags for what kind of world --trunk, --latents and --num-actions ask for."""
    return [*TRUNK_ARGS[config.trunk], *(["--no-anchor-latents"] if config.latents == "unsupervised" else []),
            *(["--num-actions", str(config.num_actions)] if config.num_actions else []),
            *(["--train-labels", str(config.train_labels)] if config.train_labels >= 0 else [])]


def check_sizes(p: dict) -> list[str]:
    """trainers.check's sizes as the preset (after the flags) asks for them."""
    return ["--layouts", str(p["check_layouts"]), "--states", str(p["check_states"]), "--per-situation",
            str(p["check_per_situation"]), "--play-episodes", str(p["check_play_episodes"]), "--play-steps",
            str(p["check_play_steps"])]


def checked_data(found: Path, p: dict) -> list[Path]:
    """The dataset folders a check writes: what it recorded from drawn states, and from play (`found/play`)."""
    return [found] + ([found / "play"] if p["check_play_episodes"] else [])


def first_check_seed(config: PipelineConfig) -> int:
    """The seed block of check-0; check-r uses it + r (--check-seed, or --seed + 600)."""
    return config.seed + 600 if config.check_seed < 0 else config.check_seed


def run_rounds(config: PipelineConfig, p: dict, work: Path, records: Path, tokenizer: Path, world: Path,
               sources: list[Path], done: dict) -> tuple[Path, list[Path], list[dict]]:
    """Active data collection: check the world in the real env from uniformly drawn explorer states
    (trainers.check, fresh seeds each round), record where it is wrong, train on from its weights with that data
    in focus (trainers.world --init), and repeat while the share of states it gets right rises; a last check
    measures the last world. Returns the world to ship, the data folders it was trained on, and each round's
    figures (error, data, time)."""
    common = ["--env", config.env] + (["--max-steps", str(config.max_steps)] if config.max_steps > 0 else [])
    check_seed = first_check_seed(config)
    used, rounds, best = list(sources), [], (world, list(sources))
    for r in range(1, p["rounds"] + 2):
        found = work / "data" / f"round{r}"
        stage = Stage(f"check-{r}", ["trainers.check", "--world", str(world), *common, *check_sizes(p),
                                     "--seed", str(check_seed + r),
                                     "--out", str(found)], [found / "manifest.json", found / "check.json"],
                      [world / "world.json", world / "world.safetensors"], False)
        done[stage.name] = run_stage(stage, records)
        result = read_json(found / "check.json")
        rounds.append({"round": r, "world": str(world), "states": result["states"], "all_right": result["all_right"],
                       "situation_min": result["situation_min"], "wrong_states": result["wrong_states"],
                       **({"play_right": result["play"]["right"], "play_wrong_states": result["play"]["wrong_states"]}
                          if "play" in result else {}),
                       "recorded_steps": result["recorded_steps"], "check_seconds": done[stage.name]["seconds"]})
        if r > 1 and result["all_right"] <= rounds[-2]["all_right"]:
            print(f"[pipeline] round {r}: {world} is no better than the world before it; that one is kept", flush=True)
            return (*best, rounds)
        best = (world, list(used))
        if r > p["rounds"] or not result["recorded_episodes"]:
            break
        used += checked_data(found, p)
        nxt = work / f"world-round{r}"
        if config.round_from == "world":   # on from the last world, this round's check in focus
            start, steps, focus, inputs = ["--init", str(world), "--warmup", "50"], p["round_steps"], 1, [world / "world.safetensors"]
        else:                              # from nothing, every check so far in focus
            start, steps, focus, inputs = [], p["world_steps"], len(used) - len(sources), []
        stage = Stage(f"world-{r}", ["trainers.world", "--data", *map(str, used), "--tokenizer", str(tokenizer), "--out",
                                     str(nxt), "--steps", str(steps), "--batch-size", str(p["batch_size"]),
                                     "--seed", str(config.seed), "--start-states", str(p["start_states"]),
                                     *start, "--focus-data", str(focus), *world_shape(config)],
                      [nxt / "world.json", nxt / "world.safetensors"],
                      [*(folder / "manifest.json" for folder in used), tokenizer, *inputs], True)
        done[stage.name] = run_stage(stage, records)
        rounds[-1]["train_seconds"] = done[stage.name]["seconds"]
        world = nxt
    return (*best, rounds)


def pipeline(config: PipelineConfig, argv: list[str]) -> dict:
    if config.preset not in PRESETS:
        raise ValueError(f"--preset must be one of {sorted(PRESETS)}, got {config.preset!r}")
    p = dict(PRESETS[config.preset])
    for key in ("episodes", "world_steps", "round_steps", "check_layouts", "check_states", "check_play_steps"):
        if getattr(config, key) < 0:
            raise ValueError(f"--{key.replace('_', '-')} must be >= 0 (0: the preset's), got {getattr(config, key)}")
        p[key] = getattr(config, key) or p[key]
    if config.init_data and not config.init:
        raise ValueError("--init-data names data recorded for the --init world; give --init too")
    for folder in config.init_data:
        if not (Path(folder) / "manifest.json").is_file():
            raise ValueError(f"--init-data {folder}: no dataset there (no manifest.json)")
    out = Path(config.out)
    work = Path(config.work) if config.work else default_work(out)
    records = make_folder(work / "stages")
    lock = lock_folder(work)   # noqa: F841  (held until the pipeline returns: a second one into --work is refused)
    make_folder(out)
    for key in ("explore_layouts", "rounds", "check_per_situation", "check_play_episodes"):
        if getattr(config, key) >= 0:
            p[key] = getattr(config, key)
    data, expert, heldout = work / "data" / "train", work / "data" / "expert", work / "data" / "heldout"
    explored = work / "data" / "explore"
    tokenizer, world = work / "tokenizer" / "tokenizer.safetensors", work / "world"
    sources = [data, expert] + ([explored] if p["explore_layouts"] else [])
    manifests = [folder / "manifest.json" for folder in sources]
    common = ["--env", config.env, "--workers", str(config.workers)]
    if config.max_steps > 0:
        common += ["--max-steps", str(config.max_steps)]
    twins = ["--twins"] if config.latents == "unsupervised" else []   # rotated twins: one latent explains a pair
    stages = [
        Stage("record", ["trainers.record", *common, *twins, "--episodes", str(p["episodes"]), "--policy", config.policy,
                         "--seed", str(config.seed), "--out", str(data)], [data / "manifest.json"], [], True),
        Stage("record-expert", ["trainers.record", *common, *twins, "--episodes", str(p["expert_episodes"]), "--policy",
                                "noisy-expert", "--seed", str(config.seed + 500), "--out", str(expert)],
              [expert / "manifest.json"], [], True),
        *([Stage("record-explore", ["trainers.record", *common, "--episodes", str(p["explore_layouts"]), "--policy",
                                    "explore-archive", "--legs", str(p["legs"]), "--leg-steps", str(p["leg_steps"]),
                                    "--seed", str(config.seed + 300), "--episodes-per-shard", "10", "--out", str(explored)],
                  [explored / "manifest.json"], [], True)] if p["explore_layouts"] else []),
        Stage("record-heldout", ["trainers.record", *common, "--episodes", str(p["heldout_episodes"]), "--policy",
                                 config.heldout_policy, "--seed", str(config.seed + 1000), "--out", str(heldout)],
              [heldout / "manifest.json"], [], True),
        # with --init the world stage must keep that world's tokenizer: it is taken from the world, not trained again
        # (a tokenizer trained again on the same frames came out bit-identical once and different once)
        Stage("tokenizer", ["trainers.tokenizer", "--from-world", config.init, "--out", str(tokenizer.parent)],
              [tokenizer], [Path(config.init) / "world.safetensors"], False) if config.init else
        Stage("tokenizer", ["trainers.tokenizer", "--data", *map(str, sources), "--out", str(tokenizer.parent),
                            "--steps", str(p["tokenizer_steps"]), "--seed", str(config.seed)], [tokenizer], manifests, True),
    ]
    check_seed = first_check_seed(config)
    if config.init:   # let the real env check the world trained on first: what it gets wrong is recorded and trained on
        checked = work / "data" / "round0"
        stages.append(Stage("check-0", ["trainers.check", "--world", config.init, "--env", config.env,
                                        *(["--max-steps", str(config.max_steps)] if config.max_steps > 0 else []),
                                        *check_sizes(p), "--seed", str(check_seed),
                                        "--out", str(checked)], [checked / "manifest.json", checked / "check.json"],
                            [Path(config.init) / "world.json", Path(config.init) / "world.safetensors"], False))
        extra = [Path(folder) for folder in config.init_data] + checked_data(checked, p)
        sources, manifests = sources + extra, manifests + [folder / "manifest.json" for folder in extra]   # new
        # lists: the tokenizer stage above keeps reading what it read
    stages += [
        Stage("world", ["trainers.world", "--data", *map(str, sources), "--tokenizer", str(tokenizer), "--out", str(world),
                        "--steps", str(p["world_steps"]), "--batch-size", str(p["batch_size"]), "--seed", str(config.seed),
                        "--start-states", str(p["start_states"]), *world_shape(config),
                        *(["--init", config.init, "--warmup", "50"] if config.init else [])],
              [world / "world.json", world / "world.safetensors"],
              [*manifests, tokenizer, *([Path(config.init) / "world.safetensors"] if config.init else [])], True),
    ]
    done = {stage.name: run_stage(stage, records) for stage in stages}
    world, used, rounds = run_rounds(config, p, work, records, tokenizer, world, sources, done)
    stages = [
        Stage("ship", ["trainers.ship", "--world", str(world), "--out", str(out)], [out / "world.json", out / "world.safetensors"],
              [world / "world.json", world / "world.safetensors"], False),
        Stage("evaluate-tokenizer", ["trainers.evaluate", "tokenizer", "--tokenizer", str(tokenizer), "--data", str(heldout),
                                     "--png", str(out / "tokenizer_reconstructions.png"), "--json", str(out / "eval_tokenizer.json")],
              [out / "eval_tokenizer.json"], [tokenizer, heldout / "manifest.json"], False),
        Stage("evaluate-world", ["trainers.evaluate", "world", "--world", str(out), "--data", str(heldout), "--env", config.env, "--json",
                                 str(out / "eval_world.json"), "--confusion-png", str(out / "confusion.png"), *p["evaluate"]],
              [out / "eval_world.json"], [out / "world.json", out / "world.safetensors", heldout / "manifest.json"], False),
    ]
    done.update({stage.name: run_stage(stage, records) for stage in stages})
    # every stage either ran now or was made earlier by exactly the arguments and inputs this command gives it
    seconds = {name: record["seconds"] for name, record in done.items()}
    manifest = {
        "command": "python -m trainers.pipeline " + " ".join(shlex.quote(a) for a in argv),
        "commit": git_commit(), "config": {**asdict(config), "work": str(work)}, "preset": p,
        "data_seeds": {"train": config.seed, "expert": config.seed + 500, "heldout": config.seed + 1000,
                       **({"explore": config.seed + 300} if p["explore_layouts"] else {}),
                       "start_states": [start_seed(config.seed, 0), start_seed(config.seed, p["start_states"] - 1)]},
        "stages": {name: {"args": r["args"], "reused": not r["ran"], "commit": r["commit"], "seconds": r["seconds"]}
                   for name, r in done.items()},
        "rounds": rounds, "world_used": str(world), "data_used": [str(folder) for folder in used],
        "stage_seconds": seconds, "total_seconds": round(sum(seconds.values()), 1),
        "metrics": {"tokenizer": read_json(out / "eval_tokenizer.json"), "world": read_json(out / "eval_world.json")},
    }
    atomic_write_json(out / "manifest.json", manifest)   # beside the world: a loaded world's info["manifest"]
    return manifest


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    config = parse_config(PipelineConfig, argv, f"{__doc__}\n{presets_help()}", {"preset": sorted(PRESETS),
                                                                                 "trunk": list(TRUNKS), "latents": list(LATENTS),
                                                                                 "round_from": list(ROUND_FROM)},
                          rules={"num_actions": (0, 64, "a count in [0, 64] (0: trainers.world's 8)")})
    try:
        manifest = pipeline(config, argv)
    except (ValueError, subprocess.CalledProcessError) as e:
        fail(f"{e}")
    world = manifest["metrics"]["world"]
    print(json.dumps({k: world[k] for k in ("delta_tpsnr", "probe_accuracy", "nmi", "rollout_correct_at_50")
                      if k in world}, indent=2))
    print(f"[pipeline] world written to {config.out} in {manifest['total_seconds']:.0f} s of stages")
    print(f"[pipeline] preset {config.preset}: {PRESET_MEANS[config.preset]}")


if __name__ == "__main__":
    run_cli(main)
