"""League, curriculum and health monitor: pure decision objects on scripted sequences of outcomes."""

import dataclasses
import json
import math

import numpy as np
import pytest
from helpers import calls_to

from pe_rllib.config import ConfigError, CurriculumConfig, HealthConfig, LeagueConfig, load_experiment
from pe_rllib.selfplay import Curriculum, EloTable, HealthMonitor, League, expected_score, sampling_weights
from pe_rllib.selfplay.pool import CURRENT, PoolEntry


def roundtrip(data: dict) -> dict:
    return json.loads(json.dumps(data))


# --------------------------------------------------------------------------- Elo


def test_elo_matches_the_textbook_formula():
    assert expected_score(1000, 1000) == 0.5
    assert expected_score(1200, 1000) == pytest.approx(1 / (1 + 10 ** (-0.5)))      # 0.7597
    table = EloTable(k=16)
    assert table.record("pursuer", "evader", games=1, pursuer_score=1.0) == pytest.approx(8.0)
    assert table.rating("pursuer") == 1008 and table.rating("evader") == 992
    # a batch: 10 games, 3 captures = 10 successive games scoring 0.3 each
    a, b = 1008.0, 992.0
    for _ in range(10):
        step = 16 * (0.3 - expected_score(a, b))
        a, b = a + step, b - step
    assert table.record("pursuer", "evader", games=10, pursuer_score=3) == pytest.approx(a - 1008)
    # a large batch converges to the performance rating instead of overshooting
    big = EloTable(k=16)
    big.record("pursuer", "evader", games=1000, pursuer_score=750)
    assert expected_score(big.rating("pursuer"), big.rating("evader")) == pytest.approx(0.75, abs=0.01)
    assert table.rating("pursuer") + table.rating("evader") == pytest.approx(2000)   # zero-sum
    assert table.games == {"pursuer": 11, "evader": 11}
    with pytest.raises(ValueError, match="pursuer_score"):
        table.record("pursuer", "evader", games=2, pursuer_score=3)
    assert EloTable.from_dict(roundtrip(table.to_dict())) == table


# --------------------------------------------------------------------------- pool and PFSP


def entries(win_rates):
    """Entries whose learner win rate (with the Laplace prior) is exactly ``win_rates`` (98 games each)."""
    return [PoolEntry(f"evader@{i}", "evader", i, games=98, learner_score=p * 100 - 1, learner_losses=99 - p * 100)
            for i, p in enumerate(win_rates)]


def test_pfsp_hedge_and_uniform_weights():
    pool = entries([0.9, 0.5, 0.1])
    hard = sampling_weights(pool, LeagueConfig(sampling="pfsp_hard", pfsp_power=2))
    np.testing.assert_allclose(hard, np.array([0.01, 0.25, 0.81]) / 1.07)
    var = sampling_weights(pool, LeagueConfig(sampling="pfsp_var"))
    np.testing.assert_allclose(var, np.array([0.09, 0.25, 0.09]) / 0.43)
    np.testing.assert_allclose(sampling_weights(pool, LeagueConfig(sampling="uniform")), [1 / 3] * 3)
    hedge = sampling_weights(pool, LeagueConfig(sampling="hedge", hedge_eta=0.1))
    losses = np.array([e.learner_losses for e in pool])
    np.testing.assert_allclose(hedge, np.exp(0.1 * losses) / np.exp(0.1 * losses).sum())
    assert hedge.argmax() == 2                                   # the entry the learner loses to most
    # all entries always beaten: pfsp_hard weights vanish -> uniform, never NaN
    beaten = [PoolEntry("evader@1", "evader", 1, games=10**9, learner_score=10**9)] * 2
    assert np.isfinite(sampling_weights(beaten, LeagueConfig())).all()


def test_eviction_keeps_the_milestone_and_drops_the_most_beaten():
    league = League(LeagueConfig(pool_size=3))
    for iteration in (0, 10, 20):
        league.add("evader", iteration)
    # the learner (pursuer) beats evader@10 often, evader@20 rarely, evader@0 always (but it is the milestone)
    league.record_games("evader@0", "pursuer", games=50, learner_score=50)
    league.record_games("evader@10", "pursuer", games=50, learner_score=40)
    league.record_games("evader@20", "pursuer", games=50, learner_score=5)
    new, evicted = league.add("evader", 30)
    assert evicted.id == "evader@10" and new.id == "evader@30"
    assert [e.id for e in league.pool("evader")] == ["evader@0", "evader@20", "evader@30"]
    assert "evader@10" not in league.elo.ratings
    assert league.add("evader", 30) == (new, None)               # the same snapshot twice is one entry


def test_games_update_win_rates_and_elo_for_either_learner():
    league = League(LeagueConfig())
    league.add("evader", 5)
    league.add("pursuer", 6)
    league.record_games("evader@5", "pursuer", games=10, learner_score=7)      # pursuer captured 7 of 10
    entry = league.find("evader@5")
    assert entry.games == 10 and entry.learner_win_rate == pytest.approx(8 / 12) and entry.learner_losses == 3
    assert league.elo.rating("pursuer") > 1000 > league.elo.rating("evader@5")
    league.record_games(CURRENT, "evader", games=4, learner_score=4)            # evader escaped the current pursuer
    assert league.elo.rating("evader") > 1000 and league.elo.games["evader"] == 4
    table = league.table()
    assert {row["id"] for row in table} == {"pursuer", "evader", "evader@5", "pursuer@6"}
    restored = League.from_dict(LeagueConfig(), roundtrip(league.to_dict()))
    assert restored.to_dict() == league.to_dict()


