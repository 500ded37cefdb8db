"""State that replicas share: single-use tickets and leases, on both engines, from several
stores (as several processes or replicas would hold them) and threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pdsearch.store import InvalidValueError, Store


def _race(n: int, attempt: Callable[[int], bool]) -> list[bool]:
    """Run ``attempt(i)`` in ``n`` threads released together; their answers in order."""
    results: list[bool] = [False] * n
    gate = threading.Barrier(n)

    def run(i: int) -> None:
        gate.wait()
        results[i] = attempt(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# --- tickets ------------------------------------------------------------------------------


def test_ticket_works_once_and_for_its_purpose_only(store: Store) -> None:
    ticket = store.tickets.issue("authorize:C1")
    assert len(ticket) >= 40
    assert store.tickets.issue("authorize:C1") != ticket
    assert store.tickets.redeem("authorize:C2", ticket) is False  # another connector's link
    assert store.tickets.redeem("authorize:C1", ticket) is True
    assert store.tickets.redeem("authorize:C1", ticket) is False
    for forged in ("", "x", ticket[:-1], ticket + "x"):
        assert store.tickets.redeem("authorize:C1", forged) is False


def test_ticket_redeemed_on_another_store(
    location: str | Path, secret_key: bytes, store: Store
) -> None:
    ticket = store.tickets.issue("authorize:C1")
    with Store(location, secret_key) as other_replica:
        assert other_replica.tickets.redeem("authorize:C1", ticket) is True
    assert store.tickets.redeem("authorize:C1", ticket) is False


def test_ticket_redeemed_by_many_at_once_works_once(
    location: str | Path, secret_key: bytes, store: Store
) -> None:
    with Store(location, secret_key) as second:
        stores = (store, second)
        for _ in range(5):
            ticket = store.tickets.issue("p")

            def redeem(i: int, ticket: str = ticket) -> bool:
                return stores[i % 2].tickets.redeem("p", ticket)

            assert _race(6, redeem).count(True) == 1


def test_ticket_expires_and_is_cleared(store: Store) -> None:
    short = store.tickets.issue("p", ttl_seconds=0.2)
    time.sleep(0.3)
    assert store.tickets.redeem("p", short) is False
    store.tickets.issue("p")  # issuing clears what has expired
    assert store.tickets.count() == 1


def test_ticket_holds_no_secret_at_rest(location: str | Path, store: Store) -> None:
    from store_raw import raw_state

    ticket = store.tickets.issue("authorize:C1")
    raw = raw_state(store, location if isinstance(location, str) else None)
    assert ticket.encode() not in raw
    assert b"authorize:C1" in raw


def test_ticket_bad_input(store: Store) -> None:
    with pytest.raises(InvalidValueError):
        store.tickets.issue("")
    with pytest.raises(InvalidValueError):
        store.tickets.issue("p", ttl_seconds=0)
    assert store.tickets.redeem("", "x") is False


# --- leases -------------------------------------------------------------------------------


def test_lease_one_holder_at_a_time(store: Store) -> None:
    assert store.leases.holder("scheduler") is None
    assert store.leases.acquire("scheduler", "a", 30) is True
    assert store.leases.acquire("scheduler", "b", 30) is False
    assert store.leases.holder("scheduler") == "a"
    assert store.leases.acquire("scheduler", "a", 30) is True  # the holder extends it
    assert store.leases.renew("scheduler", "a", 30) is True
    assert store.leases.renew("scheduler", "b", 30) is False
    assert store.leases.release("scheduler", "b") is False  # not b's to give up
    assert store.leases.holder("scheduler") == "a"
    assert store.leases.release("scheduler", "a") is True
    assert store.leases.holder("scheduler") is None
    assert store.leases.acquire("scheduler", "b", 30) is True  # free again at once
    assert store.leases.acquire("other", "a", 30) is True  # names are independent


def test_expired_lease_passes_to_another(store: Store) -> None:
    assert store.leases.acquire("scheduler", "a", 0.2) is True
    time.sleep(0.3)
    assert store.leases.holder("scheduler") is None
    assert store.leases.renew("scheduler", "a", 30) is False  # too late: a lost it
    assert store.leases.acquire("scheduler", "b", 30) is True
    assert store.leases.holder("scheduler") == "b"
    assert store.leases.renew("scheduler", "a", 30) is False


def test_many_candidates_one_leader(location: str | Path, secret_key: bytes, store: Store) -> None:
    with Store(location, secret_key) as second:
        stores = (store, second)
        for round_ in range(5):
            name = f"leader-{round_}"

            def acquire(i: int, name: str = name) -> bool:
                return stores[i % 2].leases.acquire(name, f"r{i}", 30)

            won = _race(6, acquire)
            assert won.count(True) == 1
            winner = f"r{won.index(True)}"
            assert second.leases.holder(name) == store.leases.holder(name) == winner


def test_lease_bad_input(store: Store) -> None:
    with pytest.raises(InvalidValueError):
        store.leases.acquire("", "a", 10)
    with pytest.raises(InvalidValueError):
        store.leases.acquire("x", "", 10)
    with pytest.raises(InvalidValueError):
        store.leases.acquire("x", "a", 0)
