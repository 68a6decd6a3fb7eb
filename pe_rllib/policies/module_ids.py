"""Module ids of the self-play MultiRLModule: each role's own module, its snapshot slots, scripted stand-ins."""

from __future__ import annotations

from pe_rllib.config import ROLES


def slot_id(role: str, index: int) -> str:
    return f"{role}_snapshot_{index}"


def slot_ids(slots: int) -> list[str]:
    return [slot_id(role, j) for role in ROLES for j in range(slots)]


def scripted_id(role: str) -> str:
    """Module id of the scripted cold-start opponent playing ``role``."""
    return f"{role}_scripted"


def scripted_opponent_id(role: str, name: str) -> str:
    """Module id of scripted policy ``name`` playing ``role`` as a league pool entry."""
    return f"{role}_scripted_{name}"


def anchor_id(role: str, index: int) -> str:
    """Module id of a searched anchor playing ``role`` (a league pool entry: a scripted controller whose
    parameters a search found)."""
    return f"{role}_anchor_{index}"


def anchor_ids(anchors: int) -> list[str]:
    return [anchor_id(role, j) for role in ROLES for j in range(anchors)]


def exploiter_id(role: str) -> str:
    """Module id of ``role``'s main exploiter (trained against the other role's current policy)."""
    return f"{role}_exploiter"


def trained_modules(roles, exploiter_roles=()) -> list[str]:
    """The modules that train while ``roles`` do: the roles' own and the exploiters of ``exploiter_roles``."""
    return sorted([*roles, *(exploiter_id(role) for role in exploiter_roles)])


def is_substitute(module_id: str) -> bool:
    """A module other than a role's own main one (snapshot, scripted, searched anchor or exploiter)."""
    return any(tag in module_id for tag in ("_snapshot_", "_scripted", "_anchor_", "_exploiter"))
