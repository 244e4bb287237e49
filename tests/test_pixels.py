"""genie_lab.pixels and WorldModel.set_pixels: frames read and drawn back come out exactly as real play drew them."""
import gymnasium as gym
import minigrid  # noqa: F401
import numpy as np
import pytest
import torch

from genie_env.frames import render_frame
from genie_env.vocab import ids_by_look
from genie_lab.pixels import distinct_patches, real_pixels, split_looks


def real_frames(env_id: str, seeds, steps: int = 30) -> np.ndarray:
    env, frames = gym.make(env_id), []
    for seed in seeds:
        env.reset(seed=int(seed))
        rng = np.random.default_rng(int(seed))
        for _ in range(steps):
            frames.append(render_frame(env))
            _, _, terminated, truncated, _ = env.step(int(rng.integers(7)))
            if terminated or truncated:
                break
    return np.stack(frames)


def test_distinct_patches_counts_every_patch():
    frames = real_frames("MiniGrid-Empty-5x5-v0", [0, 1], steps=5)
    patches, counts = distinct_patches(frames, chunk=3)
    assert counts.sum() == len(frames) * 256 and len(np.unique(patches.reshape(len(patches), -1), axis=0)) == len(patches)


def test_split_looks_gives_every_real_patch_its_own_id():
    """A tokenizer that merged patches (here: one look for all of them) gets one id per distinct real patch, the
    commonest keeping the look's id; read with the real pixels, every frame draws back pixel-identical."""
    frames = real_frames("MiniGrid-Empty-5x5-v0", range(3), steps=8)
    patches, counts = distinct_patches(frames)
    looks = torch.full((1, 4, 4, 3), 100, dtype=torch.uint8)
    vocab, pixels, report = split_looks(torch.tensor([7]), looks, frames)
    assert report["ids"] == len(patches) == len(vocab) and report["ids_split_off"] == len(patches) - 1
    assert (vocab == 7).all() and (pixels[0].numpy() == patches[counts.argmax()]).all()
    ids = ids_by_look(torch.from_numpy(frames), looks[torch.zeros(len(vocab), dtype=torch.long)], exact=pixels)
    drawn = pixels[ids].permute(0, 1, 3, 2, 4, 5).reshape(-1, 64, 64, 3).numpy()
    assert (drawn == frames).all()
    with pytest.raises(ValueError, match="distinct patches"):
        split_looks(torch.tensor([7]), looks, frames, limit=2)


def test_pixels_draw_real_frames_exactly(tiny_world):
    """With real pixels, every patch reads as the id it read as before (the ids the world was trained on), and a
    frame drawn from ids reads back as the same ids; patterns the tokenizer kept apart come back pixel-exact."""
    frames = real_frames("MiniGrid-Empty-5x5-v0", range(6))
    before = tiny_world.frames_to_ids(frames)
    report = {}
    table = real_pixels(tiny_world.tokenizer.patch_table()[tiny_world.vocab], frames, report, tiny_world.pixels)
    assert table is not None and report["distinct_patches"] >= report["looks_used"] >= 1
    tiny_world.set_pixels(table)
    assert torch.equal(tiny_world.frames_to_ids(frames), before)
    drawn = tiny_world.ids_to_frames(before).numpy()
    assert torch.equal(tiny_world.frames_to_ids(drawn), before)
    raw = ids_by_look(torch.from_numpy(frames), tiny_world.looks, exact=tiny_world.patches)
    if report["patch_share_drawn_as_another"] == 0 and torch.equal(raw, before):
        assert (drawn == frames).all()   # every real patch its own id, every tile pattern known: frames come back exact
    with pytest.raises(ValueError, match="pixels must be uint8"):
        tiny_world.set_pixels(table.float())


@pytest.mark.parametrize("name, env_id", [("empty8", "MiniGrid-Empty-8x8-v0"), ("doorkey8", "MiniGrid-DoorKey-8x8-v0")])
def test_shipped_worlds_read_and_draw_real_frames_exactly(name, env_id):
    """200 real frames of unseen seeds, read and drawn back by a shipped world: every one pixel-identical."""
    from genie_env import load_world_model

    world = load_world_model(name)
    frames = real_frames(env_id, range(9_100_000, 9_100_020), steps=10)[:200]
    drawn = world.ids_to_frames(world.frames_to_ids(frames)).numpy()
    assert (drawn == frames).reshape(len(frames), -1).all(1).mean() == 1.0
