"""How fast is a dream? The real MiniGrid, GenieDream-v0 and its batched vector env, side by side in one run.

    python benchmarks/dream_speed.py                                   # the shipped world
    python benchmarks/dream_speed.py --world PATH --seconds 5 --sizes 1 8 64 256 --json speed.json
    python benchmarks/dream_speed.py --cuda-sizes 1024 4096 16384 --peak-tflops 989   # an H100's dense bf16 peak

Measured: (a) the real MiniGrid-Empty-8x8-v0 in one process, rendering each step's 64x64 frame (what the dream
delivers as its observation); (b) one GenieDream-v0 env; (c) the vector env at each of `--sizes` worlds (on CUDA
`--cuda-sizes`, up to 16k) stepped in one forward pass, with numpy observations ("vector") and with torch
observations on the device ("vector torch": actions drawn on the device too); (d) the vector env with real env
actions (`actions="env"`) at `--env-action-sizes`; (b)-(d) on CPU, and (b)-(c) on CUDA when present. Every
measurement warms up first, then takes random actions for `--seconds` and reports env-steps per second (a vector
step of N worlds counts N). Memory: the process's peak RSS so far (getrusage cannot be
reset, so it only grows down the table) and, on CUDA, torch's peak allocation during the measurement.

FLOPs: one env-step of the dream (the dynamics forward and the bridge's guard, as `WorldModel.dream_step` runs
them) is counted with torch's FlopCounterMode (matrix products and attention: 2 FLOPs a multiply-add); the table
shows the FLOP rate each row reaches and, given `--peak-tflops` (the card's peak for the precision used), the
share of that peak. `--compile-mode` and `--precision` set the GPU speed options of the vector env's CUDA rows.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from functools import partial

import gymnasium as gym
import minigrid  # noqa: F401  (registers the MiniGrid envs)
import numpy as np
import torch

from genie_env.config import run_cli
import genie_env  # noqa: F401  (registers GenieDream-v0)
from genie_env.frames import render_frame
from genie_env.io import atomic_write_json

REAL_ENV = "MiniGrid-Empty-8x8-v0"
WARMUP_CALLS = 5   # first calls pay for lazy set-up (allocator, CUDA kernels, caches), not for stepping


def synchronize() -> None:
    """Wait for queued CUDA work, so a clock read after it counts the work (a no-op without CUDA)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def steps_per_second(step, seconds: float) -> float:
    """Call `step()` (it returns the env-steps it took) for `seconds` after a warm-up; return env-steps per second."""
    for _ in range(WARMUP_CALLS):
        step()
    synchronize()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        count += step()
    synchronize()
    return count / (time.perf_counter() - start)


def single_env_step(env, render: bool):
    """A step function for one env with random actions, resetting on episode end; optionally render the frame."""
    env.reset(seed=0)
    env.action_space.seed(0)

    def step() -> int:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if render:
            render_frame(env)
        if terminated or truncated:
            env.reset()
        return 1

    return step


def vector_env_step(envs):
    """A step function for a vector env with random actions (it restarts ended worlds itself, next-step autoreset);
    with torch observations the actions are drawn on the device, so nothing crosses to the host."""
    envs.reset(seed=0)
    envs.action_space.seed(0)
    core = envs.unwrapped
    if core.obs_backend == "torch":
        generator = torch.Generator(core.device).manual_seed(0)
        draw = lambda: torch.randint(core.single_action_space.n, (envs.num_envs,), generator=generator,  # noqa: E731
                                     device=core.device)
    else:
        draw = envs.action_space.sample

    def step() -> int:
        envs.step(draw())
        return envs.num_envs

    return step


def real_env():
    env = gym.make(REAL_ENV)
    return env, single_env_step(env, render=True)


def dream_env(world, device: str, memo: int):
    env = gym.make("GenieDream-v0", world=world, device=device, memo=memo)
    return env, single_env_step(env, render=False)


def dream_vector_env(world, device: str, num_envs: int, obs_backend: str = "numpy", actions: str = "latent",
                     memo: int = 32768, **speed):
    envs = gym.make_vec("GenieDream-v0", num_envs=num_envs, vectorization_mode="vector_entry_point", world=world,
                        device=device, obs_backend=obs_backend, actions=actions, memo=memo, **speed)
    return envs, vector_env_step(envs)


def dream_step_flops(world, device: str, batch: int = 64) -> float:
    """FLOPs of one env-step of the dream (`WorldModel.dream_step`: dynamics forward, guard, bridge classes),
    counted by torch's FlopCounterMode on a batch of start frames and divided by the batch."""
    from torch.utils.flop_counter import FlopCounterMode

    from genie_env.dream import shared_world

    model = shared_world(world, device)
    frames = model.start_frame(np.arange(batch) % len(model.start_ids))
    ids = model.context_ids(frames[:, None])
    latents = torch.arange(batch, device=model.device) % model.num_actions
    with FlopCounterMode(display=False) as counter:
        model.dream_step(ids, latents)
    return counter.get_total_flops() / batch


