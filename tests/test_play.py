"""Human play, headless: SDL's dummy video driver and posted key events drive the real pygame loop."""
import gymnasium as gym
import pygame

import genie_env  # noqa: F401
from genie_env.play import play


def test_keys_step_reset_and_quit(tiny_world_path):
    keys = [pygame.K_UP, pygame.K_LEFT, pygame.K_1, pygame.K_a, pygame.K_r, pygame.K_RIGHT, pygame.K_ESCAPE]
    result = play(world=str(tiny_world_path), keys=keys, max_frames=50, fps=0)
    assert result["steps"] == 4            # up, left, latent 1, right; "a" is no key of ours
    assert result["resets"] == 1
    assert result["frames"] == len(keys)   # Esc ended the loop before max_frames
    assert result["fps"] >= 30


def test_real_env_with_the_same_keys():
    result = play(real=True, keys=[pygame.K_UP, pygame.K_UP, pygame.K_t, pygame.K_ESCAPE], max_frames=20, fps=0)
    assert result["steps"] == 3 and result["frames"] == 4


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
