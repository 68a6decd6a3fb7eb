"""Policies: scripted opponents (and, with training, learned RLModules) behind one ``act`` interface."""

from pe_rllib.policies.scripted import SCRIPTED, ScriptedPolicy, make_scripted, scripted_names

__all__ = ["SCRIPTED", "ScriptedPolicy", "make_scripted", "scripted_names"]
