"""A turn worker's lane (`Store.lane`): its commit records the replies sent before it, hands
it its conversation's head reply to send and claims its next message, all in the same write.

The lane's leases run from the commit on, by the clock, so these tests run on the clock too
(`t0`), not on the fixed past time of the other contract tests."""

from __future__ import annotations

import time

import pytest

from gateway.store.base import STRANDED, Claim, Committed, Lane, Store
from tests.contract.helpers import LEASE, TTL, inbound, key, run_turn, turn_for

SEND_LEASE = 10.0  # a lane's send lease, unlike its claim lease (LEASE)


@pytest.fixture
def t0() -> float:
    return time.time()


def ids(items: list) -> list[str]:
    return [o.id for o in items]


def lane_of(store: Store, worker: str = "w", send_lease_s: float = LEASE) -> Lane:
    return store.lane(worker, LEASE, send_lease_s)


def started(store: Store, lane: Lane, convs: str, t0: float) -> tuple[Claim, Committed]:
    """Messages waiting in `convs` (the first conversation the oldest); the lane claimed the
    oldest (that trip read which conversations are ready: on Redis the commit claims ahead
    only among those) and committed it. Returns that claim and what its commit did."""
    for n, conv in enumerate(convs):
        assert store.enqueue(inbound(conv, 0), t0 - len(convs) + n, TTL)
    first = lane.claim(t0)
    assert first is not None and first.conversation == key(convs[0])
    done = lane.commit(turn_for(first, t0))
    assert done.ok
    return first, done


def busy(store: Store, lane: Lane, convs: str, t0: float) -> tuple[Committed, Claim]:
    """The state of a busy lane: it has done one turn, whose commit claimed the next message
    ahead, and taken that one (at least two conversations waiting). Returns the first turn's
    commit and the claim the lane holds now."""
    _first, done = started(store, lane, convs, t0)
    assert done.next_claim is not None
    second = lane.claim(t0)
    assert second == done.next_claim
    return done, second


# ---- claiming ahead ----


def test_a_commit_claims_another_conversations_message_for_its_lane_alone(
    store: Store, t0: float
) -> None:
    lane = lane_of(store)
    _first, done = started(store, lane, "ab", t0)
    ahead = done.next_claim
    assert ahead is not None and ahead.conversation == key("b")
    assert (ahead.inbound.message_id, ahead.attempts) == ("b-0", 1)
    assert store.claim("o", t0 + 1, LEASE) is None  # leased to the lane
    assert lane_of(store, "o").claim(t0 + 1) is None
    assert lane.claim(t0 + 1) == ahead  # the next claim returns it
    assert lane.load(ahead).key == key("b")
    assert lane.commit(turn_for(ahead, t0 + 1)).ok
    assert lane.claim(t0 + 1) is None  # nothing else was waiting
    assert [o.status for o in store.outbox_items(key("b"))] == ["pending"]  # its turn written


def test_a_busy_lane_claims_ahead_turn_after_turn(store: Store, t0: float) -> None:
    lane = lane_of(store)
    _done, second = busy(store, lane, "abc", t0)
    done = lane.commit(turn_for(second, t0 + 1))
    assert done.ok and done.next_claim is not None
    third = lane.claim(t0 + 1)
    assert third == done.next_claim
    assert {second.conversation, third.conversation} == {key("b"), key("c")}
    last = lane.commit(turn_for(third, t0 + 2))
    assert last.ok and last.next_claim is None  # nothing left to claim
    assert lane.claim(t0 + 2) is None
    assert all(store.outbox_items(key(conv)) for conv in "abc")


def test_a_read_ahead_claim_whose_lease_ran_down_is_claimed_afresh(store: Store, t0: float) -> None:
    """The replies of the turn before took long (a slow platform): past half its lease the
    claim is given back and taken again with a full lease; the delay costs no attempt."""
    lane = lane_of(store)
    _first, done = started(store, lane, "ab", t0)
    ahead = done.next_claim
    assert ahead is not None
    late = time.time() + LEASE * 0.6  # the read-ahead lease runs from the commit, by the clock
    claim = lane.claim(late)
    assert claim is not None and claim.inbound.message_id == ahead.inbound.message_id
    assert claim.token != ahead.token  # claimed afresh
    assert (claim.lease_until, claim.attempts) == (late + LEASE, 1)
    assert lane.commit(turn_for(claim, late)).ok


