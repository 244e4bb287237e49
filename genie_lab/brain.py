"""The world stage's training objective: the LAM and the dynamics model as one module (`Brain`), the labelled
steps' codes, the counterfactual no-ops, the frame-only targets of an unsupervised world (trainers.world runs it)."""
from __future__ import annotations

import torch

from genie_env.dynamics import Dynamics
from genie_env.latent_action import LatentActionModel
from genie_lab.batches import HardSteps


def balanced_argmax(score: torch.Tensor, iters: int = 3) -> torch.Tensor:
    """score (N, A) log-weights -> (N,) each row's best column once the columns are balanced (a few Sinkhorn
    steps, log domain: every column the same total, every row one unit). While the scores hardly differ (a new
    world, whose latents all predict alike) the rows spread over all columns, so no latent is left without
    steps to learn from; once they differ by nats, the scores decide."""
    log_q = score.float()
    for _ in range(iters):
        log_q = log_q - log_q.logsumexp(0, keepdim=True)
        log_q = log_q - log_q.logsumexp(1, keepdim=True)
    return log_q.argmax(1)


def frame_unchanged(clip: torch.Tensor) -> torch.Tensor:
    """clip tokens (B, W + 1, 16, 16) -> (B,) bool: the next frame is the last context frame, token for token."""
    return (clip[:, -1] == clip[:, -2]).flatten(1).all(1)


