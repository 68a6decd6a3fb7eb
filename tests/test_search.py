"""Searched scripted best responses: the controller families, the cross-entropy search, and what it finds."""

import numpy as np
import pytest
from helpers import calls_to

from pe_rllib.config import ConfigError, load_experiment
from pe_rllib.envs import BatchedPursuitEvasion
from pe_rllib.evaluation import search as search_module
from pe_rllib.evaluation.search import (
    SEARCH_SEED_BASE,
    SearchSettings,
    candidate_rates,
    cross_entropy_search,
    search_best_response,
    searched_policy,
)
from pe_rllib.evaluation.suite import Player, play, scripted_players
from pe_rllib.policies.families import OPEN_HEADINGS, EvasionFamily, PursuitFamily, make_family
from pe_rllib.policies.scripted import make_scripted

CONVERGE = load_experiment("converge")
SMALL_SEARCH = SearchSettings(generations=5, population=12, episodes=24, selection_episodes=200)


class NeverTurnsLeft:
    """A planted weakness: an evader that break-turns away from a closing pursuer, but never to the left."""

    def __init__(self, env_config):
        self.inner = make_family("evader", env_config)
        params = self.inner.defaults()
        names = self.inner.names()
        params[names.index("juke_distance")], params[names.index("juke_gain")] = 1.5, 2.0
        self.inner.set_params(params)

    def act(self, obs):
        actions = self.inner.act(obs).copy()
        actions[:, 1] = np.minimum(actions[:, 1], 0.0)          # omega <= 0: right turns only
        return actions


def test_cross_entropy_search_converges_to_the_peak_of_a_noisy_function():
    target = np.array([0.8, 0.2, 0.6])
    noise = np.random.default_rng(1)

    def fitness(unit, generation):
        return np.exp(-((unit - target) ** 2).sum(1) / 0.1) + noise.normal(0, 0.05, len(unit))

    settings = SearchSettings(generations=25, population=24)
    mean, seen = cross_entropy_search(fitness, np.full(3, 0.5), settings, np.random.default_rng(0))
    assert np.abs(mean - target).max() < 0.08
    assert len(seen) == 25 * 24


def test_a_family_takes_one_parameter_row_per_arena_and_checks_bounds():
    env = BatchedPursuitEvasion(6, CONVERGE.env)
    obs = env.reset(seed=0)
    pursuer = make_family("pursuer", env.config)
    rows = np.stack([PursuitFamily.defaults()] * 6)
    rows[:3, pursuer.names().index("pn_gain")] = 5.0
    pursuer.set_params(rows)
    mixed = pursuer.act(obs["pursuer"])
    pursuer.set_params(PursuitFamily.defaults())
    plain = pursuer.act(obs["pursuer"])
    assert np.allclose(mixed[3:], plain[3:]) and mixed.shape == (6, 2) and np.all(np.abs(mixed) <= 1)
    with pytest.raises(ValueError, match="pn_gain must be in"):
        pursuer.set_params(np.where(np.arange(len(rows[0])) == 2, 99.0, rows[0]))
    with pytest.raises(ValueError, match="expected shape"):
        pursuer.set_params(np.zeros(3))
    pursuer.set_params(rows[:4])
    with pytest.raises(ValueError, match="4 rows for a batch of 6"):
        pursuer.act(obs["pursuer"])
    with pytest.raises(ConfigError, match="unknown controller family 'nope' for evader"):
        make_family("evader", env.config, "nope")
    assert EvasionFamily.from_unit(EvasionFamily.to_unit(EvasionFamily.defaults())) == pytest.approx(
        EvasionFamily.defaults())


