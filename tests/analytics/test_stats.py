"""The report's statistics against published values, and the sequential test's promise checked
by simulation: no false winners beyond alpha however often one looks, real differences found."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from gateway.analytics.stats import (
    Look,
    always_valid_p,
    confidence_sequence,
    difference_interval,
    needed_per_variant,
    nps,
    wilson,
)

DAYS, PER_DAY, RUNS = 30, 150, 400


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611)],
)
def test_wilson_matches_newcombe_1998(successes: int, n: int, low: float, high: float) -> None:
    # Newcombe, "Two-sided confidence intervals for the single proportion", Stat Med 1998.
    rate = wilson(successes, n)
    assert (round(rate.low or 0, 4), round(rate.high or 0, 4)) == (low, high)
    assert wilson(0, 0).value is None and wilson(0, 0).low is None


def test_difference_interval_matches_newcombe_1998() -> None:
    # Newcombe, "Interval estimation for the difference between independent proportions",
    # Stat Med 1998, example (a): 56/70 - 48/80, method 10: 0.0524 to 0.3339.
    low, high = difference_interval(wilson(56, 70), wilson(48, 80)) or (0, 0)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_sample_size_matches_the_textbook_formula() -> None:
    # Cohen's h: 2 asin(sqrt(p)) has variance 1/n, so the difference of two groups 2/n and
    # n = 2 ((z_{1-a/2} + z_{power}) / h)^2 per group (about 1,090 for 20% against 25%).
    h = abs(2 * math.asin(math.sqrt(0.25)) - 2 * math.asin(math.sqrt(0.20)))
    z = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)
    assert needed_per_variant(0.20, 0.05, 0.05) == math.ceil(2 * (z / h) ** 2)
    assert 1000 < needed_per_variant(0.20, 0.05, 0.05) < 1200


def test_nps_counts_promoters_minus_detractors() -> None:
    assert nps([10, 9, 8, 7, 6, 0]) == (pytest.approx(0.0), 6)
    assert nps([10, 10, 3]) == (pytest.approx(100 / 3), 3)
    assert nps([]) == (None, 0)


def simulate(pa: float, pb: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative successes per day for RUNS experiments: arrays (RUNS, DAYS)."""
    rng = np.random.default_rng(seed)
    a = rng.binomial(PER_DAY, pa, size=(RUNS, DAYS)).cumsum(axis=1)
    b = rng.binomial(PER_DAY, pb, size=(RUNS, DAYS)).cumsum(axis=1)
    return a, b


def looks(a: np.ndarray, b: np.ndarray, run: int) -> list[Look]:
    n = [PER_DAY * (d + 1) for d in range(DAYS)]
    return [Look(int(a[run, d]), n[d], int(b[run, d]), n[d]) for d in range(DAYS)]


def test_no_difference_crowns_no_winner_beyond_alpha_with_a_look_every_day() -> None:
    a, b = simulate(0.2, 0.2, seed=7)
    false_winners = sum(always_valid_p(looks(a, b, r), tau=0.05) <= 0.05 for r in range(RUNS))
    # The same data with a plain z-test every day: the peeking problem the mSPRT avoids.
    n = PER_DAY * np.arange(1, DAYS + 1)
    pa, pb = a / n, b / n
    pooled = (a + b) / (2 * n)
    z = (pb - pa) / np.sqrt(pooled * (1 - pooled) * 2 / n)
    naive = int((np.abs(z) > 1.96).any(axis=1).sum())
    assert false_winners / RUNS <= 0.05 + 0.02  # alpha plus Monte Carlo noise (sd ~0.011)
    assert naive / RUNS > 0.12  # daily peeking at a fixed-horizon test: far above 5%


def test_a_real_difference_is_found_and_the_always_valid_interval_covers_it() -> None:
    a, b = simulate(0.20, 0.27, seed=11)
    found = sum(always_valid_p(looks(a, b, r), tau=0.05) <= 0.05 for r in range(RUNS))
    assert found / RUNS > 0.9
    covered = 0
    for r in range(RUNS):
        intervals = [confidence_sequence(look, 0.05, 0.05) for look in looks(a, b, r)]
        covered += all(i is not None and i[0] <= 0.07 <= i[1] for i in intervals)
    assert covered / RUNS >= 0.95 - 0.02  # at every look at once, not just at the end


def test_early_looks_with_no_data_say_nothing() -> None:
    assert always_valid_p([Look(0, 0, 0, 0), Look(0, 1, 1, 1)], tau=0.05) == 1.0
    assert confidence_sequence(Look(0, 1, 0, 1), 0.05, 0.05) is None
    p = always_valid_p([Look(0, 50, 0, 50)], tau=0.05)  # no successes anywhere: no evidence
    assert p == pytest.approx(1.0, abs=0.05) or p > 0.5
