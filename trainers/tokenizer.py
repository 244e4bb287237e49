"""Train the VQ-VAE tokenizer on recorded frames.

    python -m trainers.tokenizer --data data/empty8 --out runs/tok-empty8
    python -m trainers.tokenizer --from-world genie_env/worlds/doorkey8 --out runs/tok-doorkey8   # the one a world holds

Writes ``OUT/tokenizer.safetensors`` (weights + config), ``OUT/checkpoint.safetensors`` (resumable training
state, every --checkpoint-every steps) and TensorBoard scalars under ``OUT/tb``.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from genie_env.checkpoint import build_checked, latest_checkpoint, read_model_extra, resume, save_checkpoint, save_model
from genie_env.config import parse_config, run_cli
from genie_env.dataset import Dataset, dataset_digest
from genie_env.io import lock_folder, make_folder
from genie_env.frames import psnr as frame_psnr
from genie_env.tokenizer import Tokenizer, TokenizerConfig
from genie_lab.loop import LoopSpec, run_loop


@dataclass
class TrainTokenizerConfig:
    data: list[str] = field(default_factory=lambda: ["data/empty8"])
    out: str = "runs/tok-empty8"
    steps: int = 1500
    batch_size: int = 32
    lr: float = 2e-3
    val_fraction: float = 0.1
    eval_every: int = 250
    checkpoint_every: int = 250
    seed: int = 0
    codebook_size: int = 256
    code_dim: int = 32
    hidden: int = 128
    from_world: str = ""          # train nothing: write the tokenizer this world holds (a world made --init from it
                                  # must keep it, and training one again on the same frames is not bit-for-bit the same)
    resume: bool = False


RESUME_FREE = ("resume", "eval_every", "checkpoint_every")   # --resume may change these: they do not change the run


@torch.no_grad()
def evaluate(model: Tokenizer, frames: np.ndarray, batch_size: int = 256) -> dict:
    model.eval()
    psnrs, tokens = [], []
    for i in range(0, len(frames), batch_size):
        batch = torch.from_numpy(frames[i : i + batch_size])
        codes = model.encode(batch)
        psnrs.append(frame_psnr(model.decode(codes), batch))
        tokens.append(codes.flatten())
    model.train()
    psnr = torch.cat(psnrs)
    used, perplexity = model.quantizer.usage(torch.cat(tokens))
    return {"val/psnr": psnr.mean().item(), "val/psnr_p1": torch.quantile(psnr, 0.01).item(),
            "val/codebook_used": used, "val/perplexity": perplexity}


def tokenizer_model(config: TrainTokenizerConfig) -> Tokenizer:
    """The tokenizer the flags ask for, checked as a loaded one is (genie_env.checkpoint.build_checked)."""
    return build_checked(Tokenizer, TokenizerConfig(codebook_size=config.codebook_size, code_dim=config.code_dim,
                                                    hidden=config.hidden), "trainers.tokenizer flags")


def from_world(config: TrainTokenizerConfig) -> dict:
    """The tokenizer inside world folder --from-world, written as OUT/tokenizer.safetensors; its metrics are the
    world's tokenizer metrics where its manifest has them."""
    from genie_env.io import sha256_file
    from genie_env.world import load_world_model

    world = load_world_model(config.from_world)
    metrics = dict(world.info.get("manifest", {}).get("metrics", {}).get("tokenizer", {}) or {})
    out = Path(config.out)
    make_folder(out)
    save_model(out / "tokenizer.safetensors", world.tokenizer, "tokenizer",
               {"metrics": metrics, "from_world": config.from_world,
                "world_weights": sha256_file(Path(config.from_world) / "world.safetensors")})
    return metrics


def train(config: TrainTokenizerConfig) -> dict:
    from torch.utils.tensorboard import SummaryWriter

    if config.from_world:
        return from_world(config)
    out = Path(config.out)
    tokenizer_model(config)                  # first: flags the loader would refuse stop the run before any work
    if latest_checkpoint(out) is not None and not config.resume:
        raise ValueError(f"{out} already holds a training run; pass --resume to continue it or choose another --out")
    make_folder(out)
    lock = lock_folder(out)   # noqa: F841  (held until train returns: a second run into --out is refused)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    data = Dataset.load(config.data)
    train_eps, val_eps = data.training_split(config.val_fraction, config.seed)
    train_frames = data.frame_indices(train_eps)
    val_frames = data.frames[data.frame_indices(val_eps)][:: max(1, len(data.frame_indices(val_eps)) // 2000)]

    model = tokenizer_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    step, inputs = 0, {"data": dataset_digest(config.data)}
    if config.resume:
        step = resume(out, model, optimizer, rng, dataclasses.asdict(config), inputs, RESUME_FREE)
        if step >= config.steps and (out / "tokenizer.safetensors").is_file():
            print(f"tokenizer: {out} already finished ({step} steps); its weights and metrics are kept", flush=True)
            return read_model_extra(out / "tokenizer.safetensors").get("metrics", {})
    writer = SummaryWriter(str(out / "tb"))
    start = time.time()
    metrics = run_loop(
        LoopSpec("tokenizer", config.steps, config.eval_every, config.checkpoint_every), model, optimizer, step,
        lr_at=lambda step: config.lr * min(1.0, 0.5 * (1 + np.cos(np.pi * step / config.steps)) + 0.05),
        forward=lambda step: model(torch.from_numpy(data.frames[rng.choice(train_frames, config.batch_size)])),
        validate=lambda: evaluate(model, val_frames),
        describe=lambda step, m: (f"step {step}: val psnr {m['val/psnr']:.2f} dB (p1 {m['val/psnr_p1']:.2f}), "
                                  f"codes used {m['val/codebook_used']}"),
        save=lambda step: save_checkpoint(out / "checkpoint.safetensors", model, optimizer, step,
                                          dataclasses.asdict(config), rng, {"inputs": inputs}),
        writer=writer, postfix=lambda m: {"psnr": f"{m['psnr']:.1f}", "codes": m["codebook/used"]})
    writer.close()
    if "val/psnr" not in metrics:   # resumed from the last checkpoint of a run killed before it saved its weights
        metrics.update(evaluate(model, val_frames))
    metrics["train_seconds"] = time.time() - start
    save_model(out / "tokenizer.safetensors", model, "tokenizer", {"metrics": metrics, "data": config.data})
    return metrics


def main(argv=None) -> None:
    config = parse_config(TrainTokenizerConfig, argv, __doc__)
    metrics = train(config)   # a ValueError ends as one error: line (run_cli)
    if config.from_world:
        print(f"tokenizer: the one {config.from_world} holds, saved {config.out}/tokenizer.safetensors")
        return
    print(f"tokenizer: val psnr {metrics.get('val/psnr', float('nan')):.2f} dB, saved {config.out}/tokenizer.safetensors")


if __name__ == "__main__":
    run_cli(main)
