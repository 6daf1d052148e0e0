"""How sure a figure is: 95 % intervals for a mean, a paired difference and a win rate."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959964


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def mean_interval(values: list[float]) -> Estimate:
    """The mean with its normal-approximation 95 % interval (the standard error times
    1.96); one value has no spread, so its interval is the value alone."""
    if not values:
        return Estimate(math.nan, math.nan, math.nan)
    mean = sum(values) / len(values)
    if len(values) < 2:
        return Estimate(mean, mean, mean)
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    half = Z95 * math.sqrt(variance / len(values))
    return Estimate(mean, mean - half, mean + half)


def wilson(successes: float, trials: int) -> Estimate:
    """A rate with its Wilson 95 % interval: right at small counts and near 0 or 1,
    where the normal approximation gives intervals outside [0, 1]."""
    if trials <= 0:
        return Estimate(math.nan, 0.0, 1.0)
    rate = successes / trials
    denominator = 1 + Z95**2 / trials
    centre = (rate + Z95**2 / (2 * trials)) / denominator
    half = Z95 * math.sqrt(rate * (1 - rate) / trials + Z95**2 / (4 * trials**2)) / denominator
    return Estimate(rate, max(0.0, centre - half), min(1.0, centre + half))