def test_candidates_are_compared_on_the_same_starts():
    """Common random numbers: identical candidates get identical rates, so differences are the candidates'."""
    evader = make_scripted_evader()
    params = np.stack([PursuitFamily.defaults()] * 3)
    rates = candidate_rates(CONVERGE, make_family("pursuer", CONVERGE.env), evader, params, 40, seed=7)
    assert rates[0] == rates[1] == rates[2]
    other = candidate_rates(CONVERGE, make_family("pursuer", CONVERGE.env), evader, params[:1], 40, seed=8)
    assert other.shape == (1,)


def make_scripted_evader():
    from pe_rllib.policies import make_scripted

    return make_scripted("straight_flee", "evader", CONVERGE.env)


def test_search_finds_a_planted_weakness_no_fixed_scripted_pursuer_finds():
    evader = NeverTurnsLeft(CONVERGE.env)
    found = search_best_response(CONVERGE, "pursuer", evader, SMALL_SEARCH)
    assert found.family == "pursuit" and set(found.params) == set(PursuitFamily.names())
    target = Player("right-turner", "evader", evader)
    rows = play(CONVERGE, [(Player("searched", "pursuer", searched_policy(CONVERGE, found)), target)]
                + [(p, target) for p in scripted_players(CONVERGE, "pursuer", 0)], 400, seed=0)
    searched, scripted = rows[0].capture_rate, max(r.capture_rate for r in rows[1:])
    assert searched > scripted + 0.15, [(r.pursuer, r.capture_rate) for r in rows]
    # The weakness is the planted one: the same evader free to turn both ways is caught far less often.
    free = Player("both-ways", "evader", evader.inner)
    fair = play(CONVERGE, [(Player("searched", "pursuer", searched_policy(CONVERGE, found)), free)], 400, seed=0)
    assert fair[0].capture_rate < searched - 0.1


def test_search_optimises_and_selects_on_episodes_it_never_reports(monkeypatch):
    calls = calls_to(monkeypatch, search_module, "play_first_episodes")
    settings = SearchSettings(generations=3, population=4, episodes=8, selection_episodes=50, seed=2)
    found = search_best_response(CONVERGE, "evader", make_family("pursuer", CONVERGE.env), settings)
    seeds = [call.seed for call in calls]
    *generations, selection = seeds
    assert generations == [SEARCH_SEED_BASE * 3 + g for g in range(3)]          # fresh starts every generation
    assert selection not in generations and min(seeds) > 10_000                   # never the evaluation seeds
    assert len(found.finalists) == 1 + settings.finalists and found.selection_episodes == 50
    assert found.selection_rate == max(f["selection_rate"] for f in found.finalists)
    assert found.episodes_played == 3 * 4 * 8 + 5 * 50 and len(found.history) == 3


def test_restarts_are_the_single_searches_of_consecutive_seeds_and_the_best_finalist_of_all_wins(monkeypatch):
    """Restart k of seed s replays seed s + k's search exactly, and one selection, on the same fresh episodes
    for all, picks among every restart's finalists."""
    small = dict(generations=3, population=6, episodes=8, selection_episodes=60)
    pursuer = make_family("pursuer", CONVERGE.env)
    calls = calls_to(monkeypatch, search_module, "play_first_episodes")
    both = search_best_response(CONVERGE, "evader", pursuer, SearchSettings(**small, seed=4, restarts=2))
    seeds = [call.seed for call in calls]
    assert seeds == [SEARCH_SEED_BASE * (5 + k) + g for k in range(2) for g in range(3)] + [
        SEARCH_SEED_BASE * 5 + 100_000]                                         # one selection, seed 4's episodes
    monkeypatch.undo()
    alone = [search_best_response(CONVERGE, "evader", pursuer, SearchSettings(**small, seed=s)) for s in (4, 5)]
    assert [h["restart"] for h in both.history] == [0] * 3 + [1] * 3
    for restart, single in enumerate(alone):
        mine = [h for h in both.history if h["restart"] == restart]
        assert [(h["best"], h["mean_params"]) for h in mine] == [(h["best"], h["mean_params"]) for h in single.history]
    assert len(both.finalists) == 2 * (1 + SearchSettings().finalists)
    assert [f["params"] for f in both.finalists] == [f["params"] for s in alone for f in s.finalists]
    best = max(both.finalists, key=lambda f: f["selection_rate"])
    assert both.selection_rate == best["selection_rate"] and both.params == best["params"]
    assert both.episodes_played == 2 * 3 * 6 * 8 + 10 * 60
    with pytest.raises(ConfigError, match="search.restarts: must be an integer >= 1"):
        SearchSettings(restarts=0)


