"""Training runs unchanged under torchrun with DDP: two CPU processes (gloo) end with identical weights."""
import os
import subprocess
import sys

import torch

from genie_env.io import load_tensors


def test_two_ranks_hold_identical_weights(tiny_data, tiny_tokenizer, tmp_path):
    out = tmp_path / "world"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
               "-m", "trainers.world", "--data", str(tiny_data), "--tokenizer", str(tiny_tokenizer), "--out", str(out),
               "--steps", "6", "--batch-size", "4", "--eval-every", "6", "--checkpoint-every", "6", "--lam-dim", "32",
               "--dim", "32", "--layers", "1", "--bridge-labels", "20", "--device", "cpu", "--save-rank-weights",
               "--start-states", "16"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, _ = load_tensors(out / "rank_0.safetensors")
    rank1, _ = load_tensors(out / "rank_1.safetensors")
    assert rank0.keys() == rank1.keys()
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    assert (out / "world.json").is_file()   # rank 0 wrote the world