def test_games_are_credited_to_the_entry_the_episode_started_with():
    """The batched sampler names a stand-in's games by the pool entry it played when the episode
    started (the slot may hold another entry by the time it ends); the stock sampler names the
    module, which resolves to the entry the slot holds this iteration."""
    from types import SimpleNamespace

    from pe_rllib.callbacks.league import record_games

    league = League(LeagueConfig(scripted_opponents=["straight_flee"]))
    for iteration in (0, 4):
        league.add("evader", iteration)
    state = SimpleNamespace(league=league, slot_plan={"evader": ["evader@4", "evader@straight_flee"]})
    matchups = {"pursuer|evader@0": {"episodes": 3.0, "captures": 2.0, "collisions": 0.0},
                "pursuer|evader_snapshot_0": {"episodes": 2.0, "captures": 0.0, "collisions": 0.0},
                "pursuer|evader@straight_flee": {"episodes": 4.0, "captures": 1.0, "collisions": 1.0},
                "pursuer|evader_scripted": {"episodes": 5.0, "captures": 5.0, "collisions": 0.0}}
    recorded = record_games(SimpleNamespace(selfplay=state), {"pe": {"matchups": matchups}})
    assert recorded == 9                                   # the cold-start opponent is not a pool entry
    games = {entry.id: (entry.games, entry.learner_score) for entry in league.pool("evader")}
    assert games == {"evader@0": (3, 2.0), "evader@4": (2, 0.0), "evader@straight_flee": (4, 1.5)}


def test_an_exploiters_training_success_counts_captures_for_a_pursuer_and_escapes_for_an_evader():
    from pe_rllib.callbacks.league import exploiter_game_figures

    matchups = {"pursuer_exploiter|evader": {"episodes": 4.0, "captures": 1.0, "escapes": 2.0, "collisions": 1.0},
                "pursuer|evader_exploiter": {"episodes": 5.0, "captures": 1.0, "escapes": 4.0, "collisions": 0.0},
                "pursuer|evader": {"episodes": 9.0, "captures": 9.0, "escapes": 0.0, "collisions": 0.0}}
    assert exploiter_game_figures({"pe": {"matchups": matchups}}) == {
        "pursuer": {"games": 4, "success": 0.25}, "evader": {"games": 5, "success": 0.8}}


@pytest.mark.parametrize("roles", [("pursuer", "evader"), ("pursuer",), ("evader",)])
def test_only_the_distill_roles_get_a_teacher(roles):
    """league.distill_roles: the other role's anchors are still searched and kept, but it imitates none."""
    from types import SimpleNamespace

    from pe_rllib.callbacks.league import teachers

    league = League(LeagueConfig(anchor_every=25, distill_coeff=5.0, distill_roles=roles))
    weights = {}
    for role, family in (("pursuer", "pursuit"), ("evader", "evasion")):
        entry, _ = league.add_anchor(role, 25, family)
        weights[entry.id] = {"params": [0.5, 1.0]}
    found = teachers(SimpleNamespace(league=league, league_weights=weights))
    assert sorted(found) == sorted(roles)
    assert all(found[role]["params"] == [0.5, 1.0] for role in roles)


def test_slot_plans_follow_the_sampling_weights():
    league = League(LeagueConfig(pool_size=4, sampling="pfsp_hard"))
    for iteration, score in zip((0, 10, 20, 30), (95, 95, 95, 5)):
        league.add("evader", iteration)
        league.record_games(f"evader@{iteration}", "pursuer", games=100, learner_score=score)
    rng = np.random.default_rng(0)
    picks = [next(iter(league.plan_slots("evader", 1, rng))) for _ in range(2000)]
    assert picks.count("evader@30") > 0.9 * len(picks)           # the one the pursuer loses to
    plan = league.plan_slots("evader", 8, rng)
    assert list(plan) == ["evader@0", "evader@10", "evader@20", "evader@30"]
    weights = sampling_weights(league.pool("evader"), league.config)
    np.testing.assert_allclose(list(plan.values()), weights)      # the pool fits: exactly the weights


def pfsp_league(snapshots: int, scripted=("straight_flee",)) -> League:
    """A pursuer-learner's evader pool with distinct win rates (so distinct PFSP weights)."""
    league = League(LeagueConfig(pool_size=snapshots, sampling="pfsp_hard", scripted_opponents=scripted))
    for index in range(snapshots):
        league.add("evader", index)
        league.record_games(f"evader@{index}", "pursuer", games=40, learner_score=2 + 5 * index)
    return league


def assert_frequencies(counts: dict[str, int], probabilities: dict[str, float], total: int) -> None:
    """Every entry's empirical count within 4.5 binomial standard deviations of ``total * probability``."""
    assert set(counts) <= set(probabilities)
    for entry, p in probabilities.items():
        sd = math.sqrt(total * p * (1 - p))
        assert abs(counts.get(entry, 0) - total * p) <= 4.5 * sd + 1, (entry, counts.get(entry, 0), total * p)


@pytest.mark.parametrize("slots", [6, 8])
def test_each_episode_draws_its_opponent_by_the_pfsp_weights_when_the_pool_fits_the_slots(slots):
    """The exact per-episode distribution: a frozen role's stand-in episodes meet each entry (snapshots
    and scripted) with its PFSP weight, through the same plan -> mapping path training uses."""
    from types import SimpleNamespace

    from pe_rllib.callbacks.league import opponent_modules, opponent_probabilities, plan_modules
    from pe_rllib.selfplay.snapshots import OpponentMapping

    league = pfsp_league(5)
    weights = dict(zip((e.id for e in league.pool("evader")), sampling_weights(league.pool("evader"), league.config)))
    assert len(set(np.round(list(weights.values()), 6))) == len(weights)        # distinct: a real test
    state = SimpleNamespace(league=league, slot_plan={"evader": league.plan_slots("evader", slots,
                                                                                   np.random.default_rng(0))})
    mapping = OpponentMapping(probability=1.0)
    mapping.configure(["evader"], opponent_modules(state), seed=1, weights=opponent_probabilities(state))
    entry_of = dict(plan_modules(state, "evader"))
    total = 30_000
    counts: dict[str, int] = {}
    for _ in range(total):
        entry = entry_of[mapping("evader")]
        counts[entry] = counts.get(entry, 0) + 1
    assert_frequencies(counts, weights, total)