def test_a_search_against_several_opponents_finds_the_maximin_and_reports_the_worst_rate(monkeypatch):
    """Two planted opponents with opposite tastes (success = the first unit parameter, or one minus it): the
    worst rate peaks at the middle, where the search must go, and the reported rate is the worst of the two."""
    first = PursuitFamily.names()[0]

    def planted(experiment, controller, opponent, params, episodes, seed):
        unit = PursuitFamily.to_unit(params)[:, 0]
        return unit if opponent == "likes-high" else 1.0 - unit

    monkeypatch.setattr(search_module, "candidate_rates", planted)
    found = search_best_response(CONVERGE, "pursuer", ["likes-high", "likes-low"],
                                 SearchSettings(generations=15, population=16, episodes=1, selection_episodes=1))
    middle = PursuitFamily.to_unit(np.array([[found.params[name] for name in PursuitFamily.names()]]))[0, 0]
    assert abs(middle - 0.5) < 0.05 and found.selection_rate == pytest.approx(min(middle, 1 - middle), abs=1e-3)
    assert found.episodes_played == 2 * (15 * 16 + 5)
    alone = search_best_response(CONVERGE, "pursuer", "likes-high", SearchSettings(generations=15, population=16,
                                                                                   episodes=1, selection_episodes=1))
    assert alone.params[first] > found.params[first] and alone.selection_rate > 0.9


def test_a_warm_started_search_starts_from_the_given_controller(monkeypatch):
    calls = calls_to(monkeypatch, search_module, "cross_entropy_search")
    settings = SearchSettings(generations=1, population=2, episodes=2, selection_episodes=4)
    given = PursuitFamily.from_unit(np.full(len(PursuitFamily.names()), 0.25))
    search_best_response(CONVERGE, "pursuer", make_scripted_evader(), settings, start=given)
    search_best_response(CONVERGE, "pursuer", make_scripted_evader(), settings)
    starts = [call.start for call in calls]
    assert np.allclose(starts[0], 0.25) and np.allclose(starts[1], PursuitFamily.to_unit(PursuitFamily.defaults()))
    with pytest.raises(ConfigError, match="search pursuer: start must have the pursuit family's"):
        search_best_response(CONVERGE, "pursuer", make_scripted_evader(), settings, start=np.zeros(2))


def test_search_settings_are_checked():
    with pytest.raises(ConfigError, match="search.population: must be >= 2"):
        SearchSettings(population=1)
    with pytest.raises(ConfigError, match="search.generations: must be an integer >= 1"):
        SearchSettings(generations=0)
    with pytest.raises(ConfigError, match="search.elite_fraction"):
        SearchSettings(elite_fraction=0.0)


def marched_free_run(pose, obstacles, heading: float, cfg, step: float = 0.004) -> float:
    """Free run from ``pose`` along world ``heading`` by marching in ``step`` metres until the body touches a wall
    or one of ``obstacles`` ``[M, 3]``."""
    x, y = pose[:2]
    half_w, half_h = cfg.arena_width / 2 - cfg.robot_radius, cfg.arena_height / 2 - cfg.robot_radius
    travelled = 0.0
    while True:
        px, py = x + travelled * np.cos(heading), y + travelled * np.sin(heading)
        gaps = np.hypot(obstacles[:, 0] - px, obstacles[:, 1] - py) - obstacles[:, 2] - cfg.robot_radius
        if abs(px) > half_w or abs(py) > half_h or (gaps < 0).any():
            return max(travelled - step, 0.0)
        travelled += step


