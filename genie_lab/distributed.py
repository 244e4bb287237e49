"""Data-parallel training under torchrun: join the process group (gloo on CPU, nccl on GPU)."""
from __future__ import annotations

import os

import torch


def setup_distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """(rank, world size, device). Under torchrun (RANK set) join the process group: gloo on CPU, nccl on GPU."""
    if "RANK" not in os.environ:
        return 0, 1, device
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device
