"""Command lines: flags from a dataclass (one typed config a script, cleanRL style), every value checked before
any work against one table of rules (`RULES`), and one way to fail: an `error:` line naming the flag or file,
exit code 2, no traceback (set GENIE_TRACEBACK=1 to see one)."""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import typing
from pathlib import Path

SEED_MAX = 2**31 - 1     # seeds feed numpy and MiniGrid seed blocks (seed * 1,000,000 + i must stay a 64-bit int)

# (low, high, what it means) by field name: the same name means the same thing in every script. None: unbounded.
# Floats are also refused when not finite. A script whose flag allows more (0 = "the preset's") says so in
# parse_config(rules=...).
_POSITIVE = (1, None, "a count >= 1")
_COUNT0 = (0, None, "a count >= 0")
_SHARE = (0.0, 1.0, "a share in [0, 1]")
_WEIGHT = (0.0, None, "a weight >= 0")
RULES: dict[str, tuple] = {
    **{name: _POSITIVE for name in (
        "batch_size", "checkpoint_every", "code_dim", "codebook_size", "context", "dim", "episodes_per_shard",
        "epochs", "eval_episodes", "eval_every", "hidden", "labels", "lam_dim", "lam_layers", "layers", "layouts",
        "leg_steps", "legs", "max_episode_steps", "minibatches", "n_steps", "num_actions", "num_envs", "states",
        "steps", "warmup", "workers", "bridge_labels", "scale", "bench_steps", "frames", "transitions", "clips",
        "rollouts", "policy_episodes", "rule_horizon", "policy_horizon", "state_layouts", "max_frames", "play_steps", "noop_draws")},
    **{name: _COUNT0 for name in (
        "cover_labels", "focus_data", "hard_rows", "max_steps", "per_situation", "start_states", "episodes",
        "round_steps", "world_steps", "check_layouts", "check_states", "state_dreams", "states_per_situation", "rule_episodes",
        "play_episodes", "check_play_steps")},
    "explore_layouts": (-1, None, "a count >= 0, or -1 for the preset's"),
    "train_labels": (-1, None, "a count >= 0, or -1 for all of --bridge-labels"),
    **{name: (-1, None, "a count >= 0, or -1 for the preset's") for name in ("rounds", "check_per_situation",
                                                                                 "check_play_episodes")},
    **{name: (0, SEED_MAX, f"a seed in [0, {SEED_MAX}]") for name in ("seed", "state_seed")},
    "check_seed": (-1, SEED_MAX, f"a seed in [0, {SEED_MAX}], or -1 for --seed + 600"),
    **{name: _SHARE for name in ("epsilon", "persistence", "gamma", "gae_lambda", "noop_uniform")},
    **{name: (0.0, 0.99, "a share in [0, 0.99]") for name in (
        "val_fraction", "changed_share", "ended_share", "labelled_share", "focus_share", "inverse_share")},
    "ent_coef_final": (-1.0, None, "a weight >= 0, or -1 for a constant --ent-coef"),
    **{name: _WEIGHT for name in (
        "temperature", "ent_coef", "vf_coef", "label_weight", "changed_weight", "batch_entropy", "hard_power")},
    **{name: (1e-12, None, "a value > 0") for name in ("lr", "clip", "max_grad_norm")},
}
OUTPUT_FIELDS = ("out", "json", "png", "gif", "confusion_png")   # paths a script writes: checked writable first


class Parser(argparse.ArgumentParser):
    """argparse, ending a bad command line as every other failure ends: the usage, then one `error:` line."""

    def error(self, message: str) -> typing.NoReturn:
        self.print_usage(sys.stderr)
        fail(message)


def fail(message, code: int = 2) -> typing.NoReturn:
    """End a command line with `error: message` on stderr and exit `code` (2: bad input, as argparse's)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def run_cli(main) -> None:
    """Run a script's main(): Ctrl-C ends it with a line, not a traceback; an unexpected error prints its type
    and message as an `error:` line (exit 1), with the traceback only when GENIE_TRACEBACK=1."""
    try:
        main()
    except KeyboardInterrupt:
        fail("interrupted (Ctrl-C); a resumable run continues with --resume", 130)
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as e:
        if os.environ.get("GENIE_TRACEBACK") == "1":
            raise
        fail(e)
    except Exception as e:  # noqa: BLE001 (the last line of a command line)
        if os.environ.get("GENIE_TRACEBACK") == "1":
            raise
        fail(f"{type(e).__name__}: {e} (set GENIE_TRACEBACK=1 for the traceback)", 1)


def value_problem(name: str, value, rules: dict | None = None) -> str | None:
    """Why `value` is not allowed for the field `name` (None if it is): its rule in RULES (or `rules`), and any
    float must be finite."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value}"
    rule = (rules or {}).get(name, RULES.get(name))
    if rule is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    low, high, meaning = rule
    if (low is not None and value < low) or (high is not None and value > high):
        return f"must be {meaning}, got {value}"
    return None


def output_path_problem(value: str) -> str | None:
    """Why files cannot be written at `value` (None if they can): an existing ancestor that is not a folder."""
    path = Path(value)
    for parent in [path, *path.parents][1:] if path.suffix else [path, *path.parents]:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} is a file, so {value} cannot be written under it"
    return None


def parse_config(cls, argv=None, description: str | None = None, choices: dict | None = None,
                 rules: dict | None = None):
    """Build `cls` from command-line flags named after its fields (`--field-name`); every value is checked
    (`value_problem`, output paths with `output_path_problem`, `device` with genie_env.world_file.resolve_device)
    before the script does any work, and a bad one is argparse's `error:` line and exit code 2."""
    parser = Parser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        flag = "--" + field.name.replace("_", "-")
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        kind = hints[field.name]
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif typing.get_origin(kind) is list:
            parser.add_argument(flag, nargs="+", type=typing.get_args(kind)[0], default=default)
        else:
            parser.add_argument(flag, type=kind, default=default, choices=(choices or {}).get(field.name))
    args = parser.parse_args(argv)
    check_args(parser, args, rules)
    return cls(**vars(args))


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace, rules: dict | None = None) -> None:
    """Hold every parsed flag to its rule; `parser.error` (exit 2) names the first that breaks one."""
    for name, value in vars(args).items():
        flag = "--" + name.replace("_", "-")
        for item in value if isinstance(value, list) else [value]:
            problem = value_problem(name, item, rules)
            if problem is None and name in OUTPUT_FIELDS and isinstance(item, str) and item:
                problem = output_path_problem(item)
            if problem is None and name == "device" and isinstance(item, str):
                from genie_env.world_file import resolve_device

                try:
                    resolve_device(item)
                except ValueError as e:
                    problem = str(e)
            if problem is not None:
                parser.error(f"argument {flag}: {problem}")