def test_free_distance_matches_marching_to_the_walls_and_obstacles():
    env = BatchedPursuitEvasion(12, CONVERGE.env)
    obs = env.reset(seed=3)
    state = env.world_state()
    evader = make_family("evader", env.config)
    angles = np.arange(8) * np.pi / 4
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    free = evader.free_distance(obs["evader"], directions)
    pose = state.pose[:, 1]
    marched = np.array([[marched_free_run(pose[i], state.obstacles[i], pose[i, 2] + a, env.config) for a in angles]
                        for i in range(12)])
    walls_only = np.array([[marched_free_run(pose[i], state.obstacles[i, :0], pose[i, 2] + a, env.config)
                            for a in angles] for i in range(12)])
    assert free.shape == (12, 8) and np.abs(free - marched).max() < 0.01
    assert (marched < walls_only - 0.5).sum() >= 3          # obstacles end some of the runs, walls the rest


def test_the_open_heading_picks_free_run_or_leading_away_as_its_tradeoff_says():
    env = BatchedPursuitEvasion(64, CONVERGE.env)
    obs = env.reset(seed=0)["evader"]
    evader = make_family("evader", env.config)
    names = evader.names()
    params = EvasionFamily.defaults()
    params[names.index("open_gain")], params[names.index("open_lookahead")] = 1.0, 8.0
    r, _, _ = evader.opponent(obs)
    away = -r / np.linalg.norm(r, axis=1, keepdims=True)
    free = evader.free_distance(obs, OPEN_HEADINGS)
    for share, check in ((1.0, "free"), (0.0, "away")):
        params[names.index("open_tradeoff")] = share
        evader.set_params(params)
        chosen = evader.open_heading(obs, away)
        index = np.argmax(chosen @ OPEN_HEADINGS.T, axis=1)
        if check == "free":
            assert np.allclose(np.minimum(free[np.arange(64), index], 8.0), np.minimum(free, 8.0).max(axis=1))
        else:
            assert np.allclose((chosen * away).sum(1), (away @ OPEN_HEADINGS.T).max(axis=1))
    params[names.index("open_gain")] = 0.0
    evader.set_params(params)
    assert not evader.open_heading(obs, away).any()


def test_an_evasion_vector_saved_before_the_open_heading_loads_and_plays_as_before():
    env = BatchedPursuitEvasion(16, CONVERGE.env)
    obs = env.reset(seed=1)["evader"]
    earlier = EvasionFamily.defaults()[:11].copy()
    earlier[EvasionFamily.names().index("flee_gain")] = 1.7
    old, new = make_family("evader", env.config, seed=0), make_family("evader", env.config, seed=0)
    old.set_params(earlier)
    new.set_params(np.concatenate([earlier, EvasionFamily.defaults()[11:]]))
    assert old.params.shape == (len(EvasionFamily.names()),) and np.allclose(old.act(obs), new.act(obs))
    assert EvasionFamily.complete(np.stack([earlier] * 3)).shape == (3, len(EvasionFamily.names()))
    with pytest.raises(ValueError, match="expected shape"):
        old.set_params(earlier[:10])
    # A search warm-started from such a vector, and a saved result without the new parameters, play too.
    settings = SearchSettings(generations=1, population=2, episodes=2, selection_episodes=4)
    found = search_best_response(CONVERGE, "evader", make_family("pursuer", env.config), settings, start=earlier)
    found.params = {k: v for k, v in found.params.items() if not k.startswith("open_")}
    assert searched_policy(CONVERGE, found).params[EvasionFamily.names().index("open_gain")] == 0.0


PARTIAL = load_experiment("partial", {"curriculum.enabled": False})       # the real sensor throughout