def test_the_slots_are_a_cache_so_a_pool_larger_than_them_is_met_by_its_weights_over_iterations():
    """Seven snapshots and two slots: the most likely snapshot stays loaded, the second slot rotates over
    the rest; over iterations every entry (scripted included) is met with its own PFSP weight."""
    league = pfsp_league(7)
    pool = league.pool("evader")
    weights = dict(zip((e.id for e in pool), sampling_weights(pool, league.config)))
    rng, draws = np.random.default_rng(5), np.random.default_rng(6)
    counts: dict[str, int] = {}
    iterations, episodes = 3000, 10
    for _ in range(iterations):
        plan = league.plan_slots("evader", 2, rng)
        assert len([e for e in plan if not league.find(e).scripted]) == 2 and "evader@straight_flee" in plan
        assert sum(plan.values()) == pytest.approx(1.0)
        for entry in draws.choice(list(plan), size=episodes, p=list(plan.values())):
            counts[entry] = counts.get(entry, 0) + 1
    assert_frequencies(counts, weights, iterations * episodes)
    likely = max((e for e in pool if not e.scripted), key=lambda e: weights[e.id])
    assert all(likely.id in league.plan_slots("evader", 2, rng) for _ in range(20))      # cached every time


def test_win_rates_and_elo_come_from_deterministic_cross_play_once_there_is_one():
    """Before any cross-play, training games rate the entries and move Elo; afterwards an entry's win rate
    is its latest cross-play's and training games (exploration noise) move neither."""
    league = League(LeagueConfig())
    league.add("evader", 0)
    league.record_games("evader@0", "pursuer", games=10, learner_score=8)
    assert league.find("evader@0").learner_win_rate == pytest.approx(9 / 12)
    elo = league.elo.rating("pursuer")
    assert elo > 1000
    league.record_evaluation("evader@0", "pursuer", games=50, learner_score=10)
    assert league.find("evader@0").learner_win_rate == pytest.approx(11 / 52)
    after_eval = league.elo.rating("pursuer")
    assert after_eval < elo                                         # the cross-play moved it down
    league.record_games("evader@0", "pursuer", games=100, learner_score=100)
    assert league.elo.rating("pursuer") == after_eval                # training games no longer move Elo
    assert league.find("evader@0").learner_win_rate == pytest.approx(11 / 52)
    assert league.find("evader@0").games == 110                      # but they are still counted
    league.record_evaluation("evader@0", "pursuer", games=50, learner_score=40)    # the latest replaces
    assert league.find("evader@0").learner_win_rate == pytest.approx(41 / 52)
    league.add("evader", 5)                                          # a new entry: training games until cross-played
    league.record_games("evader@5", "pursuer", games=8, learner_score=2)
    assert league.find("evader@5").learner_win_rate == pytest.approx(3 / 10)
    restored = League.from_dict(league.config, roundtrip(league.to_dict()))
    assert restored.to_dict() == league.to_dict() and restored.cross_played


def test_scripted_entries_are_permanent_drawn_and_rated_but_not_counted():
    league = League(LeagueConfig(pool_size=3, scripted_opponents=("straight_flee", "random")))
    # straight_flee plays only the evader; random plays both roles
    assert [e.id for e in league.pool("evader")] == ["evader@straight_flee", "evader@random"]
    assert [e.id for e in league.pool("pursuer")] == ["pursuer@random"]
    for iteration in (0, 10, 20):
        league.add("evader", iteration)
    # pool_size counts snapshots only, and eviction never picks a scripted entry even if it is the most beaten
    league.record_games("evader@random", "pursuer", games=100, learner_score=100)
    league.record_games("evader@10", "pursuer", games=100, learner_score=60)
    _, evicted = league.add("evader", 30)
    assert evicted.id == "evader@10"
    assert [e.id for e in league.snapshots("evader")] == ["evader@0", "evader@20", "evader@30"]
    assert {e.id for e in league.pool("evader")} == {"evader@straight_flee", "evader@random", "evader@0",
                                                     "evader@20", "evader@30"}
    # drawn by the same PFSP weights: the pursuer loses to straight_flee, so it comes up most
    league.record_games("evader@straight_flee", "pursuer", games=100, learner_score=5)
    league.record_games("evader@0", "pursuer", games=100, learner_score=90)
    league.record_games("evader@20", "pursuer", games=100, learner_score=90)
    league.record_games("evader@30", "pursuer", games=100, learner_score=90)
    plan = league.plan_slots("evader", 1, np.random.default_rng(0))
    assert plan["evader@straight_flee"] > 0.8                # scripted entries take no slot: always playable
    assert league.elo.rating("evader@straight_flee") > league.elo.rating("evader@random")
    table = {row["id"]: row for row in league.table()}
    assert table["evader@straight_flee"]["iteration"] is None and table["evader@30"]["iteration"] == 30
    restored = League.from_dict(league.config, roundtrip(league.to_dict()))
    assert restored.to_dict() == league.to_dict()                # and no duplicate scripted entries
    with pytest.raises(ConfigError, match="league.scripted_opponents: unknown scripted policy"):
        load_experiment("league", {"league.scripted_opponents": ["straight_flea"]})


def test_the_mapping_draws_stand_ins_only_for_frozen_roles():
    from pe_rllib.selfplay.snapshots import OpponentMapping

    mapping = OpponentMapping(probability=0.6, seed=0)
    mapping.configure(["evader"], {"evader": ["evader_snapshot_0", "evader_scripted_straight_flee"],
                                   "pursuer": ["pursuer_snapshot_0"]}, seed=3)
    picks = [mapping("evader") for _ in range(3000)]
    assert picks.count("evader") == pytest.approx(0.4 * 3000, rel=0.1)
    assert picks.count("evader_scripted_straight_flee") == pytest.approx(0.3 * 3000, rel=0.1)
    assert {mapping("pursuer") for _ in range(100)} == {"pursuer"}            # it trains: always itself
    mapping.configure(["evader"], {}, seed=3, fixed={"pursuer": "pursuer_scripted"})
    assert mapping("pursuer") == "pursuer_scripted" and {mapping("evader") for _ in range(50)} == {"evader"}


# --------------------------------------------------------------------------- health


