"""The world model: tokenizer + latent actions + dynamics + action bridge, and the one place worlds are saved and loaded.

A world on disk is a folder with ``world.safetensors`` (every tensor: weights, vocabulary, bridge, start states)
and ``world.json`` (format version, every model config, bridge settings, training info); a ``manifest.json``
beside them records how it was made. Loading never unpickles: safetensors holds only tensors, JSON only data.
"""
from __future__ import annotations

import numpy as np
import torch
from einops import rearrange
from tqdm import tqdm

from genie_env.bridge import (EFFECT_NAMES, ENV_ACTION_NAMES, IMPLAUSIBLE, NOOP, ActionBridge,  # noqa: F401
                              ChangeGuard, RewardRule, change_signature)
from genie_env.dynamics import Dynamics
from genie_env.frames import check_frames
from genie_env.latent_action import LatentActionModel
from genie_env.tokenizer import Tokenizer
from genie_env.vocab import ids_by_look
from genie_env.world_file import load_world_model, save_world  # noqa: F401  (load_world_model: public here too)



@torch.no_grad()
def _as_int_array(values, name: str, shape: tuple, high: int) -> np.ndarray:
    array = np.asarray(values.cpu() if torch.is_tensor(values) else values)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers, got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if array.size and (array.min() < 0 or array.max() >= high):
        raise ValueError(f"{name} must lie in [0, {high - 1}], got values in [{array.min()}, {array.max()}]")
    return array.astype(np.int64)


