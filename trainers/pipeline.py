"""From nothing to a world: record -> tokenizer -> latent actions + dynamics + heads -> bridge -> evaluate.

    python -m trainers.pipeline --env MiniGrid-Empty-8x8-v0 --out worlds/empty8

Each stage is the project's own command line, run as a subprocess; a stage whose output is complete is skipped
and an interrupted one resumes (--resume), so rerunning the same command after a kill finishes the job.
OUT receives the world (world.safetensors + world.json), manifest.json (command, commit, seeds, metrics, stage
times), the evaluation JSON and pictures; recordings and training runs stay under --work.
"""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from genie_env.config import parse_config
from genie_env.io import atomic_write_json, read_json

PRESETS = {
    # reaches the acceptance bars from nothing on a 2-core CPU (see docs/RESULTS.md for the measured time)
    "default": {"episodes": 300, "expert_episodes": 100, "heldout_episodes": 60, "tokenizer_steps": 2000,
                "world_steps": 12000, "batch_size": 32},
    # the original scale, for a GPU
    "seed": {"episodes": 1000, "expert_episodes": 300, "heldout_episodes": 100, "tokenizer_steps": 6000,
             "world_steps": 30000, "batch_size": 128},
    # seconds, for tests
    "tiny": {"episodes": 4, "expert_episodes": 2, "heldout_episodes": 2, "tokenizer_steps": 20,
             "world_steps": 10, "batch_size": 4},
}


@dataclass
class PipelineConfig:
    env: str = "MiniGrid-Empty-8x8-v0"
    out: str = "worlds/empty8"
    work: str = ""                 # default: runs/pipeline-<name of out>
    preset: str = "default"
    policy: str = "mixture"        # recording policy of the training data (genie_env.policies)
    heldout_policy: str = "wander" # held-out data: a policy that recorded nothing the world trains on
    seed: int = 0                  # training data: seed; held-out data: seed + 1000
    workers: int = 2


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_stage(name: str, args: list[str], done: Path, resumable: bool, times: dict) -> None:
    if done.exists():
        print(f"[pipeline] {name}: done already ({done})", flush=True)
        return
    command = [sys.executable, "-m", *args]
    if resumable and done.parent.exists() and any(done.parent.iterdir()):
        command.append("--resume")
    print(f"[pipeline] {name}: {' '.join(shlex.quote(a) for a in command[1:])}", flush=True)
    start = time.time()
    subprocess.run(command, check=True)
    times[name] = round(time.time() - start, 1)


def pipeline(config: PipelineConfig, argv: list[str]) -> dict:
    if config.preset not in PRESETS:
        raise ValueError(f"--preset must be one of {sorted(PRESETS)}, got {config.preset!r}")
    p = PRESETS[config.preset]
    out = Path(config.out)
    work = Path(config.work or f"runs/pipeline-{out.name}")
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    times_file = work / "stage_seconds.json"
    times = read_json(times_file) if times_file.exists() else {}
    data, expert, heldout = work / "data" / "train", work / "data" / "expert", work / "data" / "heldout"
    common = ["--env", config.env, "--workers", str(config.workers)]
    stages = [
        ("record", ["trainers.record", *common, "--episodes", str(p["episodes"]), "--policy", config.policy,
                    "--seed", str(config.seed), "--out", str(data)], data / "manifest.json", True),
        ("record-expert", ["trainers.record", *common, "--episodes", str(p["expert_episodes"]), "--policy",
                           "noisy-expert", "--seed", str(config.seed + 500), "--out", str(expert)], expert / "manifest.json", True),
        ("record-heldout", ["trainers.record", *common, "--episodes", str(p["heldout_episodes"]), "--policy", config.heldout_policy,
                            "--seed", str(config.seed + 1000), "--out", str(heldout)], heldout / "manifest.json", True),
        ("tokenizer", ["trainers.tokenizer", "--data", str(data), str(expert), "--out", str(work / "tokenizer"),
                       "--steps", str(p["tokenizer_steps"]), "--seed", str(config.seed)],
         work / "tokenizer" / "tokenizer.safetensors", True),
        ("world", ["trainers.world", "--data", str(data), str(expert), "--tokenizer", str(work / "tokenizer" / "tokenizer.safetensors"),
                   "--out", str(work / "world"), "--steps", str(p["world_steps"]), "--batch-size", str(p["batch_size"]),
                   "--seed", str(config.seed)], work / "world" / "world.json", True),
    ]
    stages.append(("bridge", ["trainers.bridge", "--world", str(work / "world"), "--data", str(data), str(expert),
                               "--out", str(out), "--seed", str(config.seed)], out / "world.json", False))
    for name, args, done, resumable in stages:
        run_stage(name, args, done, resumable, times)
        atomic_write_json(times_file, times)
    run_stage("evaluate-tokenizer", ["trainers.evaluate", "tokenizer", "--tokenizer", str(work / "tokenizer" / "tokenizer.safetensors"),
                                     "--data", str(heldout), "--png", str(out / "tokenizer_reconstructions.png"),
                                     "--json", str(out / "eval_tokenizer.json")], out / "eval_tokenizer.json", False, times)
    run_stage("evaluate-world", ["trainers.evaluate", "world", "--world", str(out), "--data", str(heldout), "--env", config.env,
                                 "--json", str(out / "eval_world.json"), "--confusion-png", str(out / "confusion.png")],
              out / "eval_world.json", False, times)
    atomic_write_json(times_file, times)
    manifest = {
        "command": "python -m trainers.pipeline " + " ".join(shlex.quote(a) for a in argv),
        "commit": git_commit(), "config": asdict(config), "preset": p,
        "data_seeds": {"train": config.seed, "expert": config.seed + 500, "heldout": config.seed + 1000},
        "stage_seconds": times, "total_seconds": round(sum(times.values()), 1),
        "metrics": {"tokenizer": read_json(out / "eval_tokenizer.json"), "world": read_json(out / "eval_world.json")},
    }
    atomic_write_json(out / "manifest.json", manifest)
    # the manifest also travels inside world.json, so a loaded world knows how it was made
    meta = read_json(out / "world.json")
    meta["info"]["manifest"] = {k: manifest[k] for k in ("command", "commit", "data_seeds", "total_seconds")}
    atomic_write_json(out / "world.json", meta)
    return manifest


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    config = parse_config(PipelineConfig, argv, __doc__, {"preset": sorted(PRESETS)})
    try:
        manifest = pipeline(config, argv)
    except (ValueError, subprocess.CalledProcessError) as e:
        sys.exit(f"error: {e}")
    world = manifest["metrics"]["world"]
    print(json.dumps({k: world[k] for k in ("delta_tpsnr", "probe_accuracy", "nmi", "rollout_correct_at_50")
                      if k in world}, indent=2))
    print(f"[pipeline] world written to {config.out} in {manifest['total_seconds']:.0f} s of stages")


if __name__ == "__main__":
    main()
