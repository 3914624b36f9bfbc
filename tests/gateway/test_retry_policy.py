"""The outbox's retry policy: capped exponential backoff with jitter; Retry-After wins."""

from __future__ import annotations

import pytest

from gateway.turns.sender import RetryPolicy


@pytest.mark.parametrize(
    ("attempt", "expected"), [(1, 0.5), (2, 1.0), (3, 2.0), (7, 32.0), (8, 60.0), (20, 60.0)]
)
def test_backoff_doubles_and_is_capped(attempt: int, expected: float) -> None:
    assert RetryPolicy().next_delay(attempt, rand=0.5) == pytest.approx(expected)


def test_jitter_stays_within_its_share() -> None:
    policy = RetryPolicy(jitter=0.25)
    assert policy.next_delay(3, rand=0.0) == pytest.approx(1.5)
    assert policy.next_delay(3, rand=1.0) == pytest.approx(2.5)


def test_retry_after_wins_when_longer_but_is_capped() -> None:
    policy = RetryPolicy()
    assert policy.next_delay(1, retry_after=7, rand=0.5) == 7
    assert policy.next_delay(1, retry_after=600, rand=0.5) == 600  # a platform's word is kept
    assert policy.next_delay(1, retry_after=10_000, rand=0.5) == 900