def test_closing_a_lane_gives_its_read_ahead_claim_back_at_once(store: Store, t0: float) -> None:
    """A stopping worker leaves nothing leased to nobody and costs the message no attempt."""
    lane = lane_of(store)
    _first, done = started(store, lane, "ab", t0)
    assert done.next_claim is not None
    lane.close()
    claim = store.claim("o", t0 + 1, LEASE)  # not after the lease: now
    assert claim is not None and claim.inbound.message_id == "b-0"
    assert claim.attempts == 1


def test_a_read_ahead_claim_is_leased_from_the_commit_not_from_the_turns_start(
    store: Store, t0: float
) -> None:
    """A long turn (a slow `call` node) must not eat into its next message's lease."""
    lane = lane_of(store)
    for n, conv in enumerate("ab"):
        assert store.enqueue(inbound(conv, 0), t0 - 22 + n, TTL)
    first = lane.claim(t0 - 20)  # the turn began 20 s ago
    assert first is not None
    before = time.time()
    done = lane.commit(turn_for(first, t0 - 20))
    ahead = done.next_claim
    assert done.ok and ahead is not None and ahead.lease_until >= before + LEASE
    assert lane.claim(time.time()) == ahead  # the read-ahead claim itself, not one afresh


def test_a_conversation_another_worker_took_is_not_claimed_twice(store: Store, t0: float) -> None:
    """What the lane saw ready is only a hint: the conversation itself refuses a leased one,
    and the lane's next claim looks afresh."""
    lane = lane_of(store)
    for n, conv in enumerate("ab"):
        assert store.enqueue(inbound(conv, 0), t0 - 2 + n, TTL)
    first = lane.claim(t0)
    assert first is not None and first.conversation == key("a")
    taken = store.claim("o", t0, LEASE)  # the one the lane's commit would claim ahead
    assert taken is not None and taken.conversation == key("b")
    done = lane.commit(turn_for(first, t0 + 1))
    assert done.ok and done.next_claim is None
    assert lane.claim(t0 + 1) is None  # nothing else is waiting
    assert store.enqueue(inbound("d", 0), t0 + 1, TTL)
    claim = lane.claim(t0 + 2)
    assert claim is not None and claim.conversation == key("d")


def test_the_committed_conversations_next_message_is_not_claimed_ahead(
    store: Store, t0: float
) -> None:
    """Its message becomes claimable by the commit itself, in order, for any worker."""
    lane = lane_of(store)
    for n in range(2):
        assert store.enqueue(inbound("a", n), t0 - 2 + n, TTL)
    first = lane.claim(t0)
    assert first is not None and first.inbound.message_id == "a-0"
    done = lane.commit(turn_for(first, t0))
    assert done.ok and done.next_claim is None
    claim = store.claim("o", t0, LEASE)
    assert claim is not None and claim.inbound.message_id == "a-1"


def test_a_commit_claims_ahead_another_conversation_over_its_own_older_message(
    store: Store, t0: float
) -> None:
    lane = lane_of(store)
    assert store.enqueue(inbound("a", 0), t0 - 3, TTL)
    assert store.enqueue(inbound("a", 1), t0 - 2, TTL)  # older than b's
    assert store.enqueue(inbound("b", 0), t0 - 1, TTL)
    first = lane.claim(t0)
    assert first is not None and first.inbound.message_id == "a-0"
    done = lane.commit(turn_for(first, t0))
    assert done.ok and done.next_claim is not None
    assert done.next_claim.inbound.message_id == "b-0"
    claim = store.claim("o", t0, LEASE)  # a's next, in order, for any worker
    assert claim is not None and claim.inbound.message_id == "a-1"


