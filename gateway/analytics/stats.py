"""The statistics of the experiment report: intervals for rates and differences, and a test that
stays valid however often the merchant looks.

Intervals come from statsmodels (Wilson for one rate, Newcombe's hybrid score interval for a
difference); the sample-size guide from its power module. The sequential test is the mixture
sequential probability ratio test (mSPRT) of Johari, Koomen, Pekelis and Walsh ("Peeking at A/B
tests", KDD 2017; "Always valid inference", Operations Research 2022) on the difference of two
rates with a normal mixing distribution of scale `tau`: its p-value, the running minimum over
every look, can be read every day (or every minute) and the chance of ever crossing `alpha`
when there is no difference stays at most `alpha`. A daily z-test does not: with thirty looks
it crowns a false winner about a quarter of the time (tests/analytics/test_stats.py shows both).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
)


@dataclass(frozen=True, slots=True)
class Rate:
    """`successes` of `n`, with its Wilson interval (None when n is 0)."""

    successes: int
    n: int
    low: float | None
    high: float | None

    @property
    def value(self) -> float | None:
        return self.successes / self.n if self.n else None


def wilson(successes: int, n: int, alpha: float = 0.05) -> Rate:
    if n == 0:
        return Rate(0, 0, None, None)
    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return Rate(successes, n, float(low), float(high))


def difference_interval(b: Rate, a: Rate, alpha: float = 0.05) -> tuple[float, float] | None:
    """Newcombe's interval for rate(b) - rate(a) at one look (not valid under peeking)."""
    if not a.n or not b.n:
        return None
    low, high = confint_proportions_2indep(
        b.successes, b.n, a.successes, a.n, method="newcomb", compare="diff", alpha=alpha
    )
    return float(low), float(high)


@dataclass(frozen=True, slots=True)
class Look:
    """Cumulative counts of a control (a) and a variant (b) at one look."""

    a_successes: int
    a_n: int
    b_successes: int
    b_n: int


def _variance(look: Look) -> float | None:
    if look.a_n < 2 or look.b_n < 2:
        return None
    pa, pb = look.a_successes / look.a_n, look.b_successes / look.b_n
    variance = pa * (1 - pa) / look.a_n + pb * (1 - pb) / look.b_n
    # With no successes (or no failures) yet the plug-in variance is 0; half a success each
    # side keeps the statistic finite without claiming certainty.
    floor = 0.25 / (look.a_n + 1) ** 2 + 0.25 / (look.b_n + 1) ** 2
    return max(variance, floor)


def msprt_likelihood_ratio(look: Look, tau: float) -> float:
    """The normal-mixture likelihood ratio of a look (1.0 when it cannot be computed yet)."""
    v = _variance(look)
    if v is None:
        return 1.0
    theta = look.b_successes / look.b_n - look.a_successes / look.a_n
    t2 = tau * tau
    log_ratio = 0.5 * math.log(v / (v + t2)) + theta * theta * t2 / (2 * v * (v + t2))
    return math.exp(min(log_ratio, 700.0))


def always_valid_p(looks: Iterable[Look], tau: float) -> float:
    """The mSPRT p-value after a sequence of looks: min(1, 1 / the largest ratio so far)."""
    p = 1.0
    for look in looks:
        p = min(p, 1.0 / max(msprt_likelihood_ratio(look, tau), 1e-300))
    return p


def confidence_sequence(look: Look, tau: float, alpha: float) -> tuple[float, float] | None:
    """The always-valid interval for rate(b) - rate(a) at this look (wider than Newcombe's)."""
    v = _variance(look)
    if v is None:
        return None
    t2 = tau * tau
    theta = look.b_successes / look.b_n - look.a_successes / look.a_n
    half = math.sqrt(v * (v + t2) / t2 * (2 * math.log(1 / alpha) + math.log((v + t2) / v)))
    return max(theta - half, -1.0), min(theta + half, 1.0)


def needed_per_variant(base: float, effect: float, alpha: float, power: float = 0.8) -> int:
    """Shoppers per variant a fixed-horizon test needs to detect `effect` on `base` (a guide:
    the always-valid test needs somewhat more, and gives its verdict as soon as it can)."""
    base = min(max(base, 0.01), 0.99)
    target = min(base + effect, 0.999) if base + effect < 1 else base - effect
    size = proportion_effectsize(target, base)
    n = NormalIndPower().solve_power(effect_size=abs(size), alpha=alpha, power=power, ratio=1.0)
    return math.ceil(float(n))


def nps(scores: Iterable[int]) -> tuple[float | None, int]:
    """Net promoter score (-100..100) of 0-10 answers, and how many answers."""
    answers = list(scores)
    if not answers:
        return None, 0
    promoters = sum(1 for s in answers if s >= 9)
    detractors = sum(1 for s in answers if s <= 6)
    return 100.0 * (promoters - detractors) / len(answers), len(answers)