def test_the_pursuit_scan_turns_only_while_the_evader_is_unseen_and_its_defaults_play_as_before():
    env = BatchedPursuitEvasion(64, PARTIAL.env)
    obs = env.reset(seed=3)["pursuer"]
    for _ in range(5):
        obs = env.step({"pursuer": np.zeros((64, 2)), "evader": np.zeros((64, 2))})[0]["pursuer"]
    earlier, scanning = (make_family("pursuer", env.config) for _ in range(2))
    earlier.set_params(PursuitFamily.defaults()[:8])        # a vector saved before the scan
    params = PursuitFamily.defaults()
    params[PursuitFamily.names().index("scan_rate")] = 1.0
    scanning.set_params(params)
    visible, ever = earlier.sighting(obs)
    assert visible.any() and (~ever).any()                  # both cases among the starts
    old, new = earlier.act(obs), scanning.act(obs)
    assert np.allclose(old, make_family("pursuer", env.config).act(obs))
    assert np.allclose(new[visible], old[visible])
    assert np.all(new[~ever, 1] > old[~ever, 1] + 0.1)      # a left turn where it has never seen the evader


def test_a_scanning_pursuer_catches_an_unseen_evader_more_often_than_one_driving_straight_on():
    rows = np.stack([PursuitFamily.defaults()] * 2)
    rows[1, PursuitFamily.names().index("scan_rate")] = 0.9
    opponent = make_scripted("straight_flee", "evader", PARTIAL.env, seed=0)
    straight_on, scanning = candidate_rates(PARTIAL, make_family("pursuer", PARTIAL.env), opponent, rows, 64, seed=0)
    assert scanning > straight_on + 0.2                     # 0.91 against 0.42 when written


def _play_family(role: str, changes: dict, env_changes: dict, steps: int, seed: int = 0) -> np.ndarray:
    """``role``'s family with ``changes`` to its defaults against a robot that stands still, in an empty
    ``PARTIAL`` arena with ``env_changes``, without autoreset: the poses ``[steps, N, 6]`` (pursuer, evader)."""
    env = BatchedPursuitEvasion(32, PARTIAL.env, autoreset=False, n_obstacles=0, max_steps=steps + 1, **env_changes)
    obs = env.reset(seed=seed)
    family = make_family(role, env.config, seed=0)
    params = family.defaults()
    for name, value in changes.items():
        params[family.names().index(name)] = value
    family.set_params(params)
    still = np.tile([-1.0, 0.0], (32, 1))                   # the lowest speed command: standing still
    poses = []
    for _ in range(steps):
        other = "evader" if role == "pursuer" else "pursuer"
        obs = env.step({role: family.act(obs[role]), other: still})[0]
        poses.append(env.state()[:, :6].copy())
    return np.array(poses)


def test_a_hiding_evader_that_loses_the_pursuer_settles_at_the_nearest_corners_spot_at_its_hiding_speed():
    hide = {"hide_gain": 3.0, "hide_margin": 1.0, "hide_speed": 0.0}
    world = {"last_seen": False}
    hiding, orbiting = (_play_family("evader", changes, world, 400) for changes in (hide, {}))
    spot = 9.0                                              # 20 x 20 m arena, 1 m from both walls
    off_spot = lambda poses: np.abs(np.abs(poses[-1, :, 3:5]) - spot).max(axis=1)        # noqa: E731
    assert np.median(off_spot(hiding)) < 1.0 and np.median(off_spot(orbiting)) > 4.0
    speed = lambda poses: np.median(np.linalg.norm(np.diff(poses[-50:, :, 3:5], axis=0), axis=2).mean(axis=0))  # noqa
    # hide_speed 0: it creeps about the spot (the orbit's pull and the way back to the spot balance a third of a
    # metre off it), where the orbiting evader drives on (top speed 0.05 m per step)
    assert speed(hiding) < 0.3 * 0.05 and speed(orbiting) > 0.6 * 0.05