def test_domination_for_k_iterations_triggers_a_rollback_of_the_offender():
    monitor = HealthMonitor(HealthConfig(domination_threshold=0.9, domination_iterations=3, cooldown=2))
    monitor.mark_good("pursuer", "pursuer@0")
    monitor.mark_good("evader", "evader@0")
    outcomes = [0.95, 0.95, math.nan, 0.5, 0.95, 0.95, 0.95]   # NaN: no episode ended, the streak stands
    events = []
    for i, capture in enumerate(outcomes):
        events += monitor.observe(i, {"capture_rate": capture, "escape_rate": 1 - capture}, ["evader"])
    assert len(events) == 1
    event = events[0]
    assert (event.iteration, event.reason, event.role) == (6, "domination", "pursuer")
    assert event.rollback == ["pursuer"] and event.restore == {"pursuer": "pursuer@0"} and event.next_role == "evader"
    # the cooldown holds the next alarm back, then it fires again
    later = [monitor.observe(i, {"capture_rate": 0.99, "escape_rate": 0.01}, ["evader"]) for i in range(7, 12)]
    assert [i for i, e in zip(range(7, 12), later) if e] == [9]
    assert monitor.counts == {"domination": 2}


def test_bilateral_rollback_and_the_known_good_snapshot_moves_only_after_a_clean_phase():
    monitor = HealthMonitor(HealthConfig(domination_iterations=1, rollback="bilateral", cooldown=0))
    monitor.mark_good("pursuer", "pursuer@0")
    monitor.mark_good("evader", "evader@0")
    assert monitor.phase_ended("evader", "evader@4")             # clean phase: evader@4 is the new good one
    (event,) = monitor.observe(5, {"capture_rate": 0.0, "escape_rate": 1.0}, ["pursuer"])
    assert event.role == "evader" and event.rollback == ["pursuer", "evader"]
    assert event.restore == {"pursuer": "pursuer@0", "evader": "evader@4"} and event.next_role == "pursuer"
    assert not monitor.phase_ended("evader", "evader@8")         # an alarm about the evader in this phase
    assert monitor.known_good["evader"] == "evader@4"
    restored = HealthMonitor.from_dict(monitor.config, roundtrip(monitor.to_dict()))
    assert restored == monitor


def test_entropy_collapse_kl_blowup_and_non_finite_losses():
    monitor = HealthMonitor(HealthConfig(min_entropy=-2.0, max_kl=0.5, rollback="none"))
    figures = {"capture_rate": 0.5, "escape_rate": 0.5}
    assert monitor.observe(1, figures, ["pursuer"], {"pursuer": {"entropy": 1.0, "mean_kl_loss": 0.01,
                                                                 "total_loss": 0.3}}) == []
    (collapse,) = monitor.observe(2, figures, ["pursuer"], {"pursuer": {"entropy": -2.5}})
    (blowup,) = monitor.observe(3, figures, ["evader"], {"evader": {"entropy": 0.0, "mean_kl_loss": 3.0}})
    (broken,) = monitor.observe(4, figures, ["evader"], {"evader": {"total_loss": float("nan")}})
    assert [(e.reason, e.role) for e in (collapse, blowup, broken)] == [
        ("entropy_collapse", "pursuer"), ("kl_blowup", "evader"), ("non_finite", "evader")]
    assert all(e.rollback == [] for e in (collapse, blowup, broken))        # rollback: none reports only
    # a frozen module's statistics are not the monitor's business
    assert monitor.observe(5, figures, ["pursuer"], {"evader": {"total_loss": float("nan")}}) == []


# --------------------------------------------------------------------------- curriculum


LEVELS = ({"max_init_distance": 3.0, "n_obstacles": 0}, {"max_init_distance": 5.0, "n_obstacles": 1})


def test_curriculum_advances_on_balance_after_the_minimum_and_not_before():
    curriculum = Curriculum(CurriculumConfig(enabled=True, levels=LEVELS, consecutive=2, min_iterations=4,
                                             balance_threshold=0.2))
    balanced, lopsided = {"capture_rate": 0.45, "escape_rate": 0.55}, {"capture_rate": 0.9, "escape_rate": 0.1}
    none = {"capture_rate": math.nan, "escape_rate": math.nan}
    sequence = [balanced, balanced, balanced, lopsided, balanced, none, balanced,   # level 0: advances at 7
                balanced, balanced, balanced, balanced,                              # level 1: advances at 11
                balanced, balanced, balanced, balanced, balanced]                    # final level: stays
    advanced = [i + 1 for i, figures in enumerate(sequence) if curriculum.observe(figures)]
    assert advanced == [7, 11] and curriculum.level == 2 == curriculum.final_level
    assert curriculum.overrides(0) == LEVELS[0] and curriculum.overrides() == {}
    restored = Curriculum.from_dict(curriculum.config, roundtrip(curriculum.to_dict()))
    assert restored.to_dict() == curriculum.to_dict()


def test_a_curriculum_level_the_rule_never_holds_at_advances_at_its_deadline():
    """``max_iterations``: a lopsided level advances after that many iterations (iterations without an episode
    count towards it); a level the rule held at advances as before, and only the forced advances are listed."""
    curriculum = Curriculum(CurriculumConfig(enabled=True, levels=LEVELS, consecutive=2, min_iterations=2,
                                             max_iterations=5))
    balanced, lopsided = {"capture_rate": 0.45, "escape_rate": 0.55}, {"capture_rate": 1.0, "escape_rate": 0.0}
    none = {"capture_rate": math.nan, "escape_rate": math.nan}
    sequence = [lopsided, lopsided, none, lopsided, none,   # level 0: never balanced, forced at 5
                balanced, balanced,                         # level 1: the rule, at 7
                lopsided, lopsided, lopsided, lopsided, lopsided, lopsided]   # final level: stays
    advanced = [i + 1 for i, figures in enumerate(sequence) if curriculum.observe(figures)]
    assert advanced == [5, 7] and curriculum.level == curriculum.final_level
    assert curriculum.state.forced_at == (5,) and curriculum.state.advanced_at == (5, 7)
    assert Curriculum.from_dict(curriculum.config, roundtrip(curriculum.to_dict())).to_dict() == curriculum.to_dict()
    older = {k: v for k, v in curriculum.to_dict().items() if k != "forced_at"}   # a checkpoint from before
    assert Curriculum.from_dict(curriculum.config, older).state.forced_at == ()
    unbounded = Curriculum(CurriculumConfig(enabled=True, levels=LEVELS, consecutive=2, min_iterations=2))
    assert not any(unbounded.observe(lopsided) for _ in range(50)) and unbounded.level == 0


