"""The outbox: one item per conversation in flight, in order, leases, retries, dead letters."""

from __future__ import annotations

from gateway.store.base import STRANDED, Store
from tests.contract.helpers import LEASE, T0, key, run_turn


def ids(items: list) -> list[str]:
    return [o.id for o in items]


def test_claim_outbox_gives_one_item_per_conversation_in_order(store: Store) -> None:
    run_turn(store, "c1", 0, T0, replies=3)
    run_turn(store, "c2", 0, T0 + 1, replies=1)
    first = store.claim_outbox(T0 + 2, LEASE, 10)
    assert sorted(ids(first)) == ["telegram:c1:c1-0:0", "telegram:c2:c2-0:0"]
    assert all(o.status == "pending" for o in first)
    assert store.claim_outbox(T0 + 2, LEASE, 10) == []  # leased; c1's next waits its turn
    store.outbox_sent("telegram:c1:c1-0:0", "p-1", T0 + 3)
    assert ids(store.claim_outbox(T0 + 3, LEASE, 10)) == ["telegram:c1:c1-0:1"]
    store.outbox_sent("telegram:c1:c1-0:1", "p-2", T0 + 4)
    assert ids(store.claim_outbox(T0 + 4, LEASE, 10)) == ["telegram:c1:c1-0:2"]


def test_claim_outbox_respects_the_limit(store: Store) -> None:
    for n, conv in enumerate(["a", "b", "c", "d"]):
        run_turn(store, conv, 0, T0 + n)
    assert len(store.claim_outbox(T0 + 5, LEASE, 3)) == 3
    assert len(store.claim_outbox(T0 + 5, LEASE, 3)) == 1
    assert store.claim_outbox(T0 + 5, LEASE, 3) == []


def test_an_expired_outbox_lease_makes_the_item_due_again(store: Store) -> None:
    run_turn(store, "c1", 0, T0, replies=2)
    assert ids(store.claim_outbox(T0, 10, 5)) == ["telegram:c1:c1-0:0"]
    assert store.claim_outbox(T0 + 9, 10, 5) == []
    assert ids(store.claim_outbox(T0 + 11, 10, 5)) == ["telegram:c1:c1-0:0"]


def test_an_item_whose_lease_ended_unanswered_is_claimed_as_maybe_sent(store: Store) -> None:
    run_turn(store, "c1", 0, T0, replies=2)
    (first,) = store.claim_outbox(T0, 10, 5)
    assert (first.attempts, first.last_error) == (0, None)
    (again,) = store.claim_outbox(T0 + 11, 10, 5)  # its sender died with it
    assert again.id == first.id
    assert (again.attempts, again.last_error) == (1, STRANDED)
    store.outbox_retry(again.id, T0 + 12, "uncertain:timeout")
    (retried,) = store.claim_outbox(T0 + 12, 10, 5)  # its lease ended with an answer
    assert (retried.attempts, retried.last_error) == (2, "uncertain:timeout")
    store.outbox_sent(retried.id, "p-1", T0 + 13)
    (second,) = store.claim_outbox(T0 + 13, 10, 5)
    assert (second.attempts, second.last_error) == (0, None)


def test_a_deferred_item_is_not_taken_for_maybe_sent(store: Store) -> None:
    run_turn(store, "c1", 0, T0)
    (item,) = store.claim_outbox(T0, 10, 5)
    store.outbox_defer(item.id, T0 + 1)  # paced: its lease given back
    (again,) = store.claim_outbox(T0 + 1, 10, 5)
    assert (again.attempts, again.last_error) == (0, None)


def test_outbox_retry_counts_an_attempt_and_waits_until_next_at(store: Store) -> None:
    run_turn(store, "c1", 0, T0, replies=2)
    (item,) = store.claim_outbox(T0, LEASE, 5)
    store.outbox_retry(item.id, T0 + 60, "429 too many requests")
    assert store.claim_outbox(T0 + 59, LEASE, 5) == []  # and the next item does not overtake
    (again,) = store.claim_outbox(T0 + 60, LEASE, 5)
    assert again.id == item.id
    assert again.attempts == 1
    assert again.last_error == "429 too many requests"
    assert again.next_at == T0 + 60


def test_outbox_defer_waits_without_counting_an_attempt(store: Store) -> None:
    run_turn(store, "c1", 0, T0, replies=2)
    (item,) = store.claim_outbox(T0, LEASE, 5)
    store.outbox_defer(item.id, T0 + 1.5)  # paced: not sent yet, on purpose
    assert store.claim_outbox(T0 + 1.4, LEASE, 5) == []  # and the next item does not overtake
    (again,) = store.claim_outbox(T0 + 1.5, LEASE, 5)
    assert (again.id, again.attempts, again.last_error) == (item.id, 0, None)


