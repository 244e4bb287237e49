"""Human play, headless: SDL's dummy video driver and posted key events drive the real pygame loop."""
import gymnasium as gym
import pytest
import pygame

import genie_env  # noqa: F401
from genie_env.play import play


def test_keys_step_reset_and_quit(tiny_world_path):
    keys = [pygame.K_UP, pygame.K_LEFT, pygame.K_1, pygame.K_a, pygame.K_r, pygame.K_RIGHT, pygame.K_ESCAPE]
    result = play(world=str(tiny_world_path), keys=keys, max_frames=50, fps=0)
    assert result["steps"] == 4            # up, left, latent 1, right; "a" is no key of ours
    assert result["resets"] == 1
    assert result["frames"] == len(keys)   # Esc ended the loop before max_frames
    assert result["fps"] > 0               # its speed is a benchmark's business (a loaded CI machine is slow), not a test's


def test_real_env_with_the_same_keys():
    result = play(real=True, keys=[pygame.K_UP, pygame.K_UP, pygame.K_t, pygame.K_ESCAPE], max_frames=20, fps=0)
    assert result["steps"] == 3 and result["frames"] == 4


def test_real_play_follows_the_world(capsys):
    """`play --real --world doorkey8` plays the world's own env (it used to play Empty-8x8 unless --env said)."""
    from genie_env.play import main

    main(["--real", "--world", "doorkey8", "--max-frames", "2"])
    assert capsys.readouterr().out.startswith("MiniGrid-DoorKey-8x8-v0: 2 frames")
    main(["--real", "--world", "doorkey8", "--env", "MiniGrid-Empty-5x5-v0", "--max-frames", "1"])
    assert capsys.readouterr().out.startswith("MiniGrid-Empty-5x5-v0: 1 frames")


def test_h_shows_the_keys_and_r_clears_the_last_action():
    """Issue 25: after R the status still named the last action; H shows (and hides) the keys over the frame."""
    from genie_env.play import READY

    stepped = play(real=True, keys=[pygame.K_UP, pygame.K_h, pygame.K_ESCAPE], max_frames=10, fps=0)
    assert stepped["help"] and stepped["status"].startswith("forward")
    keys = [pygame.K_UP, pygame.K_h, pygame.K_h, pygame.K_r, pygame.K_ESCAPE]
    reset = play(real=True, keys=keys, max_frames=10, fps=0)
    assert not reset["help"] and reset["steps"] == 1 and reset["resets"] == 1
    assert reset["status"].startswith(READY) and "forward" not in reset["status"]


def test_status_fits_the_window_and_the_help_names_every_key():
    """Issue 25: the status ran past the window's edge. Its lines, measured in the window's own font, fit at every
    scale, and at the default scale nothing of the longest status is cut."""
    import numpy as np

    from genie_env.window import ENV_ACTION_KEYS, HELP, STATUS_LINES, Window

    longest = "latent 7 = does nothing here   reward 0.95   episode over: R   1000 FPS"
    for scale in (2, 4, 8):
        window = Window(scale)
        lines = window.status_lines(longest)
        assert 1 <= len(lines) <= STATUS_LINES
        assert all(window.font.size(line)[0] <= window.screen.get_width() for line in lines), (scale, lines)
    assert " ".join(lines).split() == longest.split()
    frame = np.zeros((64, 64, 3), np.uint8)
    window.show(frame, longest)
    plain = pygame.surfarray.array3d(window.screen)
    window.show(frame, longest, show_help=True)
    assert not np.array_equal(plain, pygame.surfarray.array3d(window.screen))
    window.close()
    named = set(" ".join(keys for keys, _ in HELP).lower().replace("/", " ").split())
    assert {name[2:].lower() for name in ENV_ACTION_KEYS} | {"0-9", "r", "h", "esc"} <= named


def test_gymnasium_utils_play(tiny_world_path):
    from gymnasium.utils.play import play as gym_play

    env = gym.make("GenieDream-v0", world=str(tiny_world_path), device="cpu", render_mode="rgb_array")
    keys_to_action = env.unwrapped.get_keys_to_action()
    assert all(0 <= a < env.action_space.n for a in keys_to_action.values())
    calls = []

    def quit_after_three(*transition):
        calls.append(transition)
        if len(calls) == 3:
            pygame.event.post(pygame.event.Event(pygame.QUIT))

    gym_play(env, keys_to_action=keys_to_action, callback=quit_after_three, fps=60, noop=0)
    assert len(calls) == 3


# Worlds whose dreams are still below issue 10's bar (docs/RESULTS.md): the test runs and reports, not hides, them.
BELOW_THE_BAR: dict[str, str] = {}   # world name -> why it is below the bar (xfail); none at present


def shipped_worlds():
    from genie_env.world_file import WORLDS_DIR

    names = sorted(p.name for p in WORLDS_DIR.iterdir() if (p / "world.json").is_file())
    return [pytest.param(n, marks=pytest.mark.xfail(reason=BELOW_THE_BAR[n], strict=False)) if n in BELOW_THE_BAR
            else n for n in names]


@pytest.mark.parametrize("world", shipped_worlds())
def test_arrow_keys_in_the_shipped_world_match_the_real_env(world):
    """Issue 10: 50 arrow presses through the play loop; every dreamed frame against the real env's for the same
    keys (the dream starts from the real env's first frame, so unseen layouts are tested too)."""
    import numpy as np
    import minigrid  # noqa: F401

    from genie_env import load_world_model
    from genie_env.frames import psnr, render_frame

    env_id = load_world_model(world).info["env_id"]
    arrows = [pygame.K_LEFT, pygame.K_RIGHT, pygame.K_UP]
    correct, total = 0, 0
    for seed in (101, 202):
        keys = [arrows[k] for k in np.random.default_rng(seed).choice(3, 50, p=(0.25, 0.25, 0.5))]
        real_env = gym.make(env_id)
        real_env.reset(seed=seed)
        prompt = render_frame(real_env)
        real_env.close()
        real = play(real=True, env_id=env_id, seed=seed, keys=keys, max_frames=50, fps=0, keep_frames=True)
        dream = play(world=world, prompt=prompt, keys=keys, max_frames=50, fps=0, keep_frames=True)
        steps = len(real["ended"]) if not any(real["ended"]) else real["ended"].index(True) + 1
        scores = psnr(np.stack(dream["frames_after_steps"][:steps]), np.stack(real["frames_after_steps"][:steps]))
        correct, total = correct + int((scores >= 30).sum()), total + steps
    assert correct / total >= 0.95, f"{world}: {correct} of {total} frames within 30 dB of the real env"