def measure(name: str, device: str, num_envs: int, make, seconds: float) -> dict:
    """Build an env with `make()` -> (env, step function), time it and return one row of the table."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    env, step = make()
    speed = steps_per_second(step, seconds)
    memo = getattr(getattr(env.unwrapped, "core", None), "memo", None)
    env.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
    return {"env": name, "device": device, "num_envs": num_envs, "env_steps_per_s": speed, "peak_rss_mb": rss_mb,
            "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
            "memo_hit_rate": memo.hit_rate if memo is not None else None}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine_info() -> dict:
    return {"cpu": cpu_name(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "gymnasium": gym.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def add_flop_rates(rows: list[dict], flops_per_step: float, peak_tflops: float | None) -> None:
    """Each dream row's FLOP rate (GFLOP/s: the steps it computed, not those the memo remembered) and, given the
    card's peak, its share of that peak."""
    for r in rows[1:]:
        computed = 1.0 - (r.get("memo_hit_rate") or 0.0)
        r["gflops_per_s"] = r["env_steps_per_s"] * computed * flops_per_step / 1e9
        r["peak_share"] = r["gflops_per_s"] / (peak_tflops * 1e3) if peak_tflops and r["device"] == "cuda" else None


def markdown_table(rows: list[dict]) -> str:
    real = rows[0]["env_steps_per_s"]
    lines = ["| env | device | envs | env-steps/s | x real | memo hits | GFLOP/s | % peak | peak RSS MB | peak CUDA MB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        cuda = f"{r['peak_cuda_mb']:.0f}" if r["peak_cuda_mb"] is not None else "-"
        gflops = f"{r['gflops_per_s']:,.1f}" if r.get("gflops_per_s") is not None else "-"
        share = f"{100 * r['peak_share']:.2f}" if r.get("peak_share") is not None else "-"
        hits = f"{100 * r['memo_hit_rate']:.0f} %" if r.get("memo_hit_rate") is not None else "-"
        lines.append(f"| {r['env']} | {r['device']} | {r['num_envs']} | {r['env_steps_per_s']:,.0f} | "
                     f"{r['env_steps_per_s'] / real:.2f} | {hits} | {gflops} | {share} | {r['peak_rss_mb']:.0f} | {cuda} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default=None, help="a shipped world's name or a world folder (default: the shipped one)")
    parser.add_argument("--seconds", type=float, default=3.0, help="time budget of each measurement")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 64, 256], help="vector env sizes on the CPU")
    parser.add_argument("--cuda-sizes", type=int, nargs="+", default=[256, 1024, 4096, 16384],
                        help="vector env sizes on CUDA")
    parser.add_argument("--env-action-sizes", type=int, nargs="*", default=[64],
                        help="vector env sizes also measured with actions='env' (real env actions, numpy observations)")
    parser.add_argument("--backends", nargs="+", choices=["numpy", "torch"], default=["numpy", "torch"],
                        help="observation backends of the vector env rows")
    parser.add_argument("--compile-mode", default=None, help="torch.compile mode of the CUDA vector rows' dream step "
                        "('reduce-overhead': CUDA graphs); default off")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"],
                        help="dynamics precision of the CUDA vector rows")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the card's peak TFLOP/s for the precision used, to report the share reached")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice); on busy cores fewer threads can be faster")
    parser.add_argument("--memo", type=int, default=32768,
                        help="greedy steps each env remembers on the CPU (genie_env.memo; 0: none, every step a forward pass)")
    parser.add_argument("--json", default=None, help="also write the results and machine info here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    rows = [measure(REAL_ENV, "cpu", 1, real_env, args.seconds)]
    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        sizes, speed = (args.sizes, {}) if device == "cpu" else \
            (args.cuda_sizes, {"compile_mode": args.compile_mode, "precision": args.precision})
        rows.append(measure("GenieDream-v0", device, 1, partial(dream_env, args.world, device, args.memo), args.seconds))
        for backend in args.backends:
            name = "GenieDream-v0 vector" + (" torch" if backend == "torch" else "")
            rows += [measure(name, device, n, partial(dream_vector_env, args.world, device, n, backend, memo=args.memo,
                                                      **speed), args.seconds)
                     for n in sizes]
        rows += [measure("GenieDream-v0 vector actions=env", device, n,
                         partial(dream_vector_env, args.world, device, n, "numpy", "env", memo=args.memo, **speed),
                         args.seconds)
                 for n in (args.env_action_sizes if device == "cpu" else [])]
    flops_per_step = dream_step_flops(args.world, "cpu")
    add_flop_rates(rows, flops_per_step, args.peak_tflops)

    print(markdown_table(rows))
    print(f"one dream env-step: {flops_per_step / 1e6:.2f} MFLOP (FlopCounterMode: matrix products and attention)"
          + (f"; a step the memo remembers costs none (hit rates in the table; --memo 0 for none)" if args.memo else ""))
    if args.json:
        atomic_write_json(args.json, {"machine": machine_info(), "world": args.world, "seconds": args.seconds,
                                      "flops_per_env_step": flops_per_step, "peak_tflops": args.peak_tflops,
                                      "speed_options": {"compile_mode": args.compile_mode, "precision": args.precision, "memo": args.memo},
                                      "results": rows})
        print(f"-> {args.json}")


if __name__ == "__main__":
    run_cli(main)