def test_sent_item_keeps_its_platform_id(store: Store) -> None:
    run_turn(store, "c1", 0, T0, replies=1)
    (item,) = store.claim_outbox(T0, LEASE, 5)
    store.outbox_sent(item.id, "SM123", T0 + 1)
    (saved,) = store.outbox_items(key("c1"))
    assert saved.status == "sent" and saved.platform_id == "SM123"
    assert store.claim_outbox(T0 + 1000, LEASE, 5) == []


def test_a_dead_item_does_not_block_later_ones_and_is_listed(store: Store) -> None:
    run_turn(store, "c1", 0, T0, replies=2)
    (item,) = store.claim_outbox(T0, LEASE, 5)
    store.outbox_dead(item.id, "400 bad request")
    assert ids(store.claim_outbox(T0, LEASE, 5)) == ["telegram:c1:c1-0:1"]
    (dead,) = store.dead_letters()
    assert dead.id == item.id
    assert dead.status == "dead"
    assert dead.attempts == 1
    assert dead.last_error == "400 bad request"
    assert dead.payload == item.payload and dead.channel == "telegram"
    statuses = [(o.id[-1], o.status) for o in store.outbox_items(key("c1"))]
    assert statuses == [("0", "dead"), ("1", "pending")]


def test_retry_dead_sends_the_item_again_after_the_pending_ones(store: Store) -> None:
    run_turn(store, "c1", 0, T0, replies=2)
    (item,) = store.claim_outbox(T0, LEASE, 5)
    store.outbox_dead(item.id, "400")
    assert store.retry_dead(item.id, T0 + 10)
    assert store.dead_letters() == []
    assert not store.retry_dead(item.id, T0 + 10)  # no longer dead
    assert not store.retry_dead("no-such-item", T0 + 10)
    (nxt,) = store.claim_outbox(T0 + 10, LEASE, 5)
    assert nxt.id == "telegram:c1:c1-0:1"
    store.outbox_sent(nxt.id, "p2", T0 + 11)
    (retried,) = store.claim_outbox(T0 + 11, LEASE, 5)
    assert retried.id == item.id and retried.status == "pending"
    assert retried.attempts == 0  # an operator's retry gets a fresh budget
    store.outbox_sent(retried.id, "p1", T0 + 12)
    assert [o.status for o in store.outbox_items(key("c1"))] == ["sent", "sent"]


def test_dead_letters_are_listed_oldest_first_up_to_the_limit(store: Store) -> None:
    for n, conv in enumerate(["a", "b", "c"]):
        run_turn(store, conv, 0, T0 + n)
    for item in store.claim_outbox(T0 + 5, LEASE, 10):
        store.outbox_dead(item.id, "403")
    assert ids(store.dead_letters()) == [f"telegram:{c}:{c}-0:0" for c in "abc"]
    assert len(store.dead_letters(limit=2)) == 2


def test_delivery_reports_never_downgrade(store: Store) -> None:
    run_turn(store, "c1", 0, T0, replies=1)
    (item,) = store.claim_outbox(T0, LEASE, 5)
    store.outbox_sent(item.id, "SM1", T0)

    def delivery() -> str | None:
        return store.outbox_items(key("c1"))[0].delivery

    assert store.update_delivery("SM1", "sent", None)
    assert delivery() == "sent"
    assert store.update_delivery("SM1", "read", None)
    assert delivery() == "read"
    assert store.update_delivery("SM1", "delivered", None)  # late callback: known, ignored
    assert delivery() == "read"
    assert store.update_delivery("SM1", "failed", "30008")
    assert delivery() == "read"
    assert not store.update_delivery("SM-unknown", "read", None)


def test_a_failure_report_replaces_sent_and_keeps_the_error(store: Store) -> None:
    run_turn(store, "c1", 0, T0, replies=1)
    (item,) = store.claim_outbox(T0, LEASE, 5)
    store.outbox_sent(item.id, "SM2", T0)
    assert store.update_delivery("SM2", "sent", None)
    assert store.update_delivery("SM2", "undelivered", "30003")
    (saved,) = store.outbox_items(key("c1"))
    assert saved.delivery == "undelivered" and saved.last_error == "30003"
    assert store.update_delivery("SM2", "sent", None)
    assert store.outbox_items(key("c1"))[0].delivery == "undelivered"