def test_capture_rule_and_a_disabled_curriculum():
    curriculum = Curriculum(CurriculumConfig(enabled=True, levels=LEVELS, rule="capture", capture_threshold=0.6,
                                             consecutive=1, min_iterations=0))
    assert not curriculum.observe({"capture_rate": 0.5, "escape_rate": 0.5})
    assert curriculum.observe({"capture_rate": 0.7, "escape_rate": 0.3}) and curriculum.level == 1
    assert curriculum.overrides() == LEVELS[1]
    off = Curriculum(CurriculumConfig(levels=LEVELS))
    assert off.level == off.final_level and off.overrides() == {}
    assert not off.observe({"capture_rate": 1.0, "escape_rate": 0.0})


def test_configs_name_the_bad_field():
    with pytest.raises(ConfigError, match="league.pool_size: must be an integer in"):
        load_experiment("quickstart", {"league.pool_size": 1})
    with pytest.raises(ConfigError, match=r"curriculum.levels\[0\]: env.min_init_distance"):
        load_experiment("quickstart", {"curriculum.levels": [{"max_init_distance": 1.0}]})
    with pytest.raises(ConfigError, match=r"curriculum.levels\[0\]: unknown field speed"):
        load_experiment("quickstart", {"curriculum.levels": [{"speed": 1.0}]})
    with pytest.raises(ConfigError, match=r"curriculum.max_iterations: must be null or an integer >= min_iterat"):
        load_experiment("quickstart", {"curriculum.min_iterations": 40, "curriculum.max_iterations": 30})
    with pytest.raises(ConfigError, match="curriculum.enabled: needs training.sampler: batched"):
        load_experiment("quickstart", {"curriculum.enabled": True, "curriculum.levels": [{"n_obstacles": 0}],
                                       "training.sampler": "rllib"})
    with pytest.raises(ConfigError, match="league.enabled: needs selfplay.opponent_slots >= 1"):
        load_experiment("quickstart", {"league.enabled": True})
    with pytest.raises(ConfigError, match="health.rollback: must be one of"):
        load_experiment("quickstart", {"health.rollback": "sometimes"})


# --------------------------------------------------------------------------- searched anchors


def test_searched_anchors_are_bounded_permanent_and_always_playable():
    """Anchors join beside the snapshots (not counted in pool_size, never evicted for them), the oldest goes
    beyond anchor_slots, and every plan includes them with their weight, taking no snapshot slot."""
    league = League(LeagueConfig(pool_size=2, anchor_every=5, anchor_slots=2))
    for iteration in (0, 10, 20):
        league.add("evader", iteration)
    assert [e.id for e in league.snapshots("evader")] == ["evader@0", "evader@20"]
    assert league.add_anchor("evader", 5, "evasion") == (league.find("evader@anchor5"), None)
    league.add_anchor("evader", 15, "evasion")
    league.record_games("evader@anchor5", "pursuer", games=10, learner_score=1)
    _, replaced = league.add_anchor("evader", 25, "evasion")
    assert replaced.id == "evader@anchor5" and league.elo.rating("evader@anchor5") == league.elo.rating("nobody")
    assert [e.id for e in league.anchors("evader")] == ["evader@anchor15", "evader@anchor25"]
    league.add("evader", 30)                                        # snapshot eviction never touches anchors
    assert len(league.anchors("evader")) == 2 and len(league.snapshots("evader")) == 2
    plan = league.plan_slots("evader", 1, np.random.default_rng(0))
    assert {"evader@anchor15", "evader@anchor25"} <= set(plan)
    assert len([e for e in plan if not league.find(e).anchor]) == 1
    with pytest.raises(ValueError, match="already exists"):
        league.add_anchor("evader", 25, "evasion")
    restored = League.from_dict(league.config, roundtrip(league.to_dict()))
    assert restored.to_dict() == league.to_dict()


def test_anchors_that_are_not_opponents_are_never_planned():
    """league.anchor_opponents: false keeps searched anchors out of every plan (they only teach and measure)."""
    league = League(LeagueConfig(pool_size=4, anchor_every=5, anchor_opponents=False))
    league.add("evader", 1)
    league.add_anchor("evader", 5, "evasion")
    plan = league.plan_slots("evader", 2, np.random.default_rng(0))
    assert plan == {"evader@1": 1.0}
    assert [e.id for e in league.anchors("evader")] == ["evader@anchor5"]


