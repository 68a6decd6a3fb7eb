"""Recurrent state of a batch of arenas: nested dicts of arrays, batch first.

A recurrent module's state (RLlib's ``get_initial_state()``, e.g. ``{"actor": {"h": [1, H], "c": [1, H]},
"critic": {...}}`` for an LSTM) is held per arena as the same tree with a leading batch axis,
``{"actor": {"h": [N, 1, H], ...}}``. These helpers tile, index, write and reset such trees; they
work on numpy arrays and torch tensors alike (whatever the leaves are). ``None`` is the state of a
memoryless policy and passes through every helper.

Example:
    >>> import numpy as np
    >>> state = tile({"h": np.zeros((1, 2), np.float32)}, 3)
    >>> state["h"].shape
    (3, 1, 2)
    >>> put(state, np.array([1]), {"h": np.ones((1, 1, 2), np.float32)})
    >>> reset_rows(state, {"h": np.zeros((1, 2), np.float32)}, np.array([False, True, False]))
    >>> float(state["h"].sum())
    0.0
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

State = Any
"""A nested dict of arrays with a leading batch axis, or None (a memoryless policy)."""


def map_state(function: Callable, *states: State) -> State:
    """``function`` applied leaf by leaf to trees of the same structure (None stays None)."""
    first = states[0]
    if first is None:
        return None
    if isinstance(first, dict):
        return {key: map_state(function, *(state[key] for state in states)) for key in first}
    return function(*states)


def _numpy(leaf) -> np.ndarray:
    """A leaf as a numpy array (a torch tensor detached and moved to the CPU)."""
    return leaf.detach().cpu().numpy() if hasattr(leaf, "detach") else np.asarray(leaf)


def to_numpy(state: State) -> State:
    """Leaves as float32 numpy arrays (torch tensors are detached and moved to the CPU)."""
    return map_state(lambda leaf: _numpy(leaf).astype(np.float32, copy=False), state)


def tile(one: State, batch: int) -> State:
    """A batch of ``batch`` copies of a single state (leaves without a batch axis), as numpy arrays."""
    return map_state(lambda leaf: np.repeat(leaf[None], batch, axis=0), to_numpy(one))


def take(state: State, rows) -> State:
    """The rows ``rows`` (an index array, a slice or a mask) of every leaf."""
    return map_state(lambda leaf: leaf[rows], state)


def put(state: State, rows, values: State) -> None:
    """Write ``values`` (numpy or torch leaves, broadcast to the rows) into ``rows`` of every leaf of
    ``state``, in place."""
    if state is None:
        return

    def write(leaf, value):
        leaf[rows] = _numpy(value)
    map_state(write, state, values)


def reset_rows(state: State, initial: State, rows) -> None:
    """Set ``rows`` of ``state`` back to the single state ``initial`` (a new episode starts there), in place."""
    put(state, rows, initial)


def step_items(states: State, begin: int, end: int, column: int) -> list:
    """Per-step single states for steps ``[begin, end)`` of one column (arena) of a ``[T, N, ...]`` tree: the
    list of trees RLlib's episodes store as ``STATE_OUT`` (one per timestep)."""
    if states is None:
        return []
    return [map_state(lambda leaf, t=t: leaf[t, column], states) for t in range(begin, end)]


__all__ = ["State", "map_state", "put", "reset_rows", "step_items", "take", "tile", "to_numpy"]
