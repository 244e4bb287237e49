"""Which real transitions get their true action read: the few labels that anchor the latents and fit the bridge.

A labeller (a person, or the env's log) is asked for ~200 actions. Drawn at random they follow the data: in
DoorKey a successful drop is a rare step (docs/RESULTS.md), so 200 random labels often hold none, the bridge then reads every
drop as the nearest labelled change ("forward") and the drop latent learns to do nothing (issue 10). So most labels
are still drawn at random (they show how often each action changes nothing: forward into a wall, pickup with
nothing ahead), and the rest cover the kinds of change the unlabelled data shows: greedily, the step whose change
shows the most token pairs ("token a became token b") that no labelled step shows yet, until every pair the data
shows is in some labelled step, then again (active learning by coverage; it reads frames only, never the actions).
"""
from __future__ import annotations

import numpy as np
import torch

from genie_env.bridge import NOOP, ActionBridge, change_signature


def step_changes(ids: np.ndarray, step_frame: np.ndarray, steps: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """(len(steps), P) bool: which of the P distinct token pairs ("a became b", at a changed position) each step
    shows. `ids` (F, 16, 16): the frames as token ids; step s goes from frame step_frame[s] to the next one."""
    vocab = int(ids.max()) + 1

    def codes(chunk):   # (n, 256) pair code at changed positions, -1 elsewhere
        before = ids[step_frame[chunk]].reshape(len(chunk), -1).astype(np.int64)
        after = ids[step_frame[chunk] + 1].reshape(len(chunk), -1).astype(np.int64)
        return np.where(before != after, before * vocab + after, -1)

    chunks = [steps[i : i + batch_size] for i in range(0, len(steps), batch_size)]
    pairs = np.unique(np.concatenate([np.unique(c[c >= 0]) for c in map(codes, chunks)] or [np.zeros(0, np.int64)]))
    out = np.zeros((len(steps), len(pairs)), bool)
    for start, chunk in zip(range(0, len(steps), batch_size), chunks):
        c = codes(chunk)
        rows, cols = np.nonzero(c >= 0)
        out[start + rows, np.searchsorted(pairs, c[rows, cols])] = True
    return out


def label_steps(steps: np.ndarray, labels: int, seed: int, changes: np.ndarray | None = None, cover: int = 0) -> np.ndarray:
    """The `labels` steps (of `steps`) whose true actions may be read: the same draw in every trainer.

    Without `changes` (or with cover = 0): a uniform draw. With `changes` (step_changes of `steps`): labels - cover
    drawn uniformly, then `cover` steps chosen to show the token pairs no chosen step shows yet (most new pairs
    first; ties go to the uniform order), in rounds: once every pair is shown, again from the steps not yet
    chosen, so rare changes get several labels. Labels left over (no unchosen step changes anything) are drawn
    uniformly.
    """
    if cover < 0:
        raise ValueError(f"cover must be >= 0 (labels chosen to cover every kind of change), got {cover}")
    rng = np.random.default_rng(seed)
    n = min(labels, len(steps))
    if changes is None or cover <= 0:
        return rng.choice(steps, n, replace=False)
    if len(changes) != len(steps):
        raise ValueError(f"changes has {len(changes)} rows for {len(steps)} steps")
    order = rng.permutation(len(steps))               # positions into steps, in the uniform order
    ranked = changes[order]                           # rows in that order, so argmax breaks ties by it
    free = np.ones(len(steps), bool)                  # by rank: not chosen yet
    free[: n - min(cover, n)] = False
    chosen = list(order[~free])
    seen = ranked[~free].any(0)
    fresh = False                                     # whether `seen` was just emptied for another round
    while len(chosen) < n:
        gain = ranked[:, ~seen].sum(1) * free
        best = int(np.argmax(gain))
        if gain[best] == 0:
            if fresh:                                 # no unchosen step changes anything
                break
            seen, fresh = np.zeros_like(seen), True   # every pair is covered: cover them all again
            continue
        chosen.append(order[best])
        free[best] = False
        seen, fresh = seen | ranked[best], False
    chosen += list(order[free][: n - len(chosen)])
    return steps[np.asarray(chosen, np.int64)]


def frame_keys(ids: np.ndarray) -> np.ndarray:
    """(F,) int: frames equal as token grids share a key (rows hashed by np.unique on their bytes)."""
    flat = np.ascontiguousarray(ids.reshape(len(ids), -1))
    _, key = np.unique(flat.view(np.dtype((np.void, flat.shape[1] * flat.dtype.itemsize))), return_inverse=True)
    return key.reshape(-1)


def steps_beside_still(ids: np.ndarray, step_frame: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The changed steps of `steps` whose frame is also the frame of some unchanged step: the ones whose codes
    `still_codes` needs (an unchanged step elsewhere learns nothing from them)."""
    keys = frame_keys(ids)
    flat = ids.reshape(len(ids), -1)
    changed = (flat[step_frame[steps]] != flat[step_frame[steps] + 1]).any(1)
    still_keys = np.unique(keys[step_frame[steps[~changed]]])
    return steps[changed & np.isin(keys[step_frame[steps]], still_keys)]


def still_codes(ids: np.ndarray, step_frame: np.ndarray, labels: np.ndarray, num_codes: int,
                keys: np.ndarray | None = None) -> np.ndarray:
    """(S, K) bool: per step, the codes that may leave its frame as it is, by what the data shows from that frame.

    A step that changed nothing was made by some action that does nothing there; the pixels cannot say which.
    But an explorer tries every action in the states it reaches, so the same frame often shows up with the other
    actions' real effects too: a code seen (as a step's label, `labels` from `propagate_labels`) to change this
    frame does act here and is no candidate. The counterfactual draw of "latent k changes nothing here"
    (genie_lab.brain.Brain) then never asks a turn to stand still in a state where a turn was seen to turn.
    Codes never seen to act from a frame stay candidates (True), so a frame seen once keeps the uniform draw.
    `keys`: `frame_keys(ids)`, when the caller has them already.
    """
    flat = ids.reshape(len(ids), -1)
    frame_key = frame_keys(ids) if keys is None else keys
    changed = (flat[step_frame] != flat[step_frame + 1]).any(1)
    acting = changed & (labels >= 0) & (labels < num_codes)
    keys = frame_key[step_frame]
    acts = np.zeros((int(frame_key.max()) + 1 if len(frame_key) else 0, num_codes), bool)
    acts[keys[acting], labels[acting]] = True
    return ~acts[keys]


def propagate_labels(ids: np.ndarray, data, labelled: np.ndarray, vocab_size: int, noop_code: int | None = None,
                     batch_size: int = 4096) -> np.ndarray:
    """Code labels (S,) for training: the labelled steps' true actions; every other step that changed the frame,
    the action an ActionBridge fitted on the labelled ones reads from its change; every other step that changed
    nothing, `noop_code` (or -1, free, without one).

    The change signature ("token a became token b", wherever) does not depend on where the agent is, so ~200
    labels name every step's change (the probe's figures: docs/RESULTS.md); anchoring every
    changed step keeps each latent one action in every state. What changes nothing cannot be told apart from
    pixels (forward into a wall, pickup with nothing ahead, done), so it gets its own code, except on the labelled
    steps: forward into a wall stays "forward", and the dynamics model learns that walls stop it.
    """
    now = lambda steps, k: torch.from_numpy(ids[data.step_frame[steps] + k]).long()
    bridge = ActionBridge.fit(change_signature(now(labelled, 0), now(labelled, 1), vocab_size), data.actions[labelled].astype(np.int64))
    labels = np.full(len(data.actions), -1, np.int64)
    for start in range(0, len(labels), batch_size):
        steps = np.arange(start, min(start + batch_size, len(labels)))
        labels[steps] = bridge.classify(change_signature(now(steps, 0), now(steps, 1), vocab_size)).numpy()
    labels[labels == NOOP] = -1 if noop_code is None else noop_code
    labels[labelled] = data.actions[labelled]
    return labels
