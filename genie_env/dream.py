"""The batched dream core: N worlds stepped in one forward pass, torch only (no Gymnasium here).

The single env and the vector env are thin shells over this class, so both dream exactly the same way.
"""
from __future__ import annotations

import copy
import os

import numpy as np
import torch

from genie_env.bridge import NOOP, STEP_MEANINGS
from genie_env.frames import check_frames
from genie_env.memo import StepMemo
from genie_env.world import WorldModel

_cache: dict = {}


def _one_thread_after_fork() -> None:
    """A forked child (Gymnasium's AsyncVectorEnv forks on Linux) inherits torch's OpenMP thread pool in a state
    it cannot use: its first parallel op never returned (issue 22). With one thread no pool is used, and a
    process per env wants no more."""
    torch.set_num_threads(1)


os.register_at_fork(after_in_child=_one_thread_after_fork)


def _file_identity(folder) -> tuple:
    """What tells one version of a world's files from another: inode, size and change time of both files."""
    stats = [(folder / name).stat() for name in ("world.json", "world.safetensors")]
    return tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)


def shared_world(world=None, device: str = "auto") -> WorldModel:
    """Load a world once per (path, device, file version) and share it between envs, so N envs do not load it N
    times. A world whose files changed since (rewritten, copied over) is loaded afresh, never mixed (issue 12)."""
    from genie_env.world_file import load_world_model, resolve_device, resolve_world_path

    device = str(resolve_device(device))
    folder = resolve_world_path(world).resolve()
    place, identity = (str(folder), str(device)), _file_identity(folder)
    cached = _cache.get(place)
    while cached is None or cached[0] != identity:
        loaded = load_world_model(folder, device=device)
        before, identity = identity, _file_identity(folder)
        if identity == before:   # no file changed while it loaded, so both files come from one version
            cached = _cache[place] = (identity, loaded)
    return cached[1]


PRECISIONS = ("float32", "bfloat16")