def test_hunters_are_kept_in_their_own_slots_always_play_and_never_count_as_teachers():
    """league.hunt_roles: hunters are searched anchors with their own bound (hunter_slots), playable as opponents
    even when anchors only teach, left out of the teachers, and given modules beyond the anchors'."""
    config = LeagueConfig(enabled=True, pool_size=4, anchor_every=5, anchor_slots=1, anchor_opponents=False,
                          hunt_roles=("evader",), hunter_slots=1)
    assert config.anchors == 2                                     # one teacher's module and one hunter's
    league = League(config)
    league.add("evader", 1)
    league.add_anchor("evader", 5, "evasion")
    assert league.add_anchor("evader", 5, "evasion", hunter=True) == (league.find("evader@hunt5"), None)
    _, replaced = league.add_anchor("evader", 10, "evasion", hunter=True)
    assert replaced.id == "evader@hunt5"                           # the oldest hunter, not the teacher
    assert [e.id for e in league.teacher_anchors("evader")] == ["evader@anchor5"]
    assert [e.id for e in league.hunters("evader")] == ["evader@hunt10"]
    assert [e.id for e in league.anchors("evader")] == ["evader@anchor5", "evader@hunt10"]
    plan = league.plan_slots("evader", 2, np.random.default_rng(0))
    assert set(plan) == {"evader@1", "evader@hunt10"}              # the teacher stays out (anchor_opponents false)
    restored = League.from_dict(config, roundtrip(league.to_dict()))
    assert restored.to_dict() == league.to_dict() and restored.find("evader@hunt10").hunter
    # hunter_share reserves the hunters' part of the pool episodes; the other entries keep their proportions.
    shared = League(dataclasses.replace(config, hunter_share=0.6, anchor_opponents=True), entries=league.entries)
    shared.add("evader", 2)
    weights = shared.plan_slots("evader", 2, np.random.default_rng(0))
    assert weights["evader@hunt10"] == pytest.approx(0.6)
    others = ("evader@1", "evader@2", "evader@anchor5")            # unplayed: equal PFSP weights
    assert weights.keys() == {"evader@hunt10", *others}
    assert all(weights[e] == pytest.approx(0.4 / 3) for e in others)
    with pytest.raises(ConfigError, match="hunter_share: needs hunt_roles"):
        LeagueConfig(anchor_every=5, hunter_share=0.5)
    assert LeagueConfig(enabled=True, anchor_every=5, anchor_slots=2).anchors == 2
    with pytest.raises(ConfigError, match=r"hunt_roles: needs anchor_every > 0, got \['evader'\]"):
        LeagueConfig(hunt_roles=("evader",))


def test_a_hunter_search_plays_the_current_policy_alone_from_its_previous_hunter_with_the_teacher_as_candidate(
        monkeypatch):
    """A hunter's search plays only the other role's current policy (never its anchors), starts from the role's
    newest teacher the first time and from its previous hunter after, and the teacher joins its selection; the
    role's robust teacher search and the other role's never play or start from a hunter."""
    from pe_rllib.callbacks.league import search_anchors, teachers
    from pe_rllib.policies.inference import LearnedPolicy

    experiment = load_experiment("league", {
        "league.anchor_every": 2, "league.anchor_robust": 1, "league.anchor_warm_start": True,
        "league.hunt_roles": ["evader"], "league.distill_coeff": 1.0,
        "league.anchor_generations": 1, "league.anchor_population": 2, "league.anchor_episodes": 2,
        "league.anchor_selection_episodes": 8})
    algorithm = stand_in_algorithm(experiment, League(experiment.league), {}, iteration=2)
    calls = searches_of(monkeypatch)
    figures = search_anchors(algorithm)
    weights = algorithm.selfplay.league_weights
    teacher = weights["evader@anchor2"]["params"]
    hunter = calls[2]                                              # pursuer's anchor, evader's anchor, hunter
    assert hunter.role == "evader" and len(hunter.opponent) == 1 and isinstance(hunter.opponent[0], LearnedPolicy)
    assert np.allclose(hunter.start, teacher) and len(hunter.candidates) == 1
    assert np.allclose(hunter.candidates[0], teacher)
    assert set(figures["hunter_success"]) == {"evader"} and "evader@hunt2" in weights
    first_hunter = weights["evader@hunt2"]["params"]
    calls.clear()
    algorithm.iteration = 4
    search_anchors(algorithm)
    pursuer_search, evader_search, hunter_search = calls
    assert np.allclose(hunter_search.start, first_hunter) and "evader@hunt2" not in weights     # replaced
    assert len(hunter_search.opponent) == 1
    assert np.allclose(hunter_search.candidates[0], weights["evader@anchor4"]["params"])
    assert np.allclose(evader_search.start, teacher)               # the teacher warm-starts from the teacher
    assert np.allclose(np.atleast_2d(pursuer_search.opponent[1].params)[0], teacher)   # robust: the teacher only
    assert teachers(algorithm.selfplay)["evader"]["params"] == weights["evader@anchor4"]["params"].tolist()
    assert [e.id for e in algorithm.selfplay.league.hunters("evader")] == ["evader@hunt4"]


def test_anchor_against_names_the_scripted_opponent_of_each_roles_anchor_search():
    from pe_rllib.config import LeagueConfig

    config = LeagueConfig(anchor_every=5, anchor_against=("apn", "break_turn"))
    assert config.anchor_opponent("evader") == "apn" and config.anchor_opponent("pursuer") == "break_turn"
    assert LeagueConfig(anchor_every=5, anchor_against=("pn",)).anchor_opponent("pursuer") is None
    with pytest.raises(ConfigError, match="anchor_against: at most one scripted pursuer"):
        LeagueConfig(anchor_every=5, anchor_against=("pn", "apn"))
    with pytest.raises(ConfigError, match="league.anchor_against: 'apn' is not a scripted policy of the planar"):
        load_experiment("league", {"league.anchor_every": 4, "league.anchor_against": ["apn"]})
    with pytest.raises(ConfigError, match="anchor_against: needs anchor_every > 0"):
        LeagueConfig(anchor_against=("apn",))


@pytest.mark.parametrize("field, value, message", [
    ("anchor_every", -1, "league.anchor_every: must be an integer >= 0"),
    ("anchor_population", 1, "league.anchor_population: must be an integer >= 2"),
    ("anchor_slots", 0, "league.anchor_slots: must be >= 1 when anchor_every > 0"),
    ("anchor_robust", 3, r"league.anchor_robust: must be <= anchor_slots \(2\)"),
    ("anchor_robust", -1, "league.anchor_robust: must be an integer >= 0"),
    ("anchor_warm_start", "yes", "league.anchor_warm_start: must be true or false"),
    ("hunt_roles", ["hunter"], "league.hunt_roles: must name roles of"),
    ("hunter_slots", 0, r"league.hunter_slots: must be an integer in \[1, 16\]"),
    ("anchor_recall", True, "league.anchor_recall: needs teacher_view: remembered"),
])
def test_bad_anchor_settings_are_refused_in_one_line(field, value, message):
    overrides = {"league.anchor_every": 4, f"league.{field}": value}
    with pytest.raises(ConfigError, match=message):
        load_experiment("league", overrides)


