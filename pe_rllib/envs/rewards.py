"""Named reward terms, batched. Each term is reported per step and per agent.

Terms (weights in :class:`~pe_rllib.config.RewardConfig`; pursuer / evader in
general-sum mode):

==================  ==========================  ==========================
term                pursuer                     evader
==================  ==========================  ==========================
capture             +capture on capture         -capture on capture
timeout             -timeout on timeout         +timeout on timeout
distance            +w (d_prev - d_now)         -w (d_prev - d_now)
survival            0 (zero-sum: -survival)     +survival per uncaptured step
visibility          +visibility if it sees E    0
obstacle_approach   -w (1 - c / c0) if c < c0   same, own clearance c
collision           -collision if it crashed    -collision if it crashed
==================  ==========================  ==========================

In zero-sum mode every evader term is minus the pursuer's term.
"""

from __future__ import annotations

import numpy as np

from pe_rllib.config import RewardConfig

TERMS: tuple[str, ...] = ("capture", "timeout", "distance", "survival", "visibility",
                          "obstacle_approach", "collision")


def reward_terms(
    reward: RewardConfig,
    *,
    captured: np.ndarray,
    timeout: np.ndarray,
    distance_before: np.ndarray,
    distance_after: np.ndarray,
    pursuer_sees: np.ndarray,
    clearance: np.ndarray,
    collision: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-term rewards ``({term: [N]}, {term: [N]})`` for (pursuer, evader).

    ``clearance`` and ``collision`` are ``[N, 2]`` (pursuer, evader); the rest ``[N]``.
    """
    zeros = np.zeros(captured.shape)
    closing = distance_before - distance_after
    approach = np.clip(1.0 - clearance / reward.approach_distance, 0.0, 1.0)
    pursuer = {
        "capture": reward.capture * captured,
        "timeout": -reward.timeout * timeout,
        "distance": reward.distance * closing,
        # In zero-sum mode the pursuer pays the evader's survival bonus.
        "survival": -reward.survival * ~captured if reward.zero_sum else zeros,
        "visibility": reward.visibility * pursuer_sees,
        "obstacle_approach": -reward.obstacle_approach * approach[:, 0],
        "collision": -reward.collision * collision[:, 0],
    }
    if reward.zero_sum:
        return pursuer, {term: -value for term, value in pursuer.items()}
    evader = {
        "capture": -reward.capture * captured,
        "timeout": reward.timeout * timeout,
        "distance": -reward.distance * closing,
        "survival": reward.survival * ~captured,
        "visibility": zeros,
        "obstacle_approach": -reward.obstacle_approach * approach[:, 1],
        "collision": -reward.collision * collision[:, 1],
    }
    return pursuer, evader
