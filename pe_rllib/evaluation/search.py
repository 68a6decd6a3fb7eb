"""Searched scripted best responses: the cross-entropy method over a controller family.

A role's searched best response is the controller of a parameterised family
(:mod:`pe_rllib.policies.families`) that succeeds most often against a frozen opponent
(capture for a pursuer, escape for an evader). No training: every candidate plays on the
batched world core, a whole population at once (one parameter row per arena).

How it searches (:func:`search_best_response`):

1. **Cross-entropy method** in the family's unit cube: each generation draws
   ``population`` candidates from a diagonal Gaussian (the current mean is always one of
   them), plays each for ``episodes`` episodes from the *same* starts (common random
   numbers: the starts are drawn once per generation and tiled over the candidates, so
   candidates are compared on identical situations), and moves the Gaussian towards the
   best ``elite_fraction``. Each generation uses fresh starts.
2. **Restarts**: ``restarts`` independent searches (search seeds ``seed``, ``seed + 1``, ...),
   since one search can settle 0.1 below another on the same opponent (BENCHMARKS.md, issue
   21, seventh session); restart ``k`` of seed ``s`` is exactly the single search of seed
   ``s + k``.
3. **Selection on fresh episodes**: every restart's ``finalists`` candidates with the best
   search fitness, and its final mean, are re-played on the same ``selection_episodes``
   episodes, which no search saw, with any controllers the caller hands in (``candidates``:
   ``pe-rllib exploit`` adds the run's own searched anchors); the best of them is the result.
   (Picking the best of hundreds of noisy estimates flatters it; this step removes most of that bias.)
4. The caller reports the result on yet another set of episodes (``pe-rllib exploit`` uses
   the evaluation seed, the same episodes the trained role is measured on).

Seeds: generation ``g`` of search seed ``s`` resets its worlds with seed
``SEARCH_SEED_BASE * (s + 1) + g`` and the selection (of seed ``s``, for all its restarts) with
``... + 100_000``, far from the
small evaluation seeds (0, 1, ...), so the search never optimises on the reported episodes.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np

from pe_rllib.config import SUCCESS_RATE, ConfigError, ExperimentConfig
from pe_rllib.envs.core import CAPTURE, TIMEOUT
from pe_rllib.evaluation.matchups import Policy, play_first_episodes
from pe_rllib.policies.families import ParametricPolicy, make_family

logger = logging.getLogger(__name__)

SEARCH_SEED_BASE = 1_000_003
_SELECTION_OFFSET = 100_000


@dataclass(frozen=True)
class SearchSettings:
    """How hard the search looks (defaults: about 30k episodes per restart, a minute or two on 2 cores)."""

    generations: int = 20
    population: int = 32
    """Candidates per generation (the current mean is one of them)."""
    episodes: int = 48
    """Episodes per candidate per generation (the same starts for every candidate)."""
    elite_fraction: float = 0.25
    smoothing: float = 0.7
    """How far the Gaussian moves towards the elites each generation (1: all the way)."""
    initial_std: float = 0.3
    """Initial standard deviation in the unit cube of the parameters."""
    min_std: float = 0.02
    finalists: int = 4
    selection_episodes: int = 500
    seed: int = 0
    restarts: int = 1
    """Independent searches (seeds ``seed`` .. ``seed + restarts - 1``) whose finalists compete in one selection."""
    family: str | None = None
    """The controller family (default: the role's first, see :data:`pe_rllib.policies.families.FAMILIES`)."""
    pinned: tuple[tuple[str, float], ...] = ()
    """``(parameter, value)`` pairs held fixed while the rest are searched (ablations of a family's terms)."""
    recall: int = 0
    """With ``recall`` > 0 every candidate remembers (partial observation only): it acts on its observation with
    an opponent it lost sight of dead-reckoned for up to ``recall`` steps
    (:class:`~pe_rllib.policies.memory.RememberingController`), so the yardstick has memory where the roles it
    measures have it; 0: the controller acts on what it observes."""

    def __post_init__(self) -> None:
        for name in ("generations", "population", "episodes", "finalists", "selection_episodes", "restarts"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"search.{name}: must be an integer >= 1, got {value!r}")
        if self.population < 2:
            raise ConfigError(f"search.population: must be >= 2, got {self.population}")
        for name in ("elite_fraction", "smoothing"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ConfigError(f"search.{name}: must be in (0, 1], got {getattr(self, name)}")
        if not 0.0 < self.min_std <= self.initial_std:
            raise ConfigError(f"search.initial_std: must be >= min_std > 0, got {self.initial_std}, {self.min_std}")
        if not isinstance(self.recall, int) or self.recall < 0:
            raise ConfigError(f"search.recall: must be an integer >= 0, got {self.recall!r}")

    @property
    def elites(self) -> int:
        return max(1, round(self.elite_fraction * self.population))


YARDSTICK_RESTARTS = 3
"""Restarts of ``pe-rllib exploit``'s search (the yardstick): the best of three searches."""


@dataclass
class SearchResult:
    """The best controller found, and how the search went."""

    role: str
    family: str
    params: dict[str, float]
    selection_rate: float
    """Its success rate on the selection episodes (fresh to the search, not the reported ones); against several
    opponents, the worst of its rates."""
    selection_episodes: int
    settings: dict
    history: list[dict] = field(default_factory=list)
    """Per generation of every restart: best and mean fitness, and the mean's parameters."""
    finalists: list[dict] = field(default_factory=list)
    episodes_played: int = 0
    wall_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def success(outcome: np.ndarray, role: str) -> np.ndarray:
    """Per-episode success of ``role`` from outcome codes."""
    return outcome == (CAPTURE if role == "pursuer" else TIMEOUT)


def candidate_rates(experiment: ExperimentConfig, controller: ParametricPolicy, opponent: Policy,
                    params: np.ndarray, episodes: int, seed: int) -> np.ndarray:
    """Success rate of each parameter row of ``params`` ``[C, P]`` against ``opponent``, each over the
    same ``episodes`` starts (drawn with ``seed``): ``[C]``."""
    from pe_rllib.safety import make_batched_env

    count = len(params)
    controller.set_params(np.repeat(params, episodes, axis=0))

    def tiled_starts(state):
        return state.take(np.tile(np.arange(episodes), count))

    pair = (controller, opponent) if controller.role == "pursuer" else (opponent, controller)
    record = play_first_episodes(lambda n: make_batched_env(n, experiment), *pair, count * episodes, seed=seed,
                                 prepare=tiled_starts)
    return success(record.outcome, controller.role).reshape(count, episodes).mean(axis=1)


def cross_entropy_search(fitness: Callable[[np.ndarray, int], np.ndarray], start: np.ndarray,
                         settings: SearchSettings, rng: np.random.Generator,
                         on_generation: Callable[[int, np.ndarray, np.ndarray], None] | None = None
                         ) -> tuple[np.ndarray, list[tuple[float, np.ndarray]]]:
    """The cross-entropy method over the unit cube (maximising).

    ``fitness(unit [C, P], generation) -> [C]`` scores one generation's candidates (noisy is
    fine); ``start`` is the initial mean. Returns the final mean and every ``(fitness, point)``
    scored. ``on_generation(generation, fitness, mean)`` after each generation.
    """
    dim = len(start)
    mean, std = np.clip(np.asarray(start, dtype=np.float64), 0.0, 1.0), np.full(dim, settings.initial_std)
    seen: list[tuple[float, np.ndarray]] = []
    for generation in range(settings.generations):
        unit = np.clip(mean + std * rng.standard_normal((settings.population, dim)), 0.0, 1.0)
        unit[0] = mean
        rates = np.asarray(fitness(unit, generation), dtype=np.float64)
        seen.extend(zip(rates.tolist(), unit))
        elite = unit[np.argsort(-rates, kind="stable")[:settings.elites]]
        mean = (1 - settings.smoothing) * mean + settings.smoothing * elite.mean(axis=0)
        std = np.maximum((1 - settings.smoothing) * std + settings.smoothing * elite.std(axis=0), settings.min_std)
        if on_generation is not None:
            on_generation(generation, rates, mean)
    return mean, seen


def worst_rates(experiment: ExperimentConfig, controller: ParametricPolicy, opponents: Sequence[Policy],
                params: np.ndarray, episodes: int, seed: int) -> np.ndarray:
    """Each parameter row's worst success rate over ``opponents`` (:func:`candidate_rates` against each, on
    the same starts): ``[C]``."""
    return np.min([candidate_rates(experiment, controller, opponent, params, episodes, seed)
                   for opponent in opponents], axis=0)


def searcher(experiment: ExperimentConfig, role: str, settings: SearchSettings, seed: int):
    """A fresh controller of ``settings.family`` for ``role`` whose random terms are drawn from ``seed``, remembering
    for ``settings.recall`` steps if asked: each restart of a search plays its own, so that restart k of seed s is
    seed s + k's single search exactly, noise included."""
    return remembering(experiment, make_family(role, experiment.world_config, settings.family, seed=seed),
                       settings.recall)


def search_best_response(experiment: ExperimentConfig, role: str, opponent: Policy | Sequence[Policy],
                         settings: SearchSettings = SearchSettings(),
                         progress: Callable[[int, int, float], None] | None = None,
                         start: np.ndarray | None = None, candidates: Sequence[np.ndarray] = ()) -> SearchResult:
    """The best controller of ``role``'s family against the frozen ``opponent`` in ``experiment``'s world
    (safety filter as configured). A sequence of opponents makes it the most robust controller: each
    candidate is scored by its worst success rate over them (the maximin of double oracle's restricted game,
    over pure strategies). ``start``: the family's parameters the search's Gaussian starts at (default: the
    family's defaults), e.g. the previous search's result; every restart starts there. ``candidates``: parameter
    vectors of the family found elsewhere (e.g. a run's searched anchors) that join the selection as they are
    (pinned parameters set), so the result is never worse on the selection episodes than the best of them.
    ``settings.recall``: every candidate (the given ones too) plays remembering (:func:`remembering`).
    ``progress(done, total, best_fitness)`` after each generation, counted over all restarts."""
    started = time.perf_counter()
    opponents = list(opponent) if isinstance(opponent, (list, tuple)) else [opponent]
    if not opponents:
        raise ConfigError(f"search {role}: needs at least one opponent")
    family = type(make_family(role, experiment.world_config, settings.family))
    controller = searcher(experiment, role, settings, settings.seed)         # the selection's
    start = None if start is None else family.complete(start)
    if start is not None and np.shape(start) != np.shape(family.defaults()):
        raise ConfigError(f"search {role}: start must have the {family.family} family's "
                          f"{len(family.names())} parameters, got shape {np.shape(start)}")
    given = _complete_candidates(family, role, candidates)
    history = []
    pin = pinning(family, settings.pinned)
    total = settings.generations * settings.restarts

    def fitness_for(restart: int) -> Callable[[np.ndarray, int], np.ndarray]:
        base = SEARCH_SEED_BASE * (settings.seed + restart + 1)
        player = searcher(experiment, role, settings, settings.seed + restart)   # replays seed + k's search
        return lambda unit, generation: worst_rates(experiment, player, opponents, family.from_unit(pin(unit)),
                                                    settings.episodes, seed=base + generation)

    def on_generation(restart: int, generation: int, rates: np.ndarray, mean: np.ndarray) -> None:
        history.append({"restart": restart, "generation": generation, "best": float(rates.max()),
                        "mean_fitness": float(rates.mean()),
                        "mean_params": family.describe(family.from_unit(pin(mean)))})
        done = restart * settings.generations + generation + 1
        logger.info("search %s generation %d/%d: best %.3f mean %.3f", role, done, total, rates.max(), rates.mean())
        if progress is not None:
            progress(done, total, float(rates.max()))

    initial = pin(family.to_unit(family.defaults() if start is None else start))
    finalists, fitnesses = [], []
    for restart in range(settings.restarts):
        mean, seen = cross_entropy_search(fitness_for(restart), initial, settings,
                                          np.random.default_rng(settings.seed + restart),
                                          functools.partial(on_generation, restart))
        ranked = sorted(seen, key=lambda item: -item[0])[:settings.finalists]
        finalists += [mean] + [u for _, u in ranked]
        fitnesses += [None] + [rate for rate, _ in ranked]
    finalists += [family.to_unit(params) for params in given]
    fitnesses += [None] * len(given)
    sources = ["search"] * (len(finalists) - len(given)) + ["given"] * len(given)
    finalists = pin(np.stack(finalists))
    selection = worst_rates(experiment, controller, opponents, family.from_unit(finalists), settings.selection_episodes,
                            seed=SEARCH_SEED_BASE * (settings.seed + 1) + _SELECTION_OFFSET)
    played = len(opponents) * (settings.restarts * settings.generations * settings.population * settings.episodes
                               + len(finalists) * settings.selection_episodes)
    best = int(np.argmax(selection))
    result = SearchResult(
        role=role, family=family.family, params=family.describe(family.from_unit(finalists[best])),
        selection_rate=float(selection[best]), selection_episodes=settings.selection_episodes,
        settings=asdict(settings), history=history,
        finalists=[{"params": family.describe(family.from_unit(u)), "search_fitness": fit,
                    "selection_rate": float(rate), "source": source}
                   for u, fit, rate, source in zip(finalists, fitnesses, selection, sources)],
        episodes_played=played, wall_s=time.perf_counter() - started)
    logger.info("search %s: %s %s, %s %.3f on %d selection episodes (%.0f s)", role, family.family,
                result.params, SUCCESS_RATE[role], result.selection_rate, settings.selection_episodes, result.wall_s)
    return result


def _complete_candidates(family: type[ParametricPolicy], role: str, candidates: Sequence[np.ndarray]) -> list:
    """``candidates`` completed to the family's parameters (:meth:`ParametricPolicy.complete`); a one-line error
    when one has another size."""
    given = [family.complete(params) for params in candidates]
    if any(np.shape(params) != np.shape(family.defaults()) for params in given):
        raise ConfigError(f"search {role}: candidates must have the {family.family} family's "
                          f"{len(family.names())} parameters each")
    return given


def pinning(family: type[ParametricPolicy], pinned: Sequence[tuple[str, float]]) -> Callable[[np.ndarray], np.ndarray]:
    """A function that sets the ``pinned`` parameters' unit-cube coordinates in points ``[..., P]``; unknown
    names or values outside the bounds raise a one-line error."""
    names, (low, high) = family.names(), family.bounds()
    columns, values = [], []
    for name, value in pinned:
        if name not in names:
            raise ConfigError(f"search.pinned: {name!r} is not a parameter of the {family.family} family "
                              f"(choose from: {', '.join(names)})")
        i = names.index(name)
        if not low[i] <= value <= high[i]:
            raise ConfigError(f"search.pinned: {name} must be in [{low[i]:g}, {high[i]:g}], got {value!r}")
        columns.append(i)
        values.append((value - low[i]) / (high[i] - low[i]))

    def pin(unit: np.ndarray) -> np.ndarray:
        unit = np.array(unit, dtype=np.float64)
        unit[..., columns] = values
        return unit
    return pin


def check_recall(experiment: ExperimentConfig, recall: int) -> None:
    """A one-line error unless a search may remember for ``recall`` steps in ``experiment``'s world."""
    if recall and getattr(experiment.world_config, "observation", None) != "partial":
        raise ConfigError(f"search.recall: needs the 2-D world with env.observation: partial (the opponent can be "
                          f"lost from sight), got recall {recall}")


def remembering(experiment: ExperimentConfig, controller: ParametricPolicy, recall: int):
    """``controller`` remembering an opponent it lost sight of for ``recall`` steps
    (:class:`~pe_rllib.policies.memory.RememberingController`; ``controller`` itself for 0); a one-line error
    outside a partially observed 2-D world."""
    if not recall:
        return controller
    check_recall(experiment, recall)
    from pe_rllib.policies.memory import RememberingController

    return RememberingController(controller, experiment.world_config, recall)


def searched_policy(experiment: ExperimentConfig, result: SearchResult, seed: int | None = None):
    """The controller a search found, ready to play (one parameter row for every arena; a result saved before
    parameters were appended to its family plays their defaults), remembering as it did in the search
    (``settings["recall"]``; a stateful player then)."""
    family = make_family(result.role, experiment.world_config, result.family, seed=seed)
    family.set_params(np.array([result.params.get(name, p.default) for name, p in zip(family.names(),
                                                                                       family.parameters)]))
    return remembering(experiment, family, int(result.settings.get("recall", 0)))


__all__ = ["SEARCH_SEED_BASE", "YARDSTICK_RESTARTS", "SearchResult", "SearchSettings", "candidate_rates",
           "check_recall", "cross_entropy_search", "pinning", "remembering", "search_best_response",
           "searched_policy", "success", "worst_rates"]