def stand_in_algorithm(experiment, league, league_weights: dict, iteration: int):
    """What ``search_anchors`` reads of an algorithm: the experiment, iteration, seed, self-play state, and a learner
    group answering each role's freshly built module weights."""
    from types import SimpleNamespace

    from pe_rllib.policies.rl_module import learned_module_spec

    weights = {role: {k: v.detach().numpy() for k, v in learned_module_spec(experiment, role).build()
                      .state_dict().items()} for role in ("pursuer", "evader")}
    return SimpleNamespace(
        experiment=experiment, iteration=iteration, config=SimpleNamespace(seed=0),
        selfplay=SimpleNamespace(league=league, league_weights=league_weights),
        learner_group=SimpleNamespace(get_weights=lambda module_ids: {m: weights[m] for m in module_ids}))


def searches_of(monkeypatch) -> list:
    """Every ``search_best_response`` call the league's searches make from now on (:func:`helpers.calls_to`)."""
    from pe_rllib.evaluation import search as search_module

    return calls_to(monkeypatch, search_module, "search_best_response")


def test_robust_warm_started_anchor_searches_play_the_other_roles_anchors_and_start_from_their_own(monkeypatch):
    """league.anchor_robust / anchor_warm_start: the first search plays only the other role's current policy and
    starts from the family's defaults; the next also plays the other role's newest anchor, scores candidates by
    their worst rate over both opponents, and starts from the role's own previous anchor."""
    from pe_rllib.callbacks.league import search_anchors
    from pe_rllib.policies.families import ParametricPolicy

    experiment = load_experiment("league", {
        "league.anchor_every": 2, "league.anchor_robust": 1, "league.anchor_warm_start": True,
        "league.anchor_generations": 1, "league.anchor_population": 3, "league.anchor_episodes": 4,
        "league.anchor_selection_episodes": 16})
    algorithm = stand_in_algorithm(experiment, League(experiment.league), {}, iteration=2)
    calls = searches_of(monkeypatch)
    search_anchors(algorithm)
    assert [(call.role, len(call.opponent), call.start) for call in calls] == [
        ("pursuer", 1, None), ("evader", 1, None)]
    first = {role: algorithm.selfplay.league_weights[f"{role}@anchor2"]["params"] for role in ("pursuer", "evader")}
    calls.clear()
    algorithm.iteration = 4
    figures = search_anchors(algorithm)
    for call in calls:
        role, opponents, start, result = call.role, call.opponent, call.start, call.result
        other = "evader" if role == "pursuer" else "pursuer"
        assert len(opponents) == 2 and isinstance(opponents[1], ParametricPolicy)
        assert np.allclose(np.atleast_2d(opponents[1].params)[0], first[other])    # the other's newest anchor
        assert np.allclose(start, first[role])                                    # its own previous one
        assert figures["anchor_success"][role] == round(result.selection_rate, 4)
    assert len(calls) == 2


def test_anchor_recall_searches_the_teachers_remembering_and_plays_the_other_roles_teachers_remembering(
        monkeypatch):
    """league.anchor_recall: in a world without last seen, each anchor search scores its candidates remembering
    for teacher_recall steps (its result plays remembering), and a robust search plays the other role's newest
    anchor remembering too, with that anchor's parameters; the anchors keep plain family parameters."""
    from pe_rllib.callbacks.league import search_anchors
    from pe_rllib.policies.memory import RememberingController

    experiment = load_experiment("partial", {
        "env.last_seen": False, "env.max_steps": 80, "training.model": "mlp", "league.teacher_view": "remembered",
        "league.teacher_recall": 30, "league.anchor_recall": True, "league.anchor_robust": 1,
        "league.anchor_generations": 1, "league.anchor_population": 2, "league.anchor_episodes": 2,
        "league.anchor_selection_episodes": 8})
    algorithm = stand_in_algorithm(experiment, League(experiment.league), {}, iteration=50)
    calls = searches_of(monkeypatch)
    search_anchors(algorithm)
    assert [(call.role, call.settings.recall, call.result.settings["recall"]) for call in calls] == [
        ("pursuer", 30, 30), ("evader", 30, 30)]
    first = {role: algorithm.selfplay.league_weights[f"{role}@anchor50"]["params"] for role in ("pursuer", "evader")}
    calls.clear()
    algorithm.iteration = 100
    search_anchors(algorithm)
    for call in calls:
        role, opponents = call.role, call.opponent
        other = "evader" if role == "pursuer" else "pursuer"
        assert call.settings.recall == 30 and len(opponents) == 2
        assert isinstance(opponents[1], RememberingController) and opponents[1].recall == 30
        assert opponents[1].role == other and np.allclose(np.atleast_2d(opponents[1].controller.params)[0],
                                                          first[other])
    assert [len(calls), first["pursuer"].ndim] == [2, 1]


def test_anchor_pinned_holds_each_roles_parameters_in_its_anchor_searches_and_bad_pins_are_refused(monkeypatch):
    from pe_rllib.callbacks.league import check_anchor_pins, search_anchors

    experiment = load_experiment("partial", {
        "training.model": "mlp", "league.anchor_pinned": ["hide_gain=0", "patrol_gain=0.5"],
        "league.anchor_generations": 1, "league.anchor_population": 3, "league.anchor_episodes": 2,
        "league.anchor_selection_episodes": 4, "env.max_steps": 40})
    check_anchor_pins(experiment)
    algorithm = stand_in_algorithm(experiment, League(experiment.league), {}, iteration=50)
    calls = searches_of(monkeypatch)
    search_anchors(algorithm)
    assert {call.role: call.settings.pinned for call in calls} == {"pursuer": (("patrol_gain", 0.5),),
                                                                   "evader": (("hide_gain", 0.0),)}
    assert [calls[0].result.params["patrol_gain"], calls[1].result.params["hide_gain"]] == [0.5, 0.0]
    for pins, message in ((["hide_gain"], "entries must be NAME=VALUE with a number"),
                          (["nope=1"], "'nope=1' names no parameter of the search families"),
                          (["hide_gain=9"], r"hide_gain must be in \[0, 3\], got 9.0")):
        with pytest.raises(ConfigError, match=f"league.anchor_pinned: .*{message}"):
            check_anchor_pins(load_experiment("partial", {"league.anchor_pinned": pins}))


