"""Sequential tests that stay valid however often they look: mixture e-processes. Pure.

Two kinds, both updated with each interval's counts and both kept as a few
numbers (the log-likelihood ratio at each point of a fixed grid), so a restarted
controller carries on where it was:

* :class:`RatioTest` compares two counting processes (canary and stable errors,
  or requests above a latency bound). Given the ``k`` events of an interval,
  the canary's share is binomial with ``p = θ n / (θ n + m)`` (``n``, ``m`` the
  versions' requests, ``θ`` the ratio of their rates): the traffic share enters
  interval by interval, so evidence carries across steps. Against the null
  ``θ ≤ 1 + δ`` the likelihood ratio to the boundary is a supermartingale for
  every alternative ``θ > 1 + δ``; averaged over a grid of them it is an
  e-process, and rejecting at ``E >= 1/alpha`` errs with probability at most ``alpha``
  however many looks (Ville's inequality). This is the counting-process approach
  of Lindon & Malek (NeurIPS 2022).
* :class:`RateTest` is the one-sample version: the canary's rate against an SLO.

Each test also runs the mirror test (null: at least as bad as the bound), whose
rejection is positive evidence that the canary is fine: promotion needs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

GRID = 16


def _grid_above(bound: float, top: float) -> np.ndarray:
    return np.geomspace(bound * 1.05, max(top, bound * 1.1), GRID)


def _grid_below(bound: float, bottom: float) -> np.ndarray:
    return np.geomspace(max(bottom, bound * 1e-3), bound / 1.05, GRID)


def _log_mean_exp(values: np.ndarray) -> float:
    peak = float(np.max(values))
    return peak + math.log(float(np.mean(np.exp(values - peak))))


@dataclass
class _Mixture:
    """Log-likelihood ratios, one per alternative, against the null's boundary."""

    log_lr: list[float] = field(default_factory=lambda: [0.0] * GRID)

    def log_e(self) -> float:
        return _log_mean_exp(np.array(self.log_lr))


@dataclass
class RatioTest:
    """Is the canary's rate more than ``1 + delta`` times stable's? (And the mirror.)"""

    delta: float = 0.2
    worse: _Mixture = field(default_factory=_Mixture)  # evidence the canary is worse
    fine: _Mixture = field(default_factory=_Mixture)  # evidence it is not

    def update(
        self, canary_events: float, canary_n: float, stable_events: float, stable_n: float
    ) -> None:
        """Add one interval's counts (events and requests of each version)."""
        if canary_n <= 0 or stable_n <= 0 or canary_events + stable_events <= 0:
            return  # no events: nothing to learn about the ratio
        bound = 1 + self.delta
        p0 = bound * canary_n / (bound * canary_n + stable_n)
        for mixture, thetas in (
            (self.worse, _grid_above(bound, 20.0)),
            (self.fine, _grid_below(bound, 0.05)),
        ):
            p = thetas * canary_n / (thetas * canary_n + stable_n)
            step = canary_events * np.log(p / p0) + stable_events * np.log((1 - p) / (1 - p0))
            mixture.log_lr = [float(x) for x in np.array(mixture.log_lr) + step]

    def worse_e(self) -> float:
        return math.exp(min(self.worse.log_e(), 700.0))

    def fine_e(self) -> float:
        return math.exp(min(self.fine.log_e(), 700.0))


@dataclass
class RateTest:
    """Is the canary's rate above ``limit`` (an SLO)? (And the mirror.)"""

    limit: float
    worse: _Mixture = field(default_factory=_Mixture)
    fine: _Mixture = field(default_factory=_Mixture)

    def update(self, events: float, n: float) -> None:
        if n <= 0 or not 0 < self.limit < 1:
            return
        r0 = self.limit
        for mixture, rates in (
            (self.worse, _grid_above(r0, min(0.99, r0 * 50))),
            (self.fine, _grid_below(r0, r0 * 0.01)),
        ):
            rates = np.clip(rates, 1e-9, 1 - 1e-9)
            step = events * np.log(rates / r0) + (n - events) * np.log((1 - rates) / (1 - r0))
            mixture.log_lr = [float(x) for x in np.array(mixture.log_lr) + step]

    def worse_e(self) -> float:
        return math.exp(min(self.worse.log_e(), 700.0))

    def fine_e(self) -> float:
        return math.exp(min(self.fine.log_e(), 700.0))