def test_a_patrolling_pursuer_circles_the_centre_at_its_patrol_radius_in_its_sense_while_the_evader_is_unseen():
    world = {"last_seen": False, "sensing_range": 0.2}      # the evader is never seen
    for gain in (3.0, -3.0):
        poses = _play_family("pursuer", {"patrol_gain": gain, "patrol_radius": 0.8}, world, 600)[-200:]
        radius = np.linalg.norm(poses[:, :, 0:2], axis=2)
        assert np.abs(np.median(radius) - 8.0) < 0.5       # 0.8 x half of the 20 m arena
        step = np.diff(poses[:, :, 0:2], axis=0)
        spin = np.sign(poses[:-1, :, 0] * step[..., 1] - poses[:-1, :, 1] * step[..., 0])
        assert np.mean(spin == np.sign(gain)) > 0.9        # counter-clockwise for a positive gain


@pytest.mark.parametrize("family, earlier", [(PursuitFamily, 11), (EvasionFamily, 14)])
def test_vectors_saved_before_the_patrol_and_hiding_play_as_before(family, earlier):
    env = BatchedPursuitEvasion(64, PARTIAL.env, last_seen=False)
    obs = env.reset(seed=2)
    role = family.roles[0]
    old, new = make_family(role, env.config, seed=0), make_family(role, env.config, seed=0)
    old.set_params(family.defaults()[:earlier])
    assert np.allclose(old.act(obs[role]), new.act(obs[role]))
    assert family.complete(family.defaults()[:earlier]).shape == family.defaults().shape


def test_a_remembering_search_plays_every_candidate_with_memory_and_finds_a_controller_that_remembers(monkeypatch):
    """``recall``: in a world whose observation forgets the opponent (``env.last_seen: false``) the same evader
    parameters escape more often remembering where the pursuer went, the search scores its candidates (and the
    given ones) that way, and its result plays remembering; a full-observation world refuses it in one line."""
    from pe_rllib.policies.memory import RememberingController

    forgetful = load_experiment("partial", {"env.last_seen": False})
    pursuer = make_scripted("pure_pursuit", "pursuer", forgetful.env, seed=0)
    evader, rows = make_family("evader", forgetful.env), EvasionFamily.defaults()[None]
    plain = candidate_rates(forgetful, evader, pursuer, rows, 64, seed=0)[0]
    remembering = candidate_rates(forgetful, RememberingController(evader, forgetful.env, 40), pursuer, rows, 64,
                                  seed=0)[0]
    assert remembering > plain + 0.15, (plain, remembering)          # 0.55 against 0.20 when written
    calls = calls_to(monkeypatch, search_module, "candidate_rates")
    settings = SearchSettings(generations=2, population=4, episodes=8, selection_episodes=40, recall=40)
    found = search_best_response(forgetful, "evader", pursuer, settings, candidates=[EvasionFamily.defaults()])
    players = [call.controller for call in calls]
    assert len(players) == 3 and all(isinstance(p, RememberingController) and p.recall == 40 for p in players)
    assert found.settings["recall"] == 40
    played = searched_policy(forgetful, found)
    assert isinstance(played, RememberingController) and played.recall == 40
    np.testing.assert_allclose(played.controller.params, [found.params[n] for n in EvasionFamily.names()],
                               atol=1e-4)
    with pytest.raises(ConfigError, match="search.recall: needs the 2-D world with env.observation: partial"):
        search_best_response(CONVERGE, "evader", pursuer, settings)
    with pytest.raises(ConfigError, match="search.recall: must be an integer >= 0"):
        SearchSettings(recall=-1)