def test_anchor_recall_is_refused_with_anchors_that_play_in_the_pool():
    with pytest.raises(ConfigError, match=r"league.anchor_recall: needs anchor_opponents: false \(an anchor in the "
                                          r"pool plays without memory\), got True"):
        load_experiment("partial", {"env.last_seen": False, "league.teacher_view": "remembered",
                                    "league.anchor_recall": True, "league.anchor_opponents": True})


def test_a_robust_anchor_search_also_plays_the_other_roles_admitted_exploiters(monkeypatch):
    """league.anchor_robust_exploiters: the evader's search plays the current pursuer, the pursuer's newest anchor
    and its newest admitted exploiter snapshot (a learned policy), and only exploiter entries count as such."""
    from pe_rllib.callbacks.league import search_anchors
    from pe_rllib.policies.inference import LearnedPolicy

    experiment = load_experiment("league", {
        "league.anchor_every": 2, "league.anchor_robust": 1, "league.exploiters": True,
        "league.anchor_robust_exploiters": 1, "evaluation.every": 2,
        "league.anchor_generations": 1, "league.anchor_population": 2, "league.anchor_episodes": 2,
        "league.anchor_selection_episodes": 4})
    league = League(experiment.league)
    league.add("pursuer", 1)
    admitted, _ = league.add("pursuer", 1, exploiter=True)
    assert [e.id for e in league.exploiter_snapshots("pursuer")] == ["pursuer@x1"] and admitted.exploiter
    assert league.exploiter_snapshots("evader") == []
    algorithm = stand_in_algorithm(experiment, league, {}, iteration=2)
    current = algorithm.learner_group.get_weights(["pursuer"])["pursuer"]
    algorithm.selfplay.league_weights.update({"pursuer@1": current, "pursuer@x1": current})
    calls = searches_of(monkeypatch)
    search_anchors(algorithm)                              # no anchors yet: current policy and the exploiter
    opponents = {call.role: call.opponent for call in calls}
    assert len(opponents["evader"]) == 2 and isinstance(opponents["evader"][1], LearnedPolicy)
    assert len(opponents["pursuer"]) == 1                  # the evader has no admitted exploiter
    algorithm.iteration = 4
    search_anchors(algorithm)
    opponents = {call.role: call.opponent for call in calls[2:]}
    assert len(opponents["evader"]) == 3 and isinstance(opponents["evader"][2], LearnedPolicy)
    with pytest.raises(ConfigError, match="anchor_robust_exploiters: needs anchor_every > 0 and exploiters: true"):
        LeagueConfig(anchor_every=2, anchor_robust_exploiters=1)


def test_an_anchor_module_plays_the_parameters_it_is_given_as_state():
    """SearchedRLModule: its state is the controller's parameters; set_state makes it act exactly like the
    family with those parameters, and the state round-trips."""
    from pe_rllib.policies.families import make_family
    from pe_rllib.policies.rl_module import anchor_module_spec

    experiment = load_experiment("league")
    module = anchor_module_spec(experiment, "pursuer").build()
    family = make_family("pursuer", experiment.env)
    low, high = family.bounds()
    params = low + np.random.default_rng(0).random(len(low)) * (high - low)
    module.set_state({"params": params})
    np.testing.assert_array_equal(module.get_state()["params"], params)
    reference = make_family("pursuer", experiment.env, params=params, seed=experiment.training.seed)
    from pe_rllib.envs.batched import BatchedPursuitEvasion

    env = BatchedPursuitEvasion(16, experiment.env)
    obs = env.reset(seed=3)["pursuer"]
    np.testing.assert_allclose(module.act(obs), reference.act(obs))
    assert not np.allclose(module.act(obs), make_family("pursuer", experiment.env).act(obs))    # not the defaults


# --------------------------------------------------------------------------- exploiters


def test_an_exploiter_episode_pairs_the_exploiter_with_the_other_roles_current_policy():
    """OpponentMapping.assign: with probability exploiter_share a new episode is the training role's exploiter
    against the other role's own module (never a stand-in); otherwise the same draws as asking per role."""
    from pe_rllib.selfplay.snapshots import OpponentMapping

    mapping = OpponentMapping(probability=1.0)
    mapping.configure(["evader"], {"evader": ["evader_snapshot_0"]}, seed=4,
                      exploiters={"pursuer": "pursuer_exploiter"}, exploiter_share=0.3)
    episodes = [mapping.assign() for _ in range(5000)]
    exploiting = [e for e in episodes if e["pursuer"] == "pursuer_exploiter"]
    assert len(exploiting) == pytest.approx(0.3 * 5000, rel=0.1)
    assert {e["evader"] for e in exploiting} == {"evader"}                       # the current evader, not a slot
    assert {e["evader"] for e in episodes if e["pursuer"] == "pursuer"} == {"evader_snapshot_0"}
    plain, per_role = OpponentMapping(probability=0.5), OpponentMapping(probability=0.5)
    for m in (plain, per_role):
        m.configure(["evader"], {"evader": ["evader_snapshot_0", "evader_snapshot_1"]}, seed=9)
    assert [plain.assign() for _ in range(200)] == [{r: per_role(r) for r in ("pursuer", "evader")} for _ in range(200)]


@pytest.mark.parametrize("overrides, message", [
    ({"league.exploiters": True, "training.sampler": "rllib"}, "league.exploiters: needs training.sampler: batched"),
    ({"league.exploiters": True, "evaluation.every": 0}, "league.exploiters: needs evaluation.every > 0"),
    ({"league.exploiter_reset_to": "scratch"}, "league.exploiter_reset_to: must be one of"),
    ({"league.exploiter_share": 1.0}, "league.exploiter_share: must be in \\(0, 1\\)"),
    ({"league.exploiter_phases": "both"}, "league.exploiter_phases: must be one of"),
])
def test_bad_exploiter_settings_are_refused_in_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment("league", {"evaluation.every": 10, **overrides})