class DreamCore:
    """N dreamed worlds on the world's device: their context ids, the start-frame bank and every random draw
    stay there, so a step costs no host copy and no Python loop over worlds.

    `memo`: how many greedy steps to remember (genie_env.memo; 0: none). A greedy dream's step depends only on
    the context ids and the latent, so a state seen before is a lookup, not a forward pass (CPU only).

    `compile_mode` (a `torch.compile` mode: "default", "reduce-overhead" = CUDA graphs, "max-autotune") and
    `precision="bfloat16"` (the dynamics forward under bf16 autocast) are for speed on a GPU; both are off by
    default, and off they leave the dream exactly as it was.
    """

    def __init__(self, world: WorldModel, num_envs: int, temperature: float = 0.0, compile_mode: str | None = None,
                 precision: str = "float32", memo: int = 32768):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if temperature < 0 or not np.isfinite(temperature):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.world, self.num_envs, self.temperature = world, num_envs, float(temperature)
        self.ids = torch.zeros(num_envs, world.context, 16, 16, dtype=torch.long, device=world.device)
        self.elapsed = torch.zeros(num_envs, dtype=torch.long, device=world.device)   # steps since each world's start
        self.generator = torch.Generator(world.device)
        self.compiled = compile_mode is not None
        self._dream_step = self._fast_dream_step(compile_mode, precision)
        self._start_ids = None
        # greedy steps seen before are looked up (genie_env.memo), on the CPU where a forward pass is the cost; on a
        # GPU the lookup's host copies would cost more than they save
        self.memo = (StepMemo(memo) if memo and self.temperature == 0 and world.device.type == "cpu"
                     and compile_mode is None and precision == "float32" else None)

    def _fast_dream_step(self, compile_mode: str | None, precision: str):
        """world.dream_step, optionally with a bf16 copy of the dynamics and compiled; the bridge's guard and
        classes always run in float32 on the shared world's tensors."""
        world = self.world
        if precision == "bfloat16":
            world = copy.copy(self.world)          # shares tokenizer, LAM, bridge; only the dynamics differ
            world.dynamics = copy.deepcopy(self.world.dynamics).to(torch.bfloat16)
            # autocast inside the forward casts the float32 action vectors and keeps LayerNorms in float32
            world.dynamics.forward = torch.autocast(world.device.type, torch.bfloat16)(world.dynamics.forward)
        if compile_mode is None:
            return world.dream_step
        return torch.compile(world.dream_step, mode=compile_mode)

    def seed(self, seed: int) -> None:
        self.generator.manual_seed(int(seed))

    @property
    def start_ids(self) -> torch.Tensor:
        """The world's start states as context ids (S, W, 16, 16), kept on the device (moved there once)."""
        if self._start_ids is None:
            bank = self.world.start_ids
            if bank is None or not len(bank):
                raise ValueError("this world has no start states; pass reset(options={'frame': image})")
            self._start_ids = bank.to(self.ids.device)[:, None].expand(-1, self.world.context, -1, -1)
        return self._start_ids

    def reset(self, index: np.ndarray, frames: np.ndarray) -> None:
        """Restart worlds `index` from uint8 frames (len(index) or 1, 64, 64, 3); one frame starts them all."""
        frames = check_frames(frames, "frames", 4)
        index = torch.as_tensor(index, device=self.ids.device)
        self.ids[index] = self.world.context_ids(frames[:, None])
        self.elapsed[index] = 0

    def start(self, index: np.ndarray, states: np.ndarray) -> None:
        """Restart worlds `index` from the bank's start states `states` (both (n,) ints)."""
        index = torch.as_tensor(index, device=self.ids.device)
        self.ids[index] = self.start_ids[torch.as_tensor(states, device=self.ids.device)]
        self.elapsed[index] = 0

    def restart(self, mask: torch.Tensor) -> None:
        """Restart the worlds where `mask` (N,) bool is set from start states of the bank, drawn with the core's
        generator. Branch-free: every step may call it without a host sync."""
        bank = self.start_ids
        pick = torch.randint(len(bank), (self.num_envs,), generator=self.generator, device=bank.device)
        self.ids = torch.where(mask.view(-1, 1, 1, 1), bank[pick], self.ids)
        self.elapsed = torch.where(mask, 0, self.elapsed)

    def latents_for(self, env_actions, outcome: bool = False):
        """Real env actions (N,) -> the latents (N,) that do them here, read by the world's bridge in each
        world's own context (the dream's past, not the frame alone); with `outcome`, also their greedy steps
        (`WorldModel.latents_for`)."""
        if self.world.bridge is None:
            raise RuntimeError("this world has no action bridge: env actions cannot be mapped to latents")
        return self.world.latents_for(self.ids, env_actions, outcome)

    def step_env(self, env_actions) -> tuple:
        """Real env actions (N,) -> (latents (N,), then what `step` returns). In an anchored world action i is
        latent i (one dynamics pass a step). Otherwise reading the latents dreams every latent's greedy step
        already, so a greedy dream takes the chosen one's (one pass of K latents a step, not K + 1); a sampling
        dream (temperature > 0) draws its step afresh."""
        latents, stepped = self.latents_for(env_actions, outcome=True)
        return (latents, *self.step(latents, stepped if self.temperature == 0 else None))

    def step(self, latents: torch.Tensor, stepped: tuple | None = None):
        """latents (N,) -> (reward (N,) float32, ended (N,) bool, effect class (N,) of what each latent did). The
        reward follows the world's step count (MiniGrid pays 1 - 0.9 t / T), counted here from each world's start.
        `stepped`: these latents' greedy outcome, already dreamed (`step_env`)."""
        generator = self.generator if self.temperature > 0 else None   # greedy draws nothing
        if self.compiled:
            torch.compiler.cudagraph_mark_step_begin()   # CUDA graphs reuse output memory from step to step
        self.elapsed = self.elapsed + 1
        if stepped is None and self.memo is not None:   # a greedy step remembered whole; only the reward rule reads the time
            nxt, reward, ended, effect = self.memo.step(self.world, self.ids, latents)
            reward = self.world.dream_reward(reward, ended, self.elapsed)
        else:
            nxt, reward, ended, effect = self._dream_step(self.ids, latents, self.temperature, generator,
                                                          self.elapsed, stepped)
        if self.compiled:
            reward, ended = reward.clone(), ended.clone()
            effect = None if effect is None else effect.clone()
        self.ids = torch.cat([self.ids[:, 1:], nxt[:, None]], 1)
        return reward.float(), ended, effect

    def frames(self) -> torch.Tensor:
        """Current frames, uint8 (N, 64, 64, 3)."""
        return self.world.ids_to_frames(self.ids[:, -1])

    def tokens(self) -> torch.Tensor:
        """Current tokenizer codes, int64 (N, 16, 16)."""
        return self.world.vocab[self.ids[:, -1]]

    def env_actions(self, effect: torch.Tensor, asked: torch.Tensor | None = None) -> torch.Tensor:
        """Effect classes (N,) -> the real env action (N,) with that effect. Where nothing changed: the env action
        asked (`asked` (N,), with actions="env"), which did nothing here; else the bridge's no-op action."""
        env_actions = self.world.bridge.env_action(effect)
        return env_actions if asked is None else torch.where(effect == NOOP, asked, env_actions)

    def describe(self, effect, asked: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Effect classes -> (meanings, env actions) as object arrays for `info`; None without a bridge."""
        if effect is None:
            return np.full(self.num_envs, None, object), np.full(self.num_envs, None, object)
        meaning = np.asarray(STEP_MEANINGS, dtype=object)[effect.cpu().numpy()]
        return meaning, self.env_actions(effect, asked).cpu().numpy().astype(object)