class WorldModel:
    """A learned MiniGrid world. Frames are uint8 (..., 64, 64, 3); tokens are tokenizer codes (..., 16, 16).

    Composes the tokenizer (pixels <-> tokens), the latent action model (which latent explains a step), the
    dynamics model (the next frame from the current one and a latent), and, from genie_env.bridge, the action
    bridge (what a latent does, in env actions), the change guard (which changes real play shows) and the reward
    rule (where real play pays). The public calls: encode, decode, infer_actions, dream, latent_to_env_action,
    env_to_latent_action, latent_meanings; the envs step with `dream_step`.
    """

    def __init__(self, tokenizer: Tokenizer, lam: LatentActionModel, dynamics: Dynamics, vocab: torch.Tensor,
                 bridge: ActionBridge | None = None, start_ids: torch.Tensor | None = None, info: dict | None = None,
                 guard: ChangeGuard | None = None, pixels: torch.Tensor | None = None):
        self.tokenizer, self.lam, self.dynamics = tokenizer.eval(), lam.eval(), dynamics.eval()
        self.vocab = vocab.long()
        self.looks = tokenizer.patch_table()[self.vocab]                           # (V, 4, 4, 3) uint8, decoded
        self.patches = self.looks                                                  # what frames are drawn with
        self.pixels = None
        # how the dream behaves, stated in the world file ("dream"): latent i is env action i for i < 7 (the
        # codes were anchored to labels in training), and whether the guard holds unseen changes still
        self.anchored, self.applies_guard = False, True
        if pixels is not None:
            self.set_pixels(pixels)
        self.bridge, self.guard = bridge, guard
        self.start_ids = None if start_ids is None else start_ids.long().cpu()   # (S, 16, 16): the reset bank
        self.info = info or {}
        self.device = torch.device("cpu")

    # --- sizes -------------------------------------------------------------------------------------------------
    @property
    def num_actions(self) -> int:
        return self.lam.config.num_actions

    @property
    def context(self) -> int:
        return self.dynamics.config.context

    @property
    def dream_guard(self) -> ChangeGuard | None:
        """The guard the dream applies (`applies_guard`). A world trained to know where actions do nothing
        (counterfactual no-ops, trainers.world) applies none: holding a whole step still for one wrong tile cost
        more than it saved (DoorKey-8x8, docs/RESULTS.md); its guard only measures (`allowed`)."""
        return self.guard if self.applies_guard else None

    @property
    def reward_rule(self) -> RewardRule | None:
        rule = self.info.get("reward_rule")
        return None if rule is None else RewardRule(**rule)

    def to(self, device) -> "WorldModel":
        self.device = torch.device(device)
        for module in (self.tokenizer, self.lam, self.dynamics):
            module.to(self.device)
        self.vocab, self.patches, self.looks = self.vocab.to(self.device), self.patches.to(self.device), self.looks.to(self.device)
        for part in (self.bridge, self.guard):
            if part is not None:
                part.to(self.device)
        return self

    # --- pixels <-> tokens ---------------------------------------------------------------------------------------
    def encode(self, frames) -> torch.Tensor:
        """uint8 frames (N, 64, 64, 3) -> int64 tokenizer codes (N, 16, 16)."""
        frames = check_frames(frames, "frames", 4)
        return self.tokenizer.encode(torch.from_numpy(frames).to(self.device))

    def decode(self, tokens) -> np.ndarray:
        """int64 tokenizer codes (N, 16, 16) -> uint8 frames (N, 64, 64, 3)."""
        tokens = torch.as_tensor(tokens)
        if tokens.ndim != 3 or tokens.shape[1:] != (16, 16) or tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"tokens must be int64 with shape (N, 16, 16), got {tuple(tokens.shape)} {tokens.dtype}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.tokenizer.config.codebook_size):
            raise ValueError(f"tokens must lie in [0, {self.tokenizer.config.codebook_size - 1}]")
        return self.tokenizer.decode(tokens.long().to(self.device)).cpu().numpy()

    def frames_to_ids(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 frames (..., 64, 64, 3) -> compact ids (..., 16, 16) that the dynamics model reads: each patch's
        nearest look in the vocabulary (genie_env.vocab.ids_by_look), so decoding and reading again is exact."""
        lead = frames.shape[:-3]
        flat = torch.from_numpy(np.ascontiguousarray(frames.reshape(-1, 64, 64, 3))).to(self.device)
        # then tile by tile, as the nearest tile pattern the world knows: the dream only ever draws those, so a real
        # frame and a dreamed one are read in the same terms (the guard compares their changes)
        ids = ids_by_look(flat, self.looks, exact=None if self.pixels is None else self.patches)
        return self.dynamics.from_tiles(self.dynamics.to_tiles(ids)).view(*lead, 16, 16)

    def set_pixels(self, pixels: torch.Tensor) -> None:
        """Draw and read each look with the real pixels real play shows for it (uint8 (V, 4, 4, 3), from
        `genie_lab.pixels.real_pixels`) instead of the decoder's approximation: a real frame read and drawn back
        is the same frame, and a dream that is right token for token is right pixel for pixel (format 4)."""
        pixels = torch.as_tensor(pixels)
        if tuple(pixels.shape) != tuple(self.looks.shape) or pixels.dtype != torch.uint8:
            raise ValueError(f"pixels must be uint8 of shape {tuple(self.looks.shape)}, got {tuple(pixels.shape)} {pixels.dtype}")
        self.pixels = pixels.cpu()
        self.patches = pixels.to(self.looks.device)

    def ids_to_frames(self, ids: torch.Tensor) -> torch.Tensor:
        """compact ids (..., 16, 16) -> uint8 frames (..., 64, 64, 3), by patch lookup."""
        return rearrange(self.patches[ids], "... h w a b c -> ... (h a) (w b) c")

    # --- latent actions and dreams -------------------------------------------------------------------------------
    def infer_actions(self, clips) -> np.ndarray:
        """uint8 clips (N, T + 1, 64, 64, 3) -> latent actions (N, T) that explain each step."""
        clips = check_frames(clips, "clips", 5)
        n, t1 = clips.shape[:2]
        if t1 < 2:
            raise ValueError(f"clips need at least 2 frames (T + 1 >= 2), got {t1}")
        ids = self.frames_to_ids(clips)                                            # (N, T + 1, 16, 16)
        offsets = torch.arange(-self.context + 1, 2)
        index = (torch.arange(t1 - 1)[:, None] + offsets[None]).clamp(min=0)       # (T, W + 1)
        windows = ids[:, index.to(self.device)]                                    # (N, T, W + 1, 16, 16)
        with torch.no_grad():
            latents = self.lam.infer(windows.flatten(0, 1))
        return latents.view(n, t1 - 1).cpu().numpy()

    def context_ids(self, context: np.ndarray) -> torch.Tensor:
        """uint8 (N, C, 64, 64, 3) -> ids (N, W, 16, 16): the last W frames, the first repeated if C < W."""
        ids = self.frames_to_ids(context)
        if ids.shape[1] < self.context:
            ids = torch.cat([ids[:, :1].expand(-1, self.context - ids.shape[1], -1, -1), ids], 1)
        return ids[:, -self.context :]

    @torch.no_grad()
    def step_ids(self, context_ids: torch.Tensor, latents: torch.Tensor, temperature: float = 0.0,
                 generator: torch.Generator | None = None):
        """One batched dynamics step on ids, unguarded: (next ids (N, 16, 16), reward (N,), end probability (N,))."""
        return self.dynamics.step(context_ids, self.lam.action_vectors[latents], temperature, generator)

    def dream(self, context, actions, temperature: float = 0.0, seed: int | None = None) -> np.ndarray:
        """Dream H steps: context uint8 (N, C, 64, 64, 3), latent actions (N, H) -> frames (N, H, 64, 64, 3).
        Each step is the env's step (`dream_step`): a change real play never shows does not happen."""
        context = check_frames(context, "context", 5)
        if context.shape[1] < 1:
            raise ValueError("context needs at least one frame (C >= 1)")
        actions = np.asarray(actions)
        if actions.ndim != 2 or actions.shape[0] != context.shape[0]:
            raise ValueError(f"actions must have shape (N, H) = ({context.shape[0]}, H), got {actions.shape}")
        actions = torch.from_numpy(_as_int_array(actions, "actions", actions.shape, self.num_actions)).to(self.device)
        generator = torch.Generator(self.device).manual_seed(seed) if seed is not None else None
        ids = self.context_ids(context)
        frames = []
        for h in range(actions.shape[1]):
            nxt = self.dream_step(ids, actions[:, h], temperature, generator)[0]
            ids = torch.cat([ids[:, 1:], nxt[:, None]], 1)
            frames.append(self.ids_to_frames(nxt))
        if not frames:
            return np.zeros((context.shape[0], 0, 64, 64, 3), np.uint8)
        return torch.stack(frames, 1).cpu().numpy()

    def dream_step(self, context_ids: torch.Tensor, latents: torch.Tensor, temperature: float = 0.0,
                   generator: torch.Generator | None = None, steps: torch.Tensor | None = None,
                   stepped: tuple | None = None) -> tuple:
        """One step as the env dreams it: context ids (N, W, 16, 16), latents (N,) -> next ids (N, 16, 16),
        reward (N,), episode ended (N,) bool, effect class (N,) of each latent (None without a bridge).
        `steps` (N,): each world's step count after this step, for a reward that depends on the time (MiniGrid's).

        With a `dream_guard`, a dreamed change that no real transition showed is taken to do nothing, as the real
        env would: the frame stays, no reward, no episode end. The reward follows the reward rule.
        `stepped`: the greedy `step_ids` outcome of these latents, already dreamed (`latents_for` with
        `outcome=True`), so the step costs no second dynamics pass.
        """
        raw = stepped if stepped is not None else self.step_ids(context_ids, latents, temperature, generator)
        nxt, reward, ended, effect = self.settle(context_ids[:, -1], *raw)
        return nxt, self.dream_reward(reward, ended, steps), ended, effect

    def settle(self, last: torch.Tensor, nxt: torch.Tensor, reward: torch.Tensor, end_prob: torch.Tensor) -> tuple:
        """A dynamics step (`step_ids`'s next ids, reward head, end probability) after ids `last` (N, 16, 16), as
        the env takes it before the reward rule: (next ids, reward head, ended (N,) bool, effect class (N,) or
        None). A function of the frame and the step alone, so a greedy step can be remembered whole (genie_env.memo)."""
        guard = self.dream_guard
        ended, effect = end_prob > 0.5, None
        signatures = self.signature(last, nxt) if guard is not None or self.bridge is not None else None
        if guard is not None:
            real = guard.allows(signatures)
            nxt = torch.where(real[:, None, None], nxt, last)
            ended, reward = ended & real, torch.where(real, reward, torch.zeros_like(reward))
            signatures = signatures * real[:, None]
        if self.bridge is not None:
            effect = self.bridge.classify(signatures)
        return nxt, reward, ended, effect

    def dream_reward(self, reward: torch.Tensor, ended: torch.Tensor, steps: torch.Tensor | None = None) -> torch.Tensor:
        """The reward head's output (N,) as the dream pays it, given the dream's episode ends (N,) bool and the
        step counts (N,) after this step (genie_env.bridge.RewardRule)."""
        rule = self.reward_rule
        return reward if rule is None else rule.apply(reward, ended, steps)

    # --- reading latents in env actions (genie_env.bridge) --------------------------------------------------------
    def signature(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        """ids (N, 16, 16) twice -> (N, V * V) change signature (genie_env.bridge.change_signature)."""
        return change_signature(before, after, len(self.vocab))

    def allowed(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        """ids (N, 16, 16) twice -> (N,) bool: the change is one real play shows (always, without a guard)."""
        if self.guard is None:
            return torch.ones(len(before), dtype=torch.bool, device=before.device)
        return self.guard.allows(self.signature(before, after))

    def _require_bridge(self) -> ActionBridge:
        if self.bridge is None:
            raise RuntimeError("this world has no action bridge; fit one with fit_bridge(pairs, actions)")
        return self.bridge

    def _context_for(self, frames, context) -> torch.Tensor:
        """frames (N, 64, 64, 3) [+ optional recent frames (N, C, 64, 64, 3) ending with them] -> ids (N, W, 16, 16).
        Without a context, the frame stands for its own past, as at reset."""
        frames = check_frames(frames, "frames", 4)
        if context is None:
            return self.context_ids(frames[:, None])
        context = check_frames(context, "context", 5)
        if len(context) != len(frames) or context.shape[1] < 1 or not np.array_equal(context[:, -1], frames):
            raise ValueError("context must have shape (N, C, 64, 64, 3) with C >= 1 and end with `frames`")
        return self.context_ids(context)

    def _effects(self, context_ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Every latent action taken after context ids (N, W, 16, 16) -> effect class (N, K), changed tokens
        (N, K), the bridge's class probabilities (N, K, 7), the dreamed next ids (N, K, 16, 16), and the reward
        and end probability heads (N, K) of each greedy step."""
        bridge = self._require_bridge()
        n, k = len(context_ids), self.num_actions
        context = context_ids.repeat_interleave(k, 0)
        latents = torch.arange(k, device=self.device).repeat(n)
        nxt, reward, end_prob = self.step_ids(context, latents)
        signatures = self.signature(context[:, -1], nxt)
        changes = (nxt != context[:, -1]).flatten(1).sum(1)
        # A dreamed change that no real transition shows is a latent used where training never used it: the real
        # env would not do that, so such a latent stands for no action there and never "changes the least".
        guard = self.dream_guard
        allowed = guard.allows(signatures) if guard is not None else torch.ones_like(changes, dtype=torch.bool)
        effects = torch.where(allowed, bridge.classify(signatures), IMPLAUSIBLE)
        changes = torch.where(allowed, changes, changes.new_tensor(torch.iinfo(changes.dtype).max))
        probs = bridge.probabilities(signatures).view(n, k, -1)
        return (effects.view(n, k), changes.view(n, k), probs, nxt.view(n, k, *nxt.shape[1:]), reward.view(n, k),
                end_prob.view(n, k))

    def latents_for(self, context_ids: torch.Tensor, actions, outcome: bool = False):
        """The latent (N,) that does env action `actions[i]` after context ids (N, W, 16, 16).

        In a world whose latents are anchored to env actions, latent i is env action i (one dream step, not K).
        Otherwise: when several latents have the asked effect, the one whose dreamed outcome the LAM reads back
        as that same latent is taken (cycle consistency), then the one the bridge is surest of. An action no latent
        produces there (forward into a wall, pickup with nothing ahead) does nothing, so it maps to the latent
        that changes the frame least. With `outcome`, returns (latents, the greedy step each was dreamed to take:
        next ids (N, 16, 16), reward (N,), end probability (N,)), for `dream_step(..., stepped=...)`; None in an
        anchored world, where no step was dreamed to choose them.
        """
        asked = torch.as_tensor(actions, device=self.device).long()
        if self.anchored:   # latent i was trained as env action i: its dream is what the world learned that action
            # does there (no-op included), so no latent needs dreaming to find it (measured: the same dreams as
            # reading every latent's effect, all seven actions from 430 DoorKey-8x8 states; docs/RESULTS.md)
            latents = asked.clamp(max=self.num_actions - 1)
            self._require_bridge()
            return (latents, None) if outcome else latents   # nothing was dreamed to choose them
        effects, changes, probs, nxt, reward, end_prob = self._effects(context_ids)
        n, k = effects.shape
        match = effects == asked[:, None]                                          # IMPLAUSIBLE matches nothing
        clips = torch.cat([context_ids.repeat_interleave(k, 0), nxt.flatten(0, 1)[:, None]], 1)
        consistent = self.lam.infer(clips).view(n, k) == torch.arange(k, device=self.device)
        score = torch.where(match, consistent.float() + probs.gather(2, asked.view(-1, 1, 1).expand(-1, k, 1))[..., 0], -1.0)
        # where no latent has the effect (anchored worlds returned above): the latent that changes the least
        latents = torch.where(match.any(1), score.argmax(1), changes.argmin(1))
        if not outcome:
            return latents
        rows = torch.arange(n, device=self.device)
        return latents, (nxt[rows, latents], reward[rows, latents], end_prob[rows, latents])

    def latent_effects(self, frames, latents, context=None) -> np.ndarray:
        """The probe: effect class (0..6 = env action, 7 = no-op) of latent `latents[i]` taken in `frames[i]`."""
        ids = self._context_for(frames, context)
        latents = _as_int_array(latents, "latents", (len(ids),), self.num_actions)
        nxt, _, _ = self.step_ids(ids, torch.from_numpy(latents).to(self.device))
        return self._require_bridge().classify(self.signature(ids[:, -1], nxt)).cpu().numpy()

    def latent_to_env_action(self, frames, latents, context=None) -> np.ndarray:
        """frames uint8 (N, 64, 64, 3), latents (N,) -> the real env action (N,) with the same effect.

        `context`: optionally the recent frames (N, C, 64, 64, 3) ending with `frames`, as the dream saw them.
        """
        effects = torch.from_numpy(self.latent_effects(frames, latents, context))
        return self._require_bridge().env_action(effects).numpy().astype(np.int64)

    def env_to_latent_action(self, frames, actions, context=None) -> np.ndarray:
        """frames uint8 (N, 64, 64, 3), env actions (N,) -> the latent action (N,) that does the same there.

        `context`: optionally the recent frames (N, C, 64, 64, 3) ending with `frames`.
        """
        ids = self._context_for(frames, context)
        actions = _as_int_array(actions, "actions", (len(ids),), len(ENV_ACTION_NAMES))
        if not len(ids):
            return np.zeros(0, np.int64)
        return self.latents_for(ids, actions).cpu().numpy().astype(np.int64)

    def latent_meanings(self, frame) -> list[str]:
        """Name of each latent action's effect from one frame, e.g. ['left', 'forward', ..., 'no-op']."""
        effects = self._effects(self._context_for(check_frames(frame, "frame", 3)[None], None))[0][0]
        return [EFFECT_NAMES[int(e)] if e != IMPLAUSIBLE else "impossible here" for e in effects]

    # --- fitting what the data shows ----------------------------------------------------------------------------
    def fit_bridge(self, pairs, actions, observed: ChangeGuard | None = None) -> None:
        """Fit the bridge from labelled real transitions: pairs uint8 (N, 2, 64, 64, 3), env actions (N,).
        `observed`: the guard from unlabelled real transitions (`fit_guard`); by default the labelled pairs'."""
        pairs = check_frames(pairs, "pairs", 5)
        if pairs.shape[1] != 2:
            raise ValueError(f"pairs must have shape (N, 2, 64, 64, 3), got {pairs.shape}")
        actions = _as_int_array(actions, "actions", (len(pairs),), len(ENV_ACTION_NAMES))
        ids = self.frames_to_ids(pairs)
        signatures = self.signature(ids[:, 0], ids[:, 1])
        self.bridge = ActionBridge.fit(signatures, actions)
        self.guard = observed if observed is not None else ChangeGuard.from_signatures([signatures])

    def fit_guard(self, before: torch.Tensor, after: torch.Tensor, batch_size: int = 4096) -> ChangeGuard:
        """The changes of real transitions ids `before` -> `after` (N, 16, 16), as a ChangeGuard."""
        return ChangeGuard.from_signatures(self.signature(before[i : i + batch_size], after[i : i + batch_size])
                                           for i in range(0, len(before), batch_size))

    def set_reward_rule(self, rewards, terminated, times=None, limits=None, time_limit: int | None = None) -> None:
        """Read from real play where rewards happen and how they follow the time (genie_env.bridge.RewardRule)."""
        self.info["reward_rule"] = RewardRule.from_data(rewards, terminated, times, limits, time_limit).to_dict()

    def set_start_frames(self, frames) -> None:
        """Keep the distinct real start frames uint8 (N, 64, 64, 3), in the order given, as the reset bank."""
        self.set_start_ids(frames_to_ids_numpy(self, check_frames(frames, "frames", 4)))

    def set_start_ids(self, ids) -> None:
        """Keep the distinct start states given as compact ids (N, 16, 16), in the order given, as the reset bank."""
        ids = np.asarray(ids)
        if ids.ndim != 3 or ids.shape[1:] != (16, 16) or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"start ids must be integers of shape (N, 16, 16), got {ids.shape} {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.vocab)):
            raise ValueError(f"start ids must lie in [0, {len(self.vocab) - 1}] (the world's vocabulary)")
        first: dict = {}   # each distinct grid's first row, in order (a dict of bytes: no sort, cheap at every load)
        for i, row in enumerate(ids.reshape(len(ids), -1)):
            first.setdefault(row.tobytes(), i)
        self.start_ids = torch.from_numpy(ids[list(first.values())].astype(np.int64))

    def start_frame(self, index) -> np.ndarray:
        """Start state(s) of the bank, drawn: an int -> uint8 (64, 64, 3); an array of ints -> (n, 64, 64, 3)."""
        if self.start_ids is None or not len(self.start_ids):
            raise ValueError("this world has no start states; pass reset(options={'frame': image})")
        ids = self.start_ids[torch.as_tensor(index, dtype=torch.long)].to(self.device)
        return self.ids_to_frames(ids).cpu().numpy()

    # --- files ------------------------------------------------------------------------------------------------
    def save(self, folder, info: dict | None = None) -> None:
        """Write the world to `folder` (genie_env.world_file.save_world); `info` is merged into its info."""
        save_world(self, folder, info)


def check_world_env(world: "WorldModel", env_id: str, what: str) -> None:
    """Refuse to fit or measure a world of one MiniGrid env on another's data or real env (an Empty world's bridge
    fitted on DoorKey steps, its probe read on DoorKey data); `what` names where `env_id` came from. Worlds that do
    not name their env are not checked."""
    trained_on = world.info.get("env_id")
    if trained_on and trained_on != env_id:
        raise ValueError(f"this is a world of {trained_on}, but {what} is {env_id}: use a world of {env_id}, or "
                         f"{what} of {trained_on}")


def frames_to_ids_numpy(world: WorldModel, frames: np.ndarray, batch_size: int = 256, progress: str | None = None) -> np.ndarray:
    """Many uint8 frames (F, 64, 64, 3) -> their compact ids (F, 16, 16) as a numpy array, `batch_size` at a time;
    `progress`, if given, names a progress bar (on stderr)."""
    starts = tqdm(range(0, len(frames), batch_size), desc=progress, unit="batch", disable=progress is None)
    return torch.cat([world.frames_to_ids(frames[i : i + batch_size]) for i in starts]).cpu().numpy()
