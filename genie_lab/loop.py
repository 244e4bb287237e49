"""The one training loop the tokenizer and the world share (the role of IRIS's and DIAMOND's `train_component`):
set the step's learning rate, forward, backward, clip, step; log every 25 steps, validate every `eval_every`
and at the end, checkpoint every `checkpoint_every` and at the end. What differs between the two trainers (their
batches, their validation, their schedule) comes in as functions; rank 0 alone logs, validates and saves."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from tqdm import tqdm


@dataclass
class LoopSpec:
    desc: str                       # the progress bar's name
    steps: int                      # train until this step
    eval_every: int
    checkpoint_every: int
    clip: float | None = None       # gradient-norm clip (None: none)
    log_every: int = 25


def run_loop(spec: LoopSpec, model: torch.nn.Module, optimizer, step: int, lr_at: Callable[[int], float],
             forward: Callable[[int], tuple], validate: Callable[[], dict], describe: Callable[[int, dict], str],
             save: Callable[[int], None], writer=None, postfix: Callable[[dict], dict] | None = None,
             rank: int = 0, parameters=None) -> dict:
    """Train `model` from `step` to `spec.steps`. `forward(step) -> (loss, metrics)` draws and runs one batch;
    `validate() -> metrics` ("val/..." keys); `describe(step, metrics)` is the line printed after each
    validation; `save(step)` writes a checkpoint. `parameters`: what is clipped (default: the model's).
    Returns the last metrics (with the last validation's)."""
    parameters = list(model.parameters() if parameters is None else parameters)
    metrics: dict = {}
    with tqdm(total=spec.steps, initial=step, desc=spec.desc, unit="step", disable=rank != 0) as bar:
        while step < spec.steps:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
            loss, metrics = forward(step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if spec.clip is not None:
                torch.nn.utils.clip_grad_norm_(parameters, spec.clip)
            optimizer.step()
            step += 1
            bar.update(1)
            if rank != 0:
                continue
            if step % spec.log_every == 0:
                if postfix is not None:
                    bar.set_postfix(postfix(metrics))
                if writer is not None:
                    for k, v in metrics.items():
                        writer.add_scalar(f"train/{k}", v, step)
            if step % spec.eval_every == 0 or step == spec.steps:
                metrics.update(validate())
                if writer is not None:
                    for k, v in metrics.items():
                        if k.startswith("val/"):
                            writer.add_scalar(k, v, step)
                tqdm.write(describe(step, metrics))
            if step % spec.checkpoint_every == 0 or step == spec.steps:
                save(step)
    return metrics
