"""Build (and run) the torchrun command that trains across N nodes x G GPUs; Slurm's sbatch calls it once a node.

    python -m trainers.launch --nodes 2 --gpus 8 --rdzv-endpoint node01:29500 --rdzv-id 1234 --dry-run \\
        -- --data data/empty8 --tokenizer runs/tok/tokenizer.safetensors --out runs/world

Everything after `--` goes to the trained module (default `trainers.world`). Nodes meet at the c10d rendezvous
`--rdzv-endpoint` (host:port of any one node, the same on every node) under the run's `--rdzv-id`; torchrun
starts G processes a node, and the trainer's DDP set-up reads RANK, LOCAL_RANK and WORLD_SIZE from it.
`--dry-run` prints the command; otherwise this process becomes torchrun. See examples/slurm_world.sbatch.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys

from genie_env.config import fail, run_cli


def torchrun_command(nodes: int, gpus: int, rdzv_endpoint: str, rdzv_id: str, module: str = "trainers.world",
                     args: list[str] | None = None) -> list[str]:
    """The argv of torchrun for one node of a `nodes` x `gpus` run of `python -m module args`."""
    if nodes < 1 or gpus < 1:
        raise ValueError(f"nodes and gpus must be >= 1, got {nodes} and {gpus}")
    host, _, port = rdzv_endpoint.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"rdzv endpoint must be host:port, got {rdzv_endpoint!r}")
    return [sys.executable, "-m", "torch.distributed.run", f"--nnodes={nodes}", f"--nproc_per_node={gpus}",
            "--rdzv_backend=c10d", f"--rdzv_endpoint={rdzv_endpoint}", f"--rdzv_id={rdzv_id}",
            "-m", module, *(args or [])]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=int(os.environ.get("SLURM_NNODES", 1)))
    parser.add_argument("--gpus", type=int, default=int(os.environ.get("SLURM_GPUS_ON_NODE", 1)), help="processes a node")
    parser.add_argument("--rdzv-endpoint", default="localhost:29500", help="host:port of the rendezvous (one node's)")
    parser.add_argument("--rdzv-id", default=os.environ.get("SLURM_JOB_ID", "genie"), help="the run's id, the same on every node")
    parser.add_argument("--module", default="trainers.world", help="the trainer to run under torchrun")
    parser.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    argv = sys.argv[1:] if argv is None else list(argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    try:
        command = torchrun_command(args.nodes, args.gpus, args.rdzv_endpoint, args.rdzv_id, args.module, argv[split + 1 :])
    except ValueError as e:
        fail(f"{e}")
    if args.dry_run:
        print(shlex.join(command))
        return
    os.execvp(command[0], command)


if __name__ == "__main__":
    run_cli(main)
