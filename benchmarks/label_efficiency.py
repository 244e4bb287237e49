"""How many labels a world needs (issue 26): one row a world, from its evaluation and a plain-SB3 run in its dream.

    python benchmarks/label_efficiency.py --env MiniGrid-Empty-8x8-v0 \
        --world runs/empty8-unsup/world runs/empty8-l10/world runs/empty8-l50/world genie_env/worlds/empty8 \
        --json docs/results/label_efficiency_empty8.json

Each world folder is a pipeline's --out: its `eval_world.json` (written by `trainers.evaluate world`, unseen seeds)
gives latent consistency, ΔtPSNR@4, the probe through the post-hoc bridge, step 50 under the held-out policies and
all seven actions from states drawn uniformly over an explorer's archive; the labels its training read come from
its `world.json` (0 for a world trained from frames alone; the bridge is always fitted on all of its labels
afterwards). Then `examples/plain_sb3.py` trains plain SB3 PPO in its dream (`--sb3-steps`, 0: skip) and measures
it in the real env through the world's bridge. Nothing here trains a world: make them with
`python -m trainers.pipeline --latents unsupervised` (0 labels) or `--train-labels N`.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from genie_env.config import run_cli

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "plain_sb3.py"


def labels_in_training(world_json: dict) -> int:
    """How many labelled transitions the world's training read (0: latents from frames alone)."""
    config = world_json["info"]["config"]
    if not config.get("anchor_latents", True):
        return 0
    taught = config.get("train_labels", -1)
    return config["bridge_labels"] if taught is None or taught < 0 else min(taught, config["bridge_labels"])


def row(folder: Path) -> dict:
    """The figures of one world folder's evaluation."""
    for name in ("world.json", "eval_world.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder}: no {name} (a world folder that trainers.pipeline wrote, evaluation included)")
    world_json = json.loads((folder / "world.json").read_text())
    ev = json.loads((folder / "eval_world.json").read_text())
    policies = ev["under_policies"]["policies"]
    held_out = {name: p["correct_at_50"] for name, p in policies.items() if name != "noisy-expert"}
    return {
        "world": str(folder), "labels_in_training": labels_in_training(world_json),
        "bridge_labels": world_json["info"]["config"]["bridge_labels"],
        "num_actions": world_json["info"]["config"]["num_actions"],
        "latent_consistency_min": ev["under_policies"]["latent_consistency_min"],
        "latent_consistency": ev["under_policies"]["latent_consistency"],
        "delta_tpsnr": ev["delta_tpsnr"], "probe_accuracy": ev["probe_accuracy"],
        "step50_heldout_policies": held_out,
        "step50_min": min((v for v in held_out.values() if v is not None), default=None),
        "every_action_states": ev["from_states"]["every_action"]["all_right"],
        "every_action_by_situation": ev["from_states"].get("by_situation", {}).get("all_right"),
        "dreams_from_states_at_50": ev["from_states"]["dreams"]["correct_at_50"],
    }


def plain_sb3(folder: Path, env_id: str, steps: int, episodes: int) -> dict:
    """examples/plain_sb3.py in this world's dream, latent actions, measured in the real env."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sb3.json"
        subprocess.run([sys.executable, str(EXAMPLE), "--world", str(folder), "--env", env_id, "--actions", "latent",
                        "--steps", str(steps), "--episodes", str(episodes), "--json", str(out)], check=True)
        return json.loads(out.read_text())


def fmt(value, percent=True) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f} %" if percent else f"{value:.2f}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", nargs="+", required=True, help="world folders written by trainers.pipeline")
    parser.add_argument("--env", default="MiniGrid-Empty-8x8-v0", help="the real env plain SB3 is measured in")
    parser.add_argument("--sb3-steps", type=int, default=50_000, help="plain SB3 steps in each dream (0: skip)")
    parser.add_argument("--episodes", type=int, default=50, help="real episodes each agent is measured on")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    rows = []
    for name in args.world:
        figures = row(Path(name))
        if args.sb3_steps > 0:
            sb3 = plain_sb3(Path(name), args.env, args.sb3_steps, args.episodes)
            figures["sb3_real_success"], figures["sb3_seconds"] = sb3["real_success_rate"], sb3.get("train_seconds")
        rows.append(figures)
    rows.sort(key=lambda r: r["labels_in_training"])
    print("| labels in training | K | least consistent latent | ΔtPSNR@4 | probe | step 50, held-out policies (least) "
          "| all seven actions from drawn states | 50-step dreams from states | plain SB3, real success | world |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print(f"| {r['labels_in_training']} | {r['num_actions']} | {fmt(r['latent_consistency_min'])} | "
              f"{fmt(r['delta_tpsnr'], False)} dB | {fmt(r['probe_accuracy'])} | {fmt(r['step50_min'])} | "
              f"{fmt(r['every_action_states'])} | {fmt(r['dreams_from_states_at_50'])} | "
              f"{fmt(r.get('sb3_real_success'))} | `{r['world']}` |")
    if args.json:
        Path(args.json).write_text(json.dumps({"env": args.env, "sb3_steps": args.sb3_steps, "rows": rows}, indent=1))


if __name__ == "__main__":
    run_cli(main)