def test_a_commit_that_lost_its_lease_keeps_what_it_claimed_ahead(store: Store, t0: float) -> None:
    """The commit is refused, the claim in the same write is not: it holds a lease."""
    lane = lane_of(store)
    for n, conv in enumerate("ab"):
        assert store.enqueue(inbound(conv, 0), t0 - 2 + n, TTL)
    first = lane.claim(t0)
    assert first is not None and first.conversation == key("a")
    held = store.claim("o", t0, 1000.0)  # b, for a while
    assert held is not None and held.conversation == key("b")
    taken = store.claim("o", first.lease_until + 1, LEASE)  # a's lease ran out: taken over
    assert taken is not None and taken.conversation == key("a")
    store.release(held, t0, "given back")  # b is claimable again
    done = lane.commit(turn_for(first, t0 + 1))
    assert not done.ok
    assert store.outbox_items(key("a")) == []  # nothing of the turn written
    ahead = done.next_claim
    assert ahead is not None and ahead.conversation == key("b")
    assert store.claim("o", t0 + 1, LEASE) is None  # leased to the lane
    assert lane.claim(t0 + 1) == ahead


def test_each_lane_has_its_own_read_ahead(store: Store, t0: float) -> None:
    lane, another = lane_of(store), lane_of(store, "w2")
    _first, done = started(store, lane, "ab", t0)
    assert done.next_claim is not None
    assert another.claim(t0 + 1) is None  # nothing for it: b is the first lane's
    assert lane.claim(t0 + 1) == done.next_claim


# ---- handing the reply over, recording what was sent ----


def test_a_commit_hands_its_due_head_reply_to_the_lane(store: Store, t0: float) -> None:
    lane = lane_of(store)
    assert store.enqueue(inbound("c1", 0), t0, TTL)
    claim = lane.claim(t0)
    assert claim is not None
    done = lane.commit(turn_for(claim, t0, replies=2))
    item = done.handed
    assert done.ok and item is not None
    assert (item.id, item.conversation, item.status, item.seq) == (
        "telegram:c1:c1-0:0",
        key("c1"),
        "pending",
        1,
    )
    assert item.payload == {"text": "reply 0 to m0"} and item.channel == "telegram"
    assert store.claim_outbox(time.time(), LEASE, 5) == []  # leased to the lane; the next waits
    store.outbox_sent(item.id, "p-1", time.time())
    assert ids(store.claim_outbox(time.time(), LEASE, 5)) == ["telegram:c1:c1-0:1"]


def test_a_turn_without_replies_hands_nothing_over(store: Store, t0: float) -> None:
    lane = lane_of(store)
    assert store.enqueue(inbound("c1", 0), t0, TTL)
    claim = lane.claim(t0)
    assert claim is not None
    done = lane.commit(turn_for(claim, t0, replies=0))
    assert done.ok and done.handed is None


def test_a_handed_reply_nobody_sends_comes_due_as_maybe_sent_when_its_send_lease_ends(
    store: Store, t0: float
) -> None:
    """Its sender died with it (as after a crash). The send lease runs from the commit, not
    from the turn's start."""
    lane = lane_of(store, send_lease_s=SEND_LEASE)
    assert store.enqueue(inbound("c1", 0), t0 - 20, TTL)
    claim = lane.claim(t0 - 20)  # the turn began 20 s ago
    assert claim is not None
    before = time.time()
    handed = lane.commit(turn_for(claim, t0 - 20)).handed
    after = time.time()
    assert handed is not None
    assert store.claim_outbox(before + SEND_LEASE - 0.05, LEASE, 5) == []
    (item,) = store.claim_outbox(after + SEND_LEASE + 0.05, LEASE, 5)
    assert (item.id, item.attempts, item.last_error) == (handed.id, 1, STRANDED)


def test_a_head_reply_another_sender_holds_is_not_handed_over(store: Store, t0: float) -> None:
    run_turn(store, "c1", 0, t0)
    (first,) = store.claim_outbox(time.time(), LEASE, 5)  # another sender holds it
    lane = lane_of(store)
    assert store.enqueue(inbound("c1", 1), t0 + 1, TTL)
    claim = lane.claim(t0 + 1)
    assert claim is not None
    done = lane.commit(turn_for(claim, t0 + 1))
    assert done.ok and done.handed is None
    assert store.claim_outbox(time.time(), LEASE, 5) == []  # c1-1's reply waits its turn
    store.outbox_sent(first.id, "p-1", time.time())
    assert ids(store.claim_outbox(time.time(), LEASE, 5)) == ["telegram:c1:c1-1:0"]


