"""The config layer's ground: roles, the one-line :class:`ConfigError`, field checks, and the YAML <->
frozen-dataclass mechanism (:func:`from_dict`, :func:`to_dict`, :func:`replaced`, dotted paths) every
section and the sweep file share."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Mapping, TypeVar


class ConfigError(ValueError):
    """A config value or key is invalid. The message names the key's path."""


ROLES: tuple[str, str] = ("pursuer", "evader")
"""The two roles, in the fixed agent order every env, module map and array uses."""

SCRIPTED_POLICIES: dict[str, tuple[str, ...]] = {
    "pursuer": ("pure_pursuit", "proportional_navigation", "lead_pursuit", "random"),
    "evader": ("straight_flee", "circling", "random"),
}
"""Names of the scripted policies per role of the 2-D world (implemented in :mod:`pe_rllib.policies.scripted`,
which checks at import that it implements exactly these)."""

AERIAL_SCRIPTED_POLICIES: dict[str, tuple[str, ...]] = {
    "pursuer": ("pure_pursuit", "pn", "apn", "random"),
    "evader": ("straight", "weave", "break_turn", "random"),
}
"""The aerial world's scripted policies per role (:mod:`pe_rllib.policies.guidance` checks it implements them)."""

WORLDS: tuple[str, str] = ("planar", "aerial")
"""The worlds an experiment can train in: the 2-D unicycle world (``env``) and the 3-D aerial one (``aerial``)."""


def scripted_catalogue(world: str | None = None) -> dict[str, tuple[str, ...]]:
    """The scripted policies per role of ``world`` ("planar" or "aerial"), or of both (None: a name means the same
    roles in either world, so sections that do not know the world validate against this union)."""
    if world is not None:
        return {"planar": SCRIPTED_POLICIES, "aerial": AERIAL_SCRIPTED_POLICIES}[world]
    return {role: tuple(dict.fromkeys(SCRIPTED_POLICIES[role] + AERIAL_SCRIPTED_POLICIES[role])) for role in ROLES}


def scripted_name_set(world: str | None = None) -> set[str]:
    """Every scripted policy name of ``world`` (of both worlds for None), whichever role it plays."""
    return {name for names in scripted_catalogue(world).values() for name in names}


SUCCESS_RATE: dict[str, str] = {"pursuer": "capture_rate", "evader": "escape_rate"}
"""The outcome rate each role wants high (escape: the episode runs out uncaptured)."""


def other_role(role: str) -> str:
    """The opponent of ``role``."""
    return ROLES[1 - ROLES.index(role)]


def _check(condition: bool, name: str, message: str, value: Any) -> None:
    if not condition:
        raise ConfigError(f"{name}: {message}, got {value!r}")


def _integers_at_least(obj: Any, low: int, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        _check(isinstance(value, int) and value >= low, name, f"must be an integer >= {low}", value)


def _positive(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        _check(math.isfinite(value) and value > 0, name, "must be > 0", value)


def _at_most(obj: Any, limit: float, *names: str) -> None:
    """Upper bounds against absurd sizes (they would hang or exhaust memory, not fail)."""
    for name in names:
        value = getattr(obj, name)
        _check(value <= limit, name, f"must be <= {limit:g}", value)


def _non_negative(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        _check(math.isfinite(value) and value >= 0, name, "must be >= 0", value)


Section = TypeVar("Section")


def replaced(section: Section, overrides: Mapping[str, Any], path: str) -> Section:
    """``section`` (a config dataclass) with some fields replaced, validated like the section read from YAML
    at ``path`` (errors name ``path.field``); ``section`` itself when there is nothing to replace."""
    if not overrides:
        return section
    return from_dict(type(section), {**to_dict(section), **overrides}, path)


# --------------------------------------------------------------------------- loading


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against annotation ``tp``; build nested dataclasses; int -> float is allowed."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, path)
    if _is_dataclass_type(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: must be a mapping, got {value!r}")
        return from_dict(tp, value, path)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: must be a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not (isinstance(value, int) or
                                           (isinstance(value, float) and value.is_integer())):
            raise ConfigError(f"{path}: must be an integer, got {value!r}")
        return int(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: must be true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: must be a string, got {value!r}")
        return value
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: must be a list, got {value!r}")
        inner = typing.get_args(tp)[0]
        return tuple(_coerce(v, inner, f"{path}[{i}]") for i, v in enumerate(value))
    return value


def from_dict(cls: type, data: Mapping[str, Any], path: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and naming bad paths."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    prefix = f"{path}." if path else ""
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown key (valid keys: {', '.join(sorted(names))})")
    kwargs = {key: _coerce(value, hints[key], f"{prefix}{key}") for key, value in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise ConfigError(f"{prefix}{err}") from None


def to_dict(obj: Any) -> dict[str, Any]:
    """Plain-data dict of a config dataclass (YAML/JSON friendly; tuples become lists)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            value = to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def get_dotted(tree: Mapping[str, Any], dotted: str) -> Any:
    """The leaf value at ``a.b.c`` of a nested dict (``KeyError`` naming the path when it is missing or a
    section rather than a field): the one dotted-path reader beside :func:`set_dotted`."""
    node: Any = tree
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            raise KeyError(dotted)
        node = node[key]
    if isinstance(node, Mapping):
        raise KeyError(dotted)
    return node


def set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """``tree[a][b][c] = value`` for ``dotted`` ``"a.b.c"``, creating missing sections (plain dicts)."""
    node = tree
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{dotted}: {key} is not a section")
    node[leaf] = value
