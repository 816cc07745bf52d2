"""Unit tests of the gateway's subscription bookkeeping (``us_events.subscriptions``): what one
pub/sub connection is told to carry, across joins, leaves, answers and reconnects."""

from __future__ import annotations

from us_common.bus import user_channel
from us_events.subscriptions import Subscriptions

A, B, C = (user_channel(name).encode() for name in "abc")


def sent_all(subs: Subscriptions) -> tuple[list[bytes], list[bytes]]:
    subscribe, unsubscribe = subs.next_batch(1000)
    return sorted(subscribe), sorted(unsubscribe)


def test_a_wanted_channel_is_subscribed_once_and_active_after_its_answer() -> None:
    subs = Subscriptions()
    assert subs.want(A) is False
    assert subs.pending
    assert sent_all(subs) == ([A], [])
    assert not subs.pending and len(subs) == 1
    assert not subs.active(A)
    assert subs.confirm(A) is True
    assert subs.active(A)
    assert subs.want(A) is True  # a second feed of the same channel needs nothing sent


def test_batches_respect_the_limit() -> None:
    subs = Subscriptions()
    channels = [user_channel(str(i)).encode() for i in range(25)]
    for channel in channels:
        subs.want(channel)
    sizes = []
    while subs.pending:
        subscribe, _ = subs.next_batch(10)
        sizes.append(len(subscribe))
    assert sizes == [10, 10, 5] and len(subs) == 25


def test_leaving_unsubscribes_and_coming_back_before_it_went_out_sends_nothing() -> None:
    subs = Subscriptions()
    subs.want(A)
    sent_all(subs)
    subs.confirm(A)
    subs.drop(A)
    assert subs.want(A) is True  # back before the writer ran: still subscribed, still confirmed
    assert sent_all(subs) == ([], [])
    subs.drop(A)
    assert sent_all(subs) == ([], [A])
    assert len(subs) == 0


def test_an_answer_to_an_older_subscribe_does_not_confirm_a_newer_one() -> None:
    subs = Subscriptions()
    subs.want(A)
    sent_all(subs)
    subs.drop(A)
    sent_all(subs)  # UNSUBSCRIBE
    subs.want(A)
    assert sent_all(subs) == ([A], [])  # SUBSCRIBE again: two answers outstanding
    assert subs.confirm(A) is False
    assert subs.ended(A) is False  # the answer to our own UNSUBSCRIBE
    assert subs.confirm(A) is True and subs.active(A)


def test_a_confirmation_for_a_channel_nobody_wants_any_more_does_not_count() -> None:
    subs = Subscriptions()
    subs.want(A)
    sent_all(subs)
    subs.drop(A)
    assert subs.confirm(A) is False


def test_reset_resends_every_wanted_channel_and_forgets_dropped_ones() -> None:
    subs = Subscriptions()
    for channel in (A, B, C):
        subs.want(channel)
    sent_all(subs)
    for channel in (A, B, C):
        subs.confirm(channel)
    subs.drop(C)
    subs.reset()  # a new connection
    assert len(subs) == 0 and not subs.active(A)
    assert sent_all(subs) == ([A, B], [])
    assert subs.wanted == frozenset({A, B})


def test_an_unsolicited_end_is_a_lost_subscription_that_stays_wanted() -> None:
    subs = Subscriptions()
    subs.want(A)
    sent_all(subs)
    subs.confirm(A)
    assert subs.ended(A) is True  # the slot moved away: Redis ended it by itself
    assert not subs.active(A) and A in subs.wanted and len(subs) == 0
    assert subs.ended(A) is False  # once
    assert subs.ended(B) is False  # never sent
