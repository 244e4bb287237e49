"""GenieDream: a Genie-style world model of MiniGrid, learned from pixels, served as the Gymnasium env GenieDream-v0.

    import gymnasium as gym
    import genie_env  # registers GenieDream-v0 (or use gym.make("genie_env:GenieDream-v0"))
    env = gym.make("GenieDream-v0")
"""
from gymnasium.envs.registration import register, registry

__version__ = "0.1.0"

if "GenieDream-v0" not in registry:
    register(
        id="GenieDream-v0",
        entry_point="genie_env.envs:GenieDreamEnv",
        vector_entry_point="genie_env.envs:GenieDreamVectorEnv",
        max_episode_steps=256,
        kwargs={"world": None, "device": "auto", "obs_type": "rgb", "temperature": 0.0},
    )


def load_world_model(path=None, device: str = "cpu"):
    """Load a world: None for the shipped default, a shipped world's name, or a path. See genie_env.world."""
    from genie_env.world import load_world_model as _load

    return _load(path, device)


def __getattr__(name):
    if name == "WorldModel":
        from genie_env.world import WorldModel

        return WorldModel
    raise AttributeError(f"module 'genie_env' has no attribute {name!r}")
