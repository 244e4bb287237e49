"""trainers.launch builds the torchrun command a Slurm job runs on each node (examples/slurm_world.sbatch)."""
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from trainers.launch import torchrun_command

ROOT = Path(__file__).resolve().parents[1]


def test_command_for_two_nodes_of_eight_gpus():
    command = torchrun_command(2, 8, "node01:29500", "1234", args=["--data", "data/empty8", "--device", "cuda"])
    assert command == [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=8",
                       "--rdzv_backend=c10d", "--rdzv_endpoint=node01:29500", "--rdzv_id=1234",
                       "-m", "trainers.world", "--data", "data/empty8", "--device", "cuda"]


@pytest.mark.parametrize("nodes, gpus, endpoint", [(0, 8, "node01:29500"), (2, 0, "node01:29500"),
                                                   (2, 8, "node01"), (2, 8, ":29500")])
def test_bad_sizes_and_endpoints_are_refused(nodes, gpus, endpoint):
    with pytest.raises(ValueError):
        torchrun_command(nodes, gpus, endpoint, "1")


def test_dry_run_prints_the_command_with_slurm_defaults():
    env = {"SLURM_NNODES": "4", "SLURM_GPUS_ON_NODE": "2", "SLURM_JOB_ID": "77", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "trainers.launch", "--rdzv-endpoint", "head:29400", "--dry-run", "--",
                          "--out", "runs/w"], capture_output=True, text=True, cwd=ROOT, env=env, check=True).stdout
    assert shlex.split(out)[3:] == ["--nnodes=4", "--nproc_per_node=2", "--rdzv_backend=c10d",
                                    "--rdzv_endpoint=head:29400", "--rdzv_id=77", "-m", "trainers.world", "--out", "runs/w"]


def test_sbatch_example_calls_the_launcher():
    script = (ROOT / "examples" / "slurm_world.sbatch").read_text()
    assert "#SBATCH --nodes=" in script and "#SBATCH --gpus-per-node=" in script
    assert "srun python -m trainers.launch" in script and '--rdzv-id "$SLURM_JOB_ID"' in script
    assert subprocess.run(["bash", "-n", str(ROOT / "examples" / "slurm_world.sbatch")]).returncode == 0
