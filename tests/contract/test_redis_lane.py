"""A turn worker's lane on Redis: a busy worker's turn is one round trip (its commit records
what was sent, hands over its reply and claims its next message), its next claim none."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from flows.state import ConversationState
from gateway.store.redis import RedisStore
from gateway.store.redis.lane import RedisLane
from gateway.store.redis.lua import SCRIPTS
from tests.contract.cutting_proxy import CuttingProxy
from tests.contract.helpers import LEASE, TTL, inbound, key, run_turn, turn_for
from tests.contract.test_lane import busy
from tests.contract.test_redis_store import drop, round_trips


@pytest.fixture
def t0() -> float:
    return time.time()


@pytest.fixture
def rstore(redis_url: str) -> Iterator[RedisStore]:
    store = RedisStore(redis_url, prefix=f"t{uuid.uuid4().hex[:12]}")
    try:
        yield store
    finally:
        drop(store)


def scripts_loaded(store: RedisStore) -> None:
    """Every script in Redis's cache: a trip counted must not be a script's first use (its
    NOSCRIPT answer costs a load and the trip again), whichever tests ran before."""
    for source in SCRIPTS.values():
        store.client.script_load(source)


def test_a_busy_lanes_turn_is_one_round_trip_and_its_next_claim_none(
    rstore: RedisStore, monkeypatch: pytest.MonkeyPatch, t0: float
) -> None:
    lane = rstore.lane("w", LEASE, LEASE)
    first, second = busy(rstore, lane, "abc", t0)
    assert first.handed is not None
    scripts_loaded(rstore)
    trips = round_trips(rstore, monkeypatch)
    done = lane.commit(turn_for(second, t0 + 1), sent=[(first.handed.id, "p-1")])
    assert trips[0] == 1  # the commit, the reply sent, the hand-over, the next claim
    assert done.ok and done.handed is not None and done.next_claim is not None
    third = lane.claim(t0 + 1)
    assert third == done.next_claim and third.attempts == 1
    assert lane.load(third).key == third.conversation
    assert trips[0] == 1  # neither the claim nor the load cost a trip
    assert {second.conversation, third.conversation} == {key("b"), key("c")}
    assert [o.status for o in rstore.outbox_items(key("a"))] == ["sent"]


def test_a_commit_whose_answer_was_lost_gives_its_ahead_claim_back_on_the_lanes_next_call(
    redis_url: str, t0: float
) -> None:
    """The commit's trip ran in Redis but its answer never came back: the lane cannot know
    whether it holds the next message, so it gives it back before anything else rather than
    leave it leased to nobody until the lease runs out."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    with CuttingProxy(redis_url) as proxy:
        worker, other = RedisStore(proxy.url, prefix=prefix), RedisStore(redis_url, prefix=prefix)
        try:
            lane = worker.lane("w", LEASE, LEASE)
            _first, second = busy(other, lane, "abc", t0)
            proxy.cut_answer_to(b"cut-here")
            with pytest.raises(redis.ConnectionError):
                lane.commit(turn_for(second, t0 + 1, state=ConversationState(node="cut-here")))
            assert proxy.cuts == 1
            leased = [c for c in "abc" if other.client.hget(other.keys.conversation(key(c)), "lt")]
            assert len(leased) == 1 and key(leased[0]) != second.conversation  # it did claim
            claim = lane.claim(t0 + 2)  # gives it back, claims afresh
            assert claim is not None and claim.conversation == key(leased[0])
            assert claim.attempts == 1  # the claim given back cost no attempt
            assert other.claim("o", t0 + 2, LEASE) is None  # and nothing is left leased idle
        finally:
            other.close()
            drop(worker)


def test_a_lanes_load_right_after_its_claim_needs_no_round_trip(
    rstore: RedisStore, monkeypatch: pytest.MonkeyPatch, t0: float
) -> None:
    run_turn(rstore, "c1", 0, t0)
    assert rstore.enqueue(inbound("c1", 1), t0 + 1, TTL)
    expected = rstore.load(key("c1"))
    lane = rstore.lane("w", LEASE, LEASE)
    claim = lane.claim(t0 + 1)
    assert claim is not None
    trips = round_trips(rstore, monkeypatch)
    assert lane.load(claim) == expected and expected.state.node == "after-m0"
    assert trips[0] == 0


def idle_lane_with_a_reply_sent(rstore: RedisStore, t0: float) -> RedisLane:
    """A lane that did a turn of c1 (nothing else was waiting: nothing claimed ahead) and
    records the reply it was handed on its own, after c2 came in: that trip reads the index."""
    lane = rstore.lane("w", LEASE, LEASE)
    assert rstore.enqueue(inbound("c1", 0), t0, TTL)
    first = lane.claim(t0)
    assert first is not None
    done = lane.commit(turn_for(first, t0))
    assert done.ok and done.handed is not None and done.next_claim is None
    assert rstore.enqueue(inbound("c2", 0), t0, TTL)
    lane.record_sent([(done.handed.id, "p1")])
    assert isinstance(lane, RedisLane)
    return lane


def test_a_lanes_claim_after_recording_what_was_sent_is_one_round_trip(
    rstore: RedisStore, monkeypatch: pytest.MonkeyPatch, t0: float
) -> None:
    """A turn's last trip (its reply recorded sent) also reads which conversations are ready."""
    lane = idle_lane_with_a_reply_sent(rstore, t0)
    scripts_loaded(rstore)
    trips = round_trips(rstore, monkeypatch)
    claim = lane.claim(t0 + 1)
    assert claim is not None and claim.conversation == key("c2")
    assert trips[0] == 1


def test_a_lanes_claim_whose_read_ahead_went_stale_reads_the_index_again(
    redis_url: str, t0: float
) -> None:
    """Another worker took the conversation read ahead: the claim asks the index afresh and
    finds the message that came in since, instead of idling while it waits."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    mine, other = RedisStore(redis_url, prefix=prefix), RedisStore(redis_url, prefix=prefix)
    try:
        lane = idle_lane_with_a_reply_sent(mine, t0)  # read ahead: c2 is ready
        taken = other.claim("w2", t0, LEASE)
        assert taken is not None and taken.conversation == key("c2")
        assert mine.enqueue(inbound("c3", 0), t0 + 1, TTL)
        claim = lane.claim(t0 + 1)
        assert claim is not None and claim.conversation == key("c3")
    finally:
        other.close()
        drop(mine)
