"""Train the latent action model and the dynamics model (with reward and episode-end heads) together.

    python -m trainers.world --data data/empty8 --tokenizer runs/tok-empty8/tokenizer.safetensors --out runs/world-empty8

The dynamics model is the LAM's decoder: it sees the W past frames and the quantized latent and must predict the
next frame's tokens, so the latents learn to name what the agent did. True actions are read only to fit the
action bridge from --bridge-labels labelled transitions at the end. Writes ``OUT/world.safetensors`` +
``OUT/world.json`` (a complete world, loadable with ``genie_env.load_world_model``), ``OUT/checkpoint.safetensors``
(resumable) and TensorBoard scalars under ``OUT/tb``.

Runs unchanged under ``torchrun --nproc_per_node=N -m trainers.world ...`` with DDP (gloo on CPU, nccl on GPU):
each rank samples its own batches, gradients are averaged, and rank 0 writes checkpoints and the world.
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from genie_env.checkpoint import build_checked, latest_checkpoint, load_model, resume, save_checkpoint
from genie_env.config import parse_config, run_cli
from genie_env.dataset import Dataset, dataset_digest
from genie_env.dynamics import TRUNKS, Dynamics, DynamicsConfig, tile_patterns
from genie_env.io import lock_folder, read_json, save_tensors, sha256_file
from genie_env.latent_action import LatentActionConfig, LatentActionModel
from genie_env.tokenizer import Tokenizer, TokenizerConfig
from genie_env.vocab import build_vocab, ids_by_look
from genie_env.bridge import NOOP
from genie_env.world import ENV_ACTION_NAMES, WorldModel, frames_to_ids_numpy
from genie_env.world_file import resolve_device
from genie_lab.assemble import encode_dataset, fit_bridge_on_data
from genie_lab.batches import HardSteps, make_batch, sample_steps
from genie_lab.brain import Brain
from genie_lab.distributed import setup_distributed
from genie_lab.episodes import START_CHUNK, record_starts
from genie_lab.labels import frame_keys, label_steps, propagate_labels, step_changes, steps_beside_still, still_codes
from genie_lab.loop import LoopSpec, run_loop
from genie_lab.pixels import draw_real_pixels, split_looks
from genie_lab.twins import cycle_rows, cycle_steps, inverse_rows, inverse_steps, rival_steps, twin_steps


@dataclass
class TrainWorldConfig:
    data: list[str] = field(default_factory=lambda: ["data/empty8"])
    tokenizer: str = "runs/tok-empty8/tokenizer.safetensors"
    out: str = "runs/world-empty8"
    steps: int = 12000
    batch_size: int = 32
    lr: float = 2e-3
    warmup: int = 200
    ended_share: float = 0.05     # share of each batch drawn from episode-ending steps (rare, but the heads need them)
    changed_share: float = 0.5    # share drawn from steps whose frame changed (no labels needed: most steps change nothing)
    labelled_share: float = 0.2   # share drawn from the --bridge-labels labelled steps (their latent is their env action)
    label_weight: float = 1.0     # weight of the labelled steps' code cross-entropy
    num_actions: int = 8          # K; with labels, codes 0..6 are MiniGrid's 7 actions and code 7 "nothing changed"
    context: int = 1              # W: MiniGrid's full-grid frame is Markov enough (issue 10: W = 4 let the LAM learn "as before")
    lam_dim: int = 64
    lam_layers: int = 1
    bottleneck: str = "categorical"
    batch_entropy: float = 0.05
    dim: int = 64
    layers: int = 4
    trunk: str = "transformer"    # the dynamics' trunk: "transformer" (attention over the tiles) or "local" (stacked
                                  # 3x3 reads of the tile grid: genie_env.nn.LocalBlock)
    positions: bool = False       # local trunk: a learned embedding of each tile's place (dynamics.positions)
    changed_weight: float = 4.0
    val_fraction: float = 0.1
    start_states: int = 16384     # real resets drawn for the dream's reset bank (trainers.record.start_seed), beside the
                                  # training episodes' first frames; DoorKey-8x8 has ~10k distinct starts in 16k seeds
    bridge_labels: int = 200      # labelled transitions: they anchor the latents (LAOM-style) and fit the bridge
    cover_labels: int = 50        # of them, chosen to show every kind of change the data shows (trainers.labels)
    anchor_latents: bool = True   # use the labels in training too, not only to fit the bridge afterwards
    train_labels: int = -1        # of the --bridge-labels, how many training reads (-1: all; 0: as --no-anchor-latents)
    counterfactual_noops: bool = True  # a step that changed nothing also trains "latent k changes nothing here" (k drawn below)
    noop_uniform: float = 1.0     # share of uniform in the draw of k (the rest follows the model's own posterior)
    noop_known: bool = True       # draw k only among codes the data never shows acting from that frame (labels.still_codes)
    noop_draws: int = 2           # with --noop-known: distinct codes drawn for each unchanged step (each one more row)
    code_search: bool = True      # unsupervised: a changed step takes the code that predicts it best (Brain.best_codes)
    twin_rows: bool = True        # unsupervised: a batch's steps bring their rotated twins (genie_lab.twins), one code a pair
    inverse_share: float = 0.25   # unsupervised: share of a batch drawn from steps the next (or last) step undid; each
                                  # brings its inverse, and the two take different codes (genie_lab.twins.inverse_steps; 0: none)
    rival_share: float = 0.0      # unsupervised: share of a batch drawn from steps that left their frame another way
                                  # than some other step did; each brings that step, two codes (genie_lab.twins.rival_steps;
                                  # off: on Empty-8x8 the LAM then put every turn in one code, docs/RESULTS.md)
    cycle_share: float = 0.25     # unsupervised: share of a batch (in rows, four a cycle) drawn from four-step cycles,
                                  # whose steps take one code (genie_lab.twins.cycle_steps; 0: none)
    hard_rows: int = 8            # rows added to each batch, drawn by their last seen loss (HardSteps: rare states' steps)
    hard_power: float = 1.0       # their draw probability ~ loss ** hard_power
    split_looks: bool = True      # one id per distinct real patch, where the tokenizer merged some (genie_lab.pixels)
    init: str = ""                # start from this world's weights (a round of trainers.check data; genie_lab.warm_start)
    focus_data: int = 0           # the last N --data folders (a check round's) get --focus-share of each batch
    focus_share: float = 0.15     # with the default shares above, 3 of 32 rows still come from all steps
    eval_every: int = 500
    checkpoint_every: int = 500
    seed: int = 0
    device: str = "auto"          # "auto": CUDA when present, else CPU
    save_rank_weights: bool = False  # under torchrun, every rank writes OUT/rank_R.safetensors (to check they agree)
    resume: bool = False


# --resume may change these: they do not change what the run computes
RESUME_FREE = ("resume", "eval_every", "checkpoint_every", "device", "save_rank_weights")


@torch.no_grad()
def validate(brain: Brain, data: Dataset, ids: np.ndarray, steps: np.ndarray, context: int, device) -> dict:
    brain.eval()
    totals: dict = {}
    for i in range(0, len(steps), 512):
        batch = steps[i : i + 512]
        _, metrics = brain(*make_batch(data, ids, batch, context, device))
        for k, v in metrics.items():
            totals[k] = totals.get(k, 0.0) + v * len(batch)
    brain.train()
    return {f"val/{k}": v / len(steps) for k, v in totals.items()}


@torch.no_grad()
def codes_read(lam, data: Dataset, ids: np.ndarray, step_labels: np.ndarray, steps: np.ndarray, config, device,
               keys: np.ndarray | None = None):
    """`still_codes` with the codes the LAM now reads `steps` as (an unsupervised world: no label says which
    code acts from a frame, so the LAM's own reading does)."""
    codes = step_labels.copy()
    lam.eval()
    for i in range(0, len(steps), 1024):
        chunk = steps[i : i + 1024]
        clip = torch.from_numpy(ids[data.context_indices(chunk, config.context)]).long().to(device)
        codes[chunk] = lam.infer(clip).cpu().numpy()
    lam.train()
    return still_codes(ids, data.step_frame, codes, config.num_actions, keys)


def warm_start_from(folder: str, tokenizer: Tokenizer, lam, dynamics, looks: torch.Tensor,
                    pixels: torch.Tensor | None = None) -> dict:
    """genie_lab.warm_start from the world in `folder`, which must hold this run's tokenizer."""
    from genie_env.world import load_world_model
    from genie_lab.warm_start import warm_start

    old = load_world_model(folder)
    theirs, ours = old.tokenizer.state_dict(), tokenizer.state_dict()
    if set(theirs) != set(ours) or any(not torch.equal(theirs[k].cpu(), ours[k].cpu()) for k in ours):
        raise ValueError(f"--init {folder}: that world was made with another tokenizer than --tokenizer")
    return warm_start(lam, dynamics, old, looks, pixels)


def world_models(config: TrainWorldConfig, vocab_size: int, num_tiles: int) -> tuple:
    """(LAM, dynamics model) as the flags ask, checked as a loaded world's are (genie_env.checkpoint.build_checked)."""
    source = "trainers.world flags"
    lam = build_checked(LatentActionModel, LatentActionConfig(
        vocab_size=vocab_size, num_actions=config.num_actions, context=config.context, dim=config.lam_dim,
        layers=config.lam_layers, bottleneck=config.bottleneck, batch_entropy=config.batch_entropy), source)
    dynamics = build_checked(Dynamics, DynamicsConfig(
        vocab_size=vocab_size, num_tiles=num_tiles, context=config.context, latent_dim=lam.config.latent_dim,
        dim=config.dim, layers=config.layers, trunk=config.trunk, positions=config.positions,
        changed_weight=config.changed_weight), source)
    return lam, dynamics


def train(config: TrainWorldConfig) -> dict:
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    out = Path(config.out)
    if not 0.0 <= config.noop_uniform <= 1.0:
        raise ValueError(f"--noop-uniform must be in [0, 1], got {config.noop_uniform}")
    if config.train_labels > config.bridge_labels:
        raise ValueError(f"--train-labels ({config.train_labels}) can use at most the --bridge-labels ({config.bridge_labels})")
    if config.noop_draws < 1:
        raise ValueError(f"--noop-draws must be >= 1 (codes redrawn for each unchanged step), got {config.noop_draws}")
    if config.cover_labels < 0:
        raise ValueError(f"--cover-labels must be >= 0 (labels chosen to cover every kind of change), got {config.cover_labels}")
    if not 0 <= config.focus_data <= len(config.data) or not 0.0 <= config.focus_share < 1.0:
        raise ValueError(f"--focus-data must lie in [0, {len(config.data)}] (folders of --data) and --focus-share in "
                         f"[0, 1), got {config.focus_data} and {config.focus_share}")
    if config.hard_rows < 0 or config.hard_power < 0:
        raise ValueError(f"--hard-rows and --hard-power must be >= 0, got {config.hard_rows} and {config.hard_power}")
    world_models(config, 1, 1)     # first: flags the loader would refuse stop the run before any work
    if config.bridge_labels < 1:   # the world's bridge is fitted on them; with none it reads nothing
        raise ValueError(f"--bridge-labels must be >= 1 (labelled transitions the bridge is fitted on), got {config.bridge_labels}")
    if config.start_states < 0:
        raise ValueError(f"--start-states must be >= 0 (real resets for the dream's reset bank), got {config.start_states}")
    if latest_checkpoint(out) is not None and not config.resume:
        raise ValueError(f"{out} already holds a training run; pass --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    # held until train returns: a second run into --out is refused (under torchrun rank 0 holds it for all ranks)
    lock = lock_folder(out) if os.environ.get("RANK", "0") == "0" else None   # noqa: F841
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    data = Dataset.load(config.data)
    data.training_split(config.val_fraction, config.seed)   # enough episodes to validate, known before any step
    tokenizer = load_model(config.tokenizer, Tokenizer, TokenizerConfig, "tokenizer")
    inputs = {"data": dataset_digest(config.data), "tokenizer": sha256_file(config.tokenizer)}
    if config.init:
        inputs["init"] = sha256_file(Path(config.init) / "world.safetensors")
    codes = encode_dataset(tokenizer, data.frames)                               # (F, 16, 16) tokenizer codes
    patches = tokenizer.patch_table()                                            # (K, 4, 4, 3) each code's look
    vocab = build_vocab(codes, patches)                                          # one id per distinct look
    pixels, looks_report = None, {}
    if config.split_looks:   # and one per distinct real patch, so a dream right id for id is right pixel for pixel
        vocab, pixels, looks_report = split_looks(vocab, patches[vocab], data.frames)
        print(f"world: {looks_report['ids']} ids for {looks_report['distinct_patches']} distinct real patches "
              f"({looks_report['ids_split_off']} split off the tokenizer's {looks_report['looks_of_the_tokenizer']} looks)", flush=True)
    ids = ids_by_look(torch.from_numpy(data.frames), patches[vocab], exact=pixels).to(torch.int16).numpy()  # (F, 16, 16), as WorldModel reads
    train_eps, val_eps = data.split(config.val_fraction, config.seed)
    train_steps, val_steps = data.step_indices(train_eps), data.step_indices(val_eps)
    ended_steps = train_steps[data.terminated[train_steps]]
    frame_changed = (ids[data.step_frame] != ids[data.step_frame + 1]).reshape(len(data.actions), -1).any(1)
    changed_steps = train_steps[frame_changed[train_steps]]
    labelled = label_steps(train_steps, config.bridge_labels, config.seed + 2,
                           step_changes(ids, data.step_frame, train_steps), config.cover_labels)
    # the labels training may read: the first --train-labels of them (the uniform part of label_steps' draw comes
    # first), or all; the bridge is fitted on all of them afterwards either way
    taught = labelled[: config.train_labels] if config.train_labels >= 0 else labelled
    step_labels = None
    if config.anchor_latents and len(taught):
        if config.num_actions < len(ENV_ACTION_NAMES):
            raise ValueError(f"--num-actions must be >= {len(ENV_ACTION_NAMES)} to anchor latents to env actions "
                             f"(or pass --no-anchor-latents), got {config.num_actions}")
        step_labels = propagate_labels(ids, data, taught, len(vocab),
                                       NOOP if config.num_actions > len(ENV_ACTION_NAMES) else None)
    anchored = step_labels is not None
    noop_code = NOOP if anchored and config.counterfactual_noops and config.num_actions > NOOP else None
    if not anchored and config.counterfactual_noops and config.bottleneck == "categorical" and config.num_actions >= 2:
        # no label reaches the training (issue 26): only what the frames show. A step whose frame did not change
        # takes the last code ("nothing changed"), and each trains "code k changes nothing here" for drawn k
        noop_code = config.num_actions - 1
        # and a step whose frame changed is anything but that code (-2 - code: CategoricalBottleneck); without
        # this the "nothing changed" targets pulled the changed steps to that code too (Empty-8x8: one code left
        # in use and 0.2 % of frames right after 1,500 steps)
        step_labels = np.where(frame_changed, -2 - noop_code, noop_code).astype(np.int64)
    pools = [(train_steps, 0.0), (changed_steps, config.changed_share), (ended_steps, config.ended_share),
             (taught if anchored else labelled[:0], config.labelled_share)]
    if config.focus_data:   # the states a check round found the world wrong in, so their few steps are seen
        focus = data.sources[data.step_episode[train_steps]] >= len(config.data) - config.focus_data
        pools.append((train_steps[focus], config.focus_share))
    device = resolve_device(config.device)
    val_steps = val_steps[np.random.default_rng(config.seed + 1).permutation(len(val_steps))[:4096]]

    tiles = tile_patterns(torch.from_numpy(ids).long())                              # (T, 4) tile patterns seen
    lam, dynamics = world_models(config, len(vocab), len(tiles))
    dynamics.set_tiles(tiles)
    if config.init:
        carried = warm_start_from(config.init, tokenizer, lam, dynamics, patches[vocab], pixels)
        print(f"world: weights from {config.init} ({carried['ids_carried']}/{carried['ids']} ids, "
              f"{carried['tiles_carried']}/{carried['tiles']} tile patterns carried over)", flush=True)
    rank, world_size, device = setup_distributed(device)
    rng = np.random.default_rng([config.seed, rank]) if world_size > 1 else rng   # each rank draws its own batches
    candidates = (still_codes(ids, data.step_frame, step_labels, config.num_actions)
                  if noop_code is not None and config.noop_known else None)
    # unsupervised: which codes act from a frame is what the LAM reads its changed steps as, read again at every
    # checkpoint (so a resumed run draws as the uninterrupted one); without it a turn drew "does nothing here" from
    # every still step of its frame, more often than it was seen turning there
    read_again = (steps_beside_still(ids, data.step_frame, train_steps)
                  if candidates is not None and not anchored else None)
    keys = frame_keys(ids) if read_again is not None else None   # the frames do not change between readings
    hard = HardSteps(train_steps, config.hard_power) if config.hard_rows > 0 else None
    search = not anchored and noop_code is not None and config.code_search
    twinned = search and config.twin_rows and bool((data.twins >= 0).any())
    step_inverse = inverse_steps(ids, data) if search and config.inverse_share > 0 else None
    if step_inverse is not None:
        pools.append((train_steps[step_inverse[train_steps] >= 0], config.inverse_share))
    frame_key = (keys if keys is not None else frame_keys(ids)) if search and config.rival_share > 0 else None

    is_train = np.zeros(len(data.step_frame), bool)
    is_train[train_steps] = True

    def draw_rivals(rng) -> np.ndarray | None:   # a validation step is never a partner
        if frame_key is None:
            return None
        rival = rival_steps(frame_key, data.step_frame, rng)
        rival[(rival >= 0) & ~is_train[np.maximum(rival, 0)]] = -1
        return rival

    rival = draw_rivals(None)
    if rival is not None:   # a step brings its rival where it has one, else its inverse: either takes another code
        pools.append((train_steps[rival[train_steps] >= 0], config.rival_share))
    cycles = cycle_steps(ids, data) if search and config.cycle_share > 0 else None
    if cycles is not None:
        cycles = cycles[np.isin(cycles, train_steps).all(1)]
    cycle_draws = int(round(config.batch_size * config.cycle_share / 4)) if cycles is not None and len(cycles) else 0
    if search:
        print(f"world: unsupervised codes by search{' over rotated twin pairs' if twinned else ''}"
              f"{f', {int((step_inverse >= 0).sum())} steps with an inverse' if step_inverse is not None else ''}"
              f"{f', {int((rival >= 0).sum())} with a rival' if rival is not None else ''}"
              f"{f', {len(cycles)} four-step cycles' if cycles is not None else ''}", flush=True)

    def partners(rival: np.ndarray | None) -> np.ndarray | None:   # the step each step must not share a code with:
        if rival is None or step_inverse is None:                 # its rival where it has one (the stronger
            return step_inverse if rival is None else rival       # contrast), else its inverse
        return np.where(rival >= 0, rival, step_inverse)

    step_partner = partners(rival)
    brain = Brain(lam, dynamics, config.label_weight, noop_code, config.noop_uniform, hard, config.noop_draws,
                  search).to(device)
    # DDP averages gradients and broadcasts rank 0's buffers (the VQ's EMA codebook) before every forward pass
    model = DistributedDataParallel(brain) if world_size > 1 else brain
    optimizer = torch.optim.AdamW(brain.parameters(), lr=config.lr, weight_decay=0.01)
    step = 0
    if config.resume:
        step = resume(out, brain, optimizer, rng, dataclasses.asdict(config), inputs, RESUME_FREE)
        if step >= config.steps and (out / "world.json").is_file():
            from genie_env.world_file import world_weights

            world_weights(out, read_json(out / "world.json"))   # a save cut between its two files is finished here
            print(f"world: {out} already finished ({step} steps); its world and metrics are kept", flush=True)
            return read_json(out / "world.json")["info"].get("training", {})
    writer = SummaryWriter(str(out / "tb")) if rank == 0 else None
    start = time.time()

    def forward(step: int) -> tuple:
        nonlocal candidates, step_partner
        if read_again is not None and (step % config.checkpoint_every == 0 or forward.first):
            candidates = codes_read(brain.lam, data, ids, step_labels, read_again, config, device, keys)
        forward.first = False
        if rival is not None and step % 100 == 0:      # another draw of which outcome meets which
            step_partner = partners(draw_rivals(rng))
        batch = sample_steps(rng, pools, config.batch_size)
        if hard is not None:
            batch = np.concatenate([batch, hard.draw(rng, config.hard_rows)])
        same = inverses = None
        drawn = len(batch)
        if twinned:
            batch, same = twin_steps(data.step_twin, batch)
        if step_partner is not None:
            batch, inverses = inverse_rows(step_partner, batch, drawn)
            if same is not None:
                same = np.concatenate([same, np.full(len(batch) - len(same), -1, np.int64)])
        if cycle_draws:
            before = len(batch)
            batch, same = cycle_rows(cycles[rng.integers(len(cycles), size=cycle_draws)], batch, same)
            if inverses is not None:
                inverses = np.concatenate([inverses, np.full(len(batch) - before, -1, np.int64)])
        same = None if same is None else torch.from_numpy(same).to(device)
        inverses = None if inverses is None else torch.from_numpy(inverses).to(device)
        loss, metrics = model(*make_batch(data, ids, batch, config.context, device, step_labels, candidates), same,
                              inverses)
        if hard is not None:
            hard.update(batch, brain.frame_loss)
        return loss, metrics

    forward.first = True
    metrics = run_loop(
        LoopSpec("world", config.steps, config.eval_every, config.checkpoint_every, clip=1.0), model, optimizer, step,
        lr_at=lambda step: config.lr * min(1.0, (step + 1) / config.warmup)
        * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * (step / config.steps)))),
        forward=forward, validate=lambda: validate(brain, data, ids, val_steps, config.context, device),
        describe=lambda step, m: (f"step {step}: val frame-exact {m['val/dynamics/frame_exact']:.4f} (changed frames "
                                  f"{m['val/dynamics/changed_frame_exact']:.4f}), changed-token acc "
                                  f"{m['val/dynamics/changed_token_acc']:.4f}, latents used {m['lam/used']}"),
        save=lambda step: save_checkpoint(out / "checkpoint.safetensors", brain, optimizer, step,
                                          dataclasses.asdict(config), rng, {"inputs": inputs}),
        writer=writer, postfix=lambda m: {"exact": f"{m['dynamics/frame_exact']:.3f}", "codes": m["lam/used"]},
        rank=rank, parameters=brain.parameters())
    if world_size > 1:
        import torch.distributed as dist

        for buffer in brain.buffers():   # the last step's EMA update ran on each rank's own batch
            dist.broadcast(buffer, 0)
        if config.save_rank_weights:
            save_tensors(out / f"rank_{rank}.safetensors", brain.state_dict())
        dist.destroy_process_group()
        if rank != 0:
            return metrics
    writer.close()
    brain.cpu().eval()
    world = WorldModel(tokenizer, lam, dynamics, vocab)
    world.anchored = anchored and config.bottleneck == "categorical" and config.num_actions >= len(ENV_ACTION_NAMES)
    world.applies_guard = noop_code is None   # a world that learned where actions do nothing needs none
    if pixels is not None:
        world.set_pixels(pixels)
    fit_bridge_on_data(world, data, train_steps, labelled, ids)
    at_reset = train_eps[data.starts_at_reset[train_eps]]    # an explorer's legs start mid-episode: not start states
    starts = [frames_to_ids_numpy(world, data.frames[data.frame_start[at_reset]])]
    chunks = record_starts(data.env_ids[0], config.seed, config.start_states)
    starts += [frames_to_ids_numpy(world, frames) for frames in
               tqdm(chunks, total=-(-config.start_states // START_CHUNK), desc="start states", unit="chunk")]
    world.set_start_ids(np.concatenate(starts))
    world.set_reward_rule(**data.reward_facts(train_steps))
    metrics["train_seconds"] = time.time() - start
    exact = {**draw_real_pixels(world, data.frames), **looks_report}
    world.save(out, {"real_pixels": exact, "env_id": data.env_ids[0], "training": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
                     "config": dataclasses.asdict(config), "bridge_label_steps": labelled.tolist()})
    return metrics


def main(argv=None) -> None:
    config = parse_config(TrainWorldConfig, argv, __doc__, {"trunk": list(TRUNKS)})
    metrics = train(config)   # a ValueError ends as one error: line (run_cli)
    print(f"world: val frame-exact {metrics.get('val/dynamics/frame_exact', float('nan')):.4f}; saved {config.out}/world.safetensors")


if __name__ == "__main__":
    run_cli(main)
