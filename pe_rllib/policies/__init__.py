"""Policies behind one ``act(obs [B, D]) -> actions [B, A]`` interface: scripted opponents and trained roles."""

from pe_rllib.policies.catalogue import make_world_scripted, world_scripted_names
from pe_rllib.policies.scripted import SCRIPTED, ScriptedPolicy, make_scripted, scripted_names


def load_policy(path, role, **kwargs):
    """Load a trained role's policy (see :func:`pe_rllib.policies.inference.load_policy`)."""
    from pe_rllib.policies.inference import load_policy as _load

    return _load(path, role, **kwargs)


__all__ = ["SCRIPTED", "ScriptedPolicy", "make_scripted", "make_world_scripted", "scripted_names", "load_policy",
           "world_scripted_names"]
