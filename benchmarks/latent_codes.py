"""What the codes of an unsupervised world mean, read off a `trainers.world` checkpoint against the true actions
(issue 26; Empty-8x8 frames at 8 px a tile: the agent found by its red pixels). Encodes the checkpoint's whole
dataset (minutes), then prints, over changed training steps drawn with one seed: the LAM's code x true action, the
best-predicting code (the acting code whose dream is nearest) x true action, how often each gives the changed frame
exactly, and the LAM's codes of the turns by start heading and by turning towards / away from the grid's centre.

    python benchmarks/latent_codes.py runs/exp-rival/checkpoint.safetensors --steps 3000 --seed 0
"""
import argparse
import json
import numpy as np, torch
from genie_env.io import load_tensors
from genie_env.checkpoint import load_model
from genie_env.dataset import Dataset
from genie_env.dynamics import tile_patterns
from genie_env.tokenizer import Tokenizer, TokenizerConfig
from genie_env.vocab import build_vocab, ids_by_look
from genie_lab.assemble import encode_dataset
from genie_lab.pixels import split_looks
from genie_lab.brain import Brain
import trainers.world as tw

torch.set_grad_enabled(False)
parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("checkpoint", help="a trainers.world checkpoint.safetensors (its config names the data and tokenizer)")
parser.add_argument("--steps", type=int, default=3000, help="changed training steps drawn")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
ck = args.checkpoint
tensors, meta = load_tensors(ck)
info = json.loads(meta["training_state"])
cfg = tw.TrainWorldConfig(**info["config"])
print("step", info["step"])
data = Dataset.load(cfg.data)
tok = load_model(cfg.tokenizer, Tokenizer, TokenizerConfig, "tokenizer")
codes = encode_dataset(tok, data.frames); patches = tok.patch_table(); vocab = build_vocab(codes, patches)
vocab, pixels, _ = split_looks(vocab, patches[vocab], data.frames)
ids = ids_by_look(torch.from_numpy(data.frames), patches[vocab], exact=pixels).to(torch.int16).numpy()
tiles = tile_patterns(torch.from_numpy(ids).long())
lam, dyn = tw.world_models(cfg, len(vocab), len(tiles)); dyn.set_tiles(tiles)
lam.load_state_dict({k[len("model.lam."):]: v for k, v in tensors.items() if k.startswith("model.lam.")})
dyn.load_state_dict({k[len("model.dynamics."):]: v for k, v in tensors.items() if k.startswith("model.dynamics.")})
lam.eval(); dyn.eval()
brain = Brain(lam, dyn, noop_code=cfg.num_actions - 1, search=True)
changed = (ids[data.step_frame] != ids[data.step_frame + 1]).reshape(len(data.actions), -1).any(1)
rng = np.random.default_rng(args.seed)
steps = rng.choice(np.flatnonzero(changed), args.steps, replace=False)
K = cfg.num_actions
conf_lam = np.zeros((K, 7), int); conf_best = np.zeros((K, 7), int)
exact_lam = exact_best = 0
for i in range(0, len(steps), 250):
    b = steps[i:i+250]
    clip = torch.from_numpy(ids[data.context_indices(b, cfg.context)]).long()
    code = lam.infer(clip)
    acting = torch.arange(K - 1)
    ctx, tgt = clip[:, :-1], clip[:, -1]
    out = dyn(ctx.repeat_interleave(K - 1, 0), lam.action_vectors[acting].repeat(len(b), 1))
    loss = dyn.frame_loss(out, ctx.repeat_interleave(K - 1, 0), tgt.repeat_interleave(K - 1, 0)).view(len(b), K - 1)
    best = loss.argmin(1)
    pred = dyn.to_tiles(tgt)  # target tiles
    tiles_pred = out.logits.argmax(-1).view(len(b), K - 1, *out.logits.shape[1:-1])
    ex = (tiles_pred == pred[:, None]).flatten(2).all(2)   # (B, K-1)
    a = data.actions[b]
    for j in range(len(b)):
        conf_lam[int(code[j]), a[j]] += 1; conf_best[int(best[j]), a[j]] += 1
        exact_lam += int(code[j] < K - 1 and ex[j, min(int(code[j]), K - 2)])
        exact_best += int(ex[j, int(best[j])])
print("true actions: left right forward pickup drop toggle done")
print("LAM code x true action\n", conf_lam)
print("best-predicting code x true action\n", conf_best)
print("changed frames exact: LAM code", exact_lam / len(steps), " best code", exact_best / len(steps))

def agent_pixels(frames):
    """(N, 64, 64) bool: the agent's red pixels."""
    return (frames[..., 0].astype(int) - frames[..., 1] > 100) & (frames[..., 0] > 200)


def heading(frames):
    out = []
    for m in agent_pixels(frames):
        ys, xs = np.nonzero(m)
        if not len(ys): out.append(-1); continue
        cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
        dy, dx = ys.mean() - cy, xs.mean() - cx
        out.append(0 if abs(dx) > abs(dy) and dx > 0 else 2 if abs(dx) > abs(dy) else 1 if dy > 0 else 3)
    return np.array(out)
turn = steps[data.actions[steps] < 2]
h0 = heading(data.frames[data.step_frame[turn]])
clipT = torch.from_numpy(ids[data.context_indices(turn, cfg.context)]).long()
codeT = np.concatenate([lam.infer(clipT[i:i+250]).numpy() for i in range(0, len(turn), 250)])
print("rows: (action, start heading E S W N); cols: LAM code")
for a in (0, 1):
    for h in range(4):
        m = (data.actions[turn] == a) & (h0 == h)
        print(["left", "right"][a], "ESWN"[h], np.bincount(codeT[m], minlength=K))

def pose(frames):
    out = []
    for m in agent_pixels(frames):
        ys, xs = np.nonzero(m)
        out.append(((xs.min() + xs.max()) / 2 / 8, (ys.min() + ys.max()) / 2 / 8))
    return np.array(out)
V = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]])
h1 = heading(data.frames[data.step_frame[turn] + 1])
p = pose(data.frames[data.step_frame[turn]])
toc = np.array([3.5, 3.5]) - p
gain = (V[h1] * toc).sum(1) - (V[h0] * toc).sum(1)
for name, feat in (("toward centre", gain > 0), ("away", gain < 0), ("tie", gain == 0)):
    print(name, np.bincount(codeT[feat], minlength=K))