def test_pinned_parameters_stay_fixed_through_the_search_and_are_checked():
    settings = SearchSettings(generations=3, population=8, episodes=4, selection_episodes=8,
                              pinned=(("open_gain", 0.0), ("flee_gain", 1.25)))
    pursuer = make_family("pursuer", CONVERGE.env)
    found = search_best_response(CONVERGE, "evader", pursuer, settings)
    assert found.params["open_gain"] == 0.0 and found.params["flee_gain"] == pytest.approx(1.25)
    assert all(f["params"]["open_gain"] == 0.0 for f in found.finalists)
    assert found.params["orbit_radius"] != EvasionFamily.defaults()[EvasionFamily.names().index("orbit_radius")]
    with pytest.raises(ConfigError, match="search.pinned: 'nope' is not a parameter of the evasion family"):
        search_best_response(CONVERGE, "evader", pursuer, SearchSettings(pinned=(("nope", 0.0),)))
    with pytest.raises(ConfigError, match=r"search.pinned: open_gain must be in \[0, 3\]"):
        search_best_response(CONVERGE, "evader", pursuer, SearchSettings(pinned=(("open_gain", 9.0),)))


def test_quiet_parameters_remove_only_the_random_terms():
    """The evasion family's jitter is its one random term: with it the same observations give different turn rates
    on two calls, quieted they give the same ones, and every other parameter is kept."""
    env = BatchedPursuitEvasion(64, CONVERGE.env)
    obs = env.reset(seed=1)["evader"]
    noisy = EvasionFamily.defaults()
    noisy[EvasionFamily.names().index("jitter")] = 0.8
    evader = make_family("evader", CONVERGE.env, params=noisy, seed=0)
    assert not np.allclose(evader.act(obs), evader.act(obs))
    quiet = EvasionFamily.quiet(noisy)
    assert [n for n, a, b in zip(EvasionFamily.names(), noisy, quiet) if a != b] == ["jitter"]
    evader.set_params(quiet)
    assert np.array_equal(evader.act(obs), evader.act(obs))
    assert [p.name for p in EvasionFamily.parameters + PursuitFamily.parameters if p.noise] == ["jitter"]
    assert EvasionFamily.quiet(noisy[:11]).shape == noisy.shape          # a vector saved before is completed first


def test_given_candidates_join_the_selection_and_win_when_better(monkeypatch):
    """``candidates`` (e.g. a run's searched anchors) are re-measured beside the search's finalists, pinned
    parameters set, so the result is never worse on the selection episodes than the best of them."""
    first = PursuitFamily.names()[0]
    monkeypatch.setattr(search_module, "candidate_rates",
                        lambda experiment, controller, opponent, params, episodes, seed:
                        PursuitFamily.to_unit(params)[:, 0])          # success = the first unit parameter
    tiny = SearchSettings(generations=1, population=2, episodes=1, selection_episodes=1, initial_std=0.02)
    strong = PursuitFamily.from_unit(np.full(len(PursuitFamily.names()), 0.99))
    weak = PursuitFamily.from_unit(np.full(len(PursuitFamily.names()), 0.01))
    found = search_best_response(CONVERGE, "pursuer", "planted", tiny, candidates=[weak, strong])
    assert found.params == PursuitFamily.describe(strong) and found.selection_rate == pytest.approx(0.99)
    sources = [f["source"] for f in found.finalists]
    assert sources[-2:] == ["given"] * 2 and set(sources[:-2]) == {"search"}
    assert found.episodes_played == 1 * 2 * 1 + len(sources) * 1           # the given ones play the selection
    alone = search_best_response(CONVERGE, "pursuer", "planted", tiny)
    assert alone.selection_rate < 0.9                                    # the tiny search alone does not get there
    pinned = search_best_response(CONVERGE, "pursuer", "planted", SearchSettings(
        generations=1, population=2, episodes=1, selection_episodes=1, pinned=((first, float(weak[0])),)),
        candidates=[strong])
    assert pinned.finalists[-1]["params"][first] == pytest.approx(weak[0])
    with pytest.raises(ConfigError, match="search pursuer: candidates must have the pursuit family's"):
        search_best_response(CONVERGE, "pursuer", "planted", tiny, candidates=[np.zeros(2)])