def test_a_commit_outside_a_lane_hands_nothing_over(store: Store, t0: float) -> None:
    lane_of(store)  # a lane open on the same store changes nothing for the store's own commit
    run_turn(store, "c1", 0, t0)
    assert ids(store.claim_outbox(time.time(), LEASE, 5)) == ["telegram:c1:c1-0:0"]


def handed(store: Store, lane: Lane, conv: str, n: int, now: float, replies: int = 1) -> str:
    """A turn of `conv` taken and committed by `lane`; returns the reply it was handed."""
    assert store.enqueue(inbound(conv, n), now, TTL)
    claim = lane.claim(now)
    assert claim is not None and claim.inbound.message_id == f"{conv}-{n}"
    done = lane.commit(turn_for(claim, now, replies=replies))
    assert done.ok and done.handed is not None
    return done.handed.id


def test_a_commit_records_the_replies_sent_before_it_in_the_same_write(
    store: Store, t0: float
) -> None:
    lane = lane_of(store)
    first = handed(store, lane, "c1", 0, t0, replies=2)
    assert store.enqueue(inbound("c2"), t0 + 1, TTL)
    claim = lane.claim(t0 + 1)
    assert claim is not None and claim.conversation == key("c2")
    done = lane.commit(turn_for(claim, t0 + 1), sent=[(first, "p-1")])
    assert done.ok and done.handed is not None and done.handed.id == "telegram:c2:c2-0:0"
    (sent, waiting) = store.outbox_items(key("c1"))
    assert (sent.id, sent.status, sent.platform_id) == (first, "sent", "p-1")
    assert waiting.status == "pending"
    assert store.update_delivery("p-1", "delivered", None)  # found by its platform id
    # c1's next reply is due now, for any sender (c2's own reply was handed to the lane)
    assert ids(store.claim_outbox(time.time(), LEASE, 5)) == [waiting.id]


def test_a_commit_of_the_same_conversation_records_first_then_hands_over(
    store: Store, t0: float
) -> None:
    lane = lane_of(store)
    first = handed(store, lane, "c1", 0, t0)
    assert store.enqueue(inbound("c1", 1), t0 + 1, TTL)
    claim = lane.claim(t0 + 1)
    assert claim is not None and claim.inbound.message_id == "c1-1"
    done = lane.commit(turn_for(claim, t0 + 1), sent=[(first, None)])
    assert done.ok and done.handed is not None and done.handed.id == "telegram:c1:c1-1:0"
    assert [o.status for o in store.outbox_items(key("c1"))] == ["sent", "pending"]
    assert store.claim_outbox(time.time(), LEASE, 5) == []  # handed to the lane


def test_a_commit_that_lost_its_lease_still_records_what_was_sent(store: Store, t0: float) -> None:
    lane = lane_of(store)
    first = handed(store, lane, "c1", 0, t0)
    assert store.enqueue(inbound("c2"), t0 + 1, TTL)
    stale = lane.claim(t0 + 1)
    assert stale is not None and stale.conversation == key("c2")
    assert store.claim("w2", t0 + 2 + LEASE, LEASE) is not None  # its lease ran out: taken
    done = lane.commit(turn_for(stale, t0 + 3 + LEASE), sent=[(first, "p-1")])
    assert not done.ok and done.handed is None
    (sent,) = store.outbox_items(key("c1"))
    assert (sent.status, sent.platform_id) == ("sent", "p-1")
    assert store.outbox_items(key("c2")) == []  # and nothing of the turn


def test_a_lane_records_sent_replies_on_their_own(store: Store, t0: float) -> None:
    """When no commit follows soon to carry them (an idle worker)."""
    lane = lane_of(store)
    first = handed(store, lane, "c1", 0, t0, replies=2)
    lane.record_sent([(first, "p-1")])
    (sent, waiting) = store.outbox_items(key("c1"))
    assert (sent.status, sent.platform_id, waiting.status) == ("sent", "p-1", "pending")
    assert store.update_delivery("p-1", "delivered", None)
    assert ids(store.claim_outbox(time.time(), LEASE, 5)) == [waiting.id]
