"""Named reward terms, batched. Each term is reported per step and per agent.

Terms (weights in :class:`~pe_rllib.config.RewardConfig`; pursuer / evader in
general-sum mode; d, d' the distance before and after the step, g = distance_discount):

==================  ==================================  ==================================
term                pursuer                             evader
==================  ==================================  ==================================
capture             +capture on capture                 -capture on capture
timeout             -timeout on timeout                 +timeout on timeout
distance            +w (d - g d')                       -w (d - g d')
survival            0 (zero-sum: -survival)             +survival per step it survives
visibility          +visibility if it sees E            0
obstacle_approach   -w (1 - c / c0) if c < c0           same, own clearance c
collision           -(collision + timeout) if it        -(collision + capture) if it
                    crashed                             crashed
==================  ==================================  ==================================

A crash is scored as the crashing role's loss plus the collision penalty: the pursuer
that crashes pays what a timeout costs it, the evader what a capture costs it, and
``collision`` on top. So a crash is never better for the crashing role than the
episode's capture or timeout would have been, in either mode (with only ``-collision``, an
evader about to be captured gained by crashing whenever ``collision < capture``, and in
zero-sum mode its own crash cost it nothing at all).

In zero-sum mode every evader term is minus the pursuer's; the pursuer's terms then also
carry the evader's crash as a win, ``+(collision + capture)``, which is what makes the
evader's own crash cost it ``collision + capture``.

The distance term with ``distance_discount`` g equal to the learner's discount is
potential-based shaping, F = g Phi(s') - Phi(s) with Phi = -w d for the pursuer (Ng,
Harada & Russell 1999), so it does not change which policies are optimal (terminal states
keep their potential, -w d_T: a capture, at the capture radius, is worth the same under
every policy, and a closer end to a lost chase is worth a little more). With the default
g = 1 it is the plain closing distance, which is *not* policy-invariant under discounting:
against the potential form it takes ``(1 - gamma) w d'`` from the pursuer every step and
gives it to the evader, a dense "stay close" / "stay far" signal. Every bundled config and
every measured result so far uses g = 1.
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
    closing = distance_before - reward.distance_discount * distance_after
    approach = np.clip(1.0 - clearance / reward.approach_distance, 0.0, 1.0)
    survived = ~captured & ~collision[:, 1]              # an evader that crashed did not survive the step
    pursuer = {
        "capture": reward.capture * captured,
        "timeout": -reward.timeout * timeout,
        "distance": reward.distance * closing,
        # In zero-sum mode the pursuer pays the evader's survival bonus.
        "survival": -reward.survival * survived if reward.zero_sum else zeros,
        "visibility": reward.visibility * pursuer_sees,
        "obstacle_approach": -reward.obstacle_approach * approach[:, 0],
        "collision": -(reward.collision + reward.timeout) * collision[:, 0],
    }
    if reward.zero_sum:
        pursuer["collision"] = pursuer["collision"] + (reward.collision + reward.capture) * collision[:, 1]
        return pursuer, {term: -value for term, value in pursuer.items()}
    evader = {
        "capture": -reward.capture * captured,
        "timeout": reward.timeout * timeout,
        "distance": -reward.distance * closing,
        "survival": reward.survival * survived,
        "visibility": zeros,
        "obstacle_approach": -reward.obstacle_approach * approach[:, 1],
        "collision": -(reward.collision + reward.capture) * collision[:, 1],
    }
    return pursuer, evader