class Brain(torch.nn.Module):
    """LAM and dynamics as one module, so one optimizer and one checkpoint hold both.

    `noop_code`: the code of "nothing changed" steps (unlabelled steps whose frame did not change). Such a step
    was made by *some* action that does nothing in its state, and the pixels cannot say which, so each also
    trains the dynamics model once more with a latent k drawn at random (`noop_uniform` = 1: uniform over the K
    codes; below 1, partly from the model's own posterior of "k leaves this frame as it is"): pickup with nothing
    ahead, toggle facing a wall and forward into one learn to change nothing wherever the data shows nothing
    happening, without labels. Without it the dynamics model only saw "pickup" where a key vanished, and dreamed
    the key vanishing from wherever it lay (issue 10: 21 of 40 uniform-policy DoorKey dreams broke so). Where k
    does act, its real effect outweighs the 1/K share of the unchanged steps there, so the greedy dream keeps it.
    The posterior draw was measured and dropped as the default: a latent that already hallucinated got almost no
    draws, so it was never corrected (12 of 40 broke at 4000 steps, 13 with the uniform draw; RESULTS).
    """

    def __init__(self, lam: LatentActionModel, dynamics: Dynamics, label_weight: float = 1.0,
                 noop_code: int | None = None, noop_uniform: float = 1.0, hard: HardSteps | None = None,
                 noop_draws: int = 1, search: bool = False):
        super().__init__()
        self.lam, self.dynamics, self.label_weight, self.search = lam, dynamics, label_weight, search
        self.noop_code, self.noop_uniform, self.noop_draws = noop_code, noop_uniform, noop_draws
        if hard is not None:       # its losses travel in the checkpoint with the weights
            self.hard = hard

    @torch.no_grad()
    def noop_rows(self, clip: torch.Tensor, ended: torch.Tensor, labels: torch.Tensor | None,
                  candidates: torch.Tensor | None = None):
        """(row indices, latent codes): the unlabelled unchanged steps of a batch, each with a drawn latent;
        `candidates` (B, K) bool, if given, are the codes each row's frame may stand still under
        (trainers.labels.still_codes): each row is then redrawn with up to `noop_draws` distinct codes, uniformly
        among them (a row repeated once per code)."""
        if self.noop_code is None or labels is None:
            return None
        still = (labels == self.noop_code) & ~ended & frame_unchanged(clip)
        rows = still.nonzero().flatten()
        if not len(rows):
            return None
        K, context = self.lam.config.num_actions, clip[rows, :-1]
        if candidates is not None:
            # up to `noop_draws` distinct codes a row, uniformly among its candidates other than "nothing changed"
            # (the row itself trains that one); a frame seen acted on by every other code redraws that code
            allowed = candidates[rows].clone()
            allowed[:, self.noop_code] = False
            allowed[~allowed.any(1), self.noop_code] = True
            scores = torch.rand(allowed.shape, device=clip.device).masked_fill(~allowed, -1.0)
            top, codes = scores.topk(min(self.noop_draws, K), dim=1)
            keep = top >= 0
            return rows[:, None].expand_as(codes)[keep], codes[keep]
        if self.noop_uniform >= 1.0:
            return rows, torch.randint(0, K, (len(rows),), device=clip.device)
        out = self.dynamics(context.repeat_interleave(K, 0), self.lam.action_vectors.repeat(len(rows), 1))
        current = self.dynamics.to_tiles(context[:, -1]).repeat_interleave(K, 0)[..., None]
        log_still = out.logits.float().log_softmax(-1).gather(-1, current).flatten(1).sum(1).view(len(rows), K)
        draw = (1 - self.noop_uniform) * torch.softmax(log_still, -1) + self.noop_uniform / K
        return rows, torch.multinomial(draw, 1)[:, 0]

    @torch.no_grad()
    def best_codes(self, clip: torch.Tensor, labels: torch.Tensor, same: torch.Tensor | None = None,
                   inverses: torch.Tensor | None = None) -> torch.Tensor:
        """Unsupervised (issue 26): each changed step (label -2 - noop: any code but "nothing changed") takes the
        acting code under which the dynamics model predicts its next frame best, balanced over the batch
        (`balanced_argmax`); the LAM learns to read that code off the frames. Rows with one `same` group (B,; -1:
        alone) take one code, the one that explains them all best: a step and its rotated twin, the four steps of
        a four-step cycle (genie_lab.twins). A step and its inverse (`inverses`: the row of the step that undid
        it, -1 for none; genie_lab.twins.inverse_steps) take two different codes, the two that explain the pair
        best: a code that held both turns explains no such pair, and which turn takes which code is read inside
        each pair. Returns the labels with the changed steps' codes filled in."""
        rows = (labels <= -2).nonzero().flatten()
        if not len(rows):
            return labels
        K = self.lam.config.num_actions
        acting = torch.tensor([k for k in range(K) if k != self.noop_code], device=clip.device)
        context, target = clip[rows, :-1].repeat_interleave(len(acting), 0), clip[rows, -1].repeat_interleave(len(acting), 0)
        out = self.dynamics(context, self.lam.action_vectors[acting].repeat(len(rows), 1))
        score = -self.dynamics.frame_loss(out, context, target).view(len(rows), len(acting))
        here = torch.arange(len(rows), device=clip.device)
        place = torch.full((len(labels),), -1, dtype=torch.long, device=clip.device)
        place[rows] = here
        group = here if same is None else torch.where(same[rows] >= 0, same[rows], -1 - here)
        _, group = torch.unique(group, return_inverse=True)
        score = torch.zeros(int(group.max()) + 1, len(acting), device=clip.device).index_add_(0, group, score)[group]
        first = torch.full((int(group.max()) + 1,), len(rows), device=clip.device).scatter_reduce(0, group, here, "amin")[group]
        lead = first == here            # a group scores as one, its code given to all
        choice = torch.full((len(rows),), -1, dtype=torch.long, device=clip.device)
        undo = torch.full_like(here, -1) if inverses is None else (
            place[inverses[rows].clamp(min=0)].masked_fill(inverses[rows] < 0, -1))
        joint = (undo > here) & lead
        joint &= lead[undo.clamp(min=0)]
        joint_rows = joint.nonzero().flatten()
        if len(joint_rows) and len(acting) > 1:   # two different codes, the best such two for the pair
            second = undo[joint_rows]
            both = score[joint_rows][:, :, None] + score[second][:, None, :]
            both = both.masked_fill(torch.eye(len(acting), dtype=torch.bool, device=clip.device), float("-inf"))
            best = both.flatten(1).argmax(1)
            choice[joint_rows], choice[second] = best // len(acting), best % len(acting)
        free = lead & (choice < 0)
        if bool(free.any()):
            choice[free] = balanced_argmax(score[free])
        choice = choice[first]
        labels = labels.clone()
        labels[rows] = acting[choice]
        return labels

    def forward(self, clip: torch.Tensor, reward: torch.Tensor, ended: torch.Tensor, labels: torch.Tensor | None = None,
                candidates: torch.Tensor | None = None, same: torch.Tensor | None = None,
                inverses: torch.Tensor | None = None):
        """clip tokens (B, W + 1, 16, 16): context frames then the next frame; labels (B,): env action or -1;
        candidates (B, K) bool or None: the codes each unchanged step may be redrawn with (`noop_rows`);
        same (B,) or None: rows that take one code (a rotated twin pair, a cycle); inverses (B,) or None: each row's inverse step
        in the batch (`best_codes`, with `search`).

        A labelled step's latent is its env action (the dynamics model receives that code), so each code means
        one action in every state, including where the action changes nothing (forward into a wall): the
        dynamics model sees the move code against walls and learns that they stop it. With a "nothing changed"
        code, the LAM's target on such a step is that code: from frames alone an unchanged step is "nothing".
        """
        if self.search and self.training and labels is not None:
            labels = self.best_codes(clip, labels, same, inverses)
        acted, lam_labels = None, labels
        if labels is not None and self.noop_code is not None:
            # a labelled step that changed nothing (forward into a wall): the dynamics model gets its action, but
            # the LAM, which sees only the frames, learns to read it as "nothing changed" (it cannot see which
            # action did nothing; asked to, it read drops into unchanged frames: issue 10, 14 of 2,000 real steps)
            acted = (labels >= 0) & (labels != self.noop_code) & frame_unchanged(clip)
            lam_labels = torch.where(acted, torch.full_like(labels, self.noop_code), labels)
        latent = self.lam(clip, lam_labels)
        context, target, vectors = clip[:, :-1], clip[:, -1], latent.vectors
        if acted is not None:
            vectors = torch.where(acted[:, None], self.lam.action_vectors[labels.clamp(min=0)].to(vectors.dtype), vectors)
        noops = self.noop_rows(clip, ended, labels, candidates) if self.training else None
        if noops is not None:
            rows, codes = noops
            context, target = torch.cat([context, context[rows]]), torch.cat([target, target[rows]])
            vectors = torch.cat([vectors, self.lam.action_vectors[codes]])
            reward, ended = torch.cat([reward, reward[rows]]), torch.cat([ended, ended[rows]])
        out = self.dynamics(context, vectors)
        loss, metrics = self.dynamics.loss(out, context, target, reward, ended)
        self.frame_loss = self.dynamics.last_frame_loss[: len(clip)]    # the batch's own rows, not the redrawn ones
        used, perplexity = self.lam.quantizer.usage(latent.indices)
        metrics.update({"lam/used": used, "lam/perplexity": perplexity, "loss/latent_entropy": latent.commitment.item()})
        loss = loss + latent.commitment
        if latent.supervised is not None:
            metrics["loss/latent_labels"] = latent.supervised.item()
            loss = loss + self.label_weight * latent.supervised
        return loss, metrics
