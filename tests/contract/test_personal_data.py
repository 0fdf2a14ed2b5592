"""The personal-data part of the event store contract (registry.eventstore.personal): details are
written with their append or not at all, every adapter alike."""

from __future__ import annotations

import pytest

from registry.eventstore import (
    NO_STREAM,
    DetailsErased,
    EventStore,
    GateFence,
    InvalidAppend,
    ParticipantDetails,
    StaleGateDecision,
    StreamAppend,
    WrongExpectedVersion,
)
from tests.support.events import Noted, Opened

ANN = ParticipantDetails(
    organisation="acme",
    event_id="day",
    participant_id="ann",
    name="Ann Example",
    email="ann@example.org",
    organisation_name="City",
)
BOB = ParticipantDetails(
    organisation="acme", event_id="day", participant_id="bob", name="Bob", email="b@example.org"
)
ANN_ERASED = DetailsErased(organisation="acme", event_id="day", participant_id="ann")


def opened(who: str = "ann") -> list[StreamAppend]:
    return [StreamAppend(f"participant-acme:day:{who}", NO_STREAM, [Opened(owner=who)])]


async def details(store: EventStore, who: str = "ann") -> ParticipantDetails | DetailsErased | None:
    return await store.personal.details("acme", "day", who)


async def test_details_are_written_with_their_append(store: EventStore) -> None:
    assert await details(store) is None
    result = await store.append(opened(), personal=[ANN])
    assert result.positions == (1,)
    assert await details(store) == ANN
    assert await store.personal.details("acme", "other-day", "ann") is None
    assert await store.personal.details("other", "day", "ann") is None


async def test_an_append_that_fails_writes_no_details(store: EventStore) -> None:
    await store.append(opened())
    with pytest.raises(WrongExpectedVersion):
        await store.append(opened(), personal=[ANN])
    with pytest.raises(StaleGateDecision):
        await store.append(opened("bob"), fence=GateFence("acme:day", 7), personal=[ANN_ERASED])
    assert await details(store) is None
    assert len(await store.read_all()) == 1


async def test_a_replayed_command_writes_no_details_twice(store: EventStore) -> None:
    first = await store.append(opened(), command_id="register-ann", personal=[ANN])
    await store.append(
        [StreamAppend("participant-acme:day:ann", 1, [Noted(text="erased")])],
        personal=[ANN_ERASED],
    )
    # The registration sent again (a retry with its Idempotency-Key) must not bring back what
    # was erased meanwhile.
    again = await store.append(opened(), command_id="register-ann", personal=[ANN])
    assert again.replayed and again.position == first.position
    assert await details(store) == ANN_ERASED
    assert len(await store.read_all()) == 2


async def test_details_of_someone_who_has_some_refuse_the_whole_append(store: EventStore) -> None:
    await store.append(opened(), personal=[ANN])
    renamed = ParticipantDetails(
        organisation="acme", event_id="day", participant_id="ann", name="X", email="x@example.org"
    )
    with pytest.raises(InvalidAppend):
        await store.append(opened("ann-again"), personal=[renamed])
    with pytest.raises(InvalidAppend):  # twice in one append
        await store.append(opened("bob"), personal=[BOB, BOB])
    assert await details(store) == ANN
    assert await details(store, "bob") is None
    assert [e.stream_id for e in await store.read_all()] == ["participant-acme:day:ann"]


async def test_erasure_leaves_a_tombstone_even_where_nothing_was_kept(store: EventStore) -> None:
    await store.append(opened(), personal=[ANN])
    await store.append(
        [StreamAppend("participant-acme:day:ann", 1, [Noted(text="erased")])],
        personal=[ANN_ERASED],
    )
    assert await details(store) == ANN_ERASED
    # Registered before details were kept apart: erasing still records that it was done.
    legacy = DetailsErased(organisation="acme", event_id="day", participant_id="old")
    await store.append([StreamAppend("participant-acme:day:old", 0, [])], personal=[legacy])
    assert await details(store, "old") == legacy
    # Erased twice: still erased, and new details cannot take its place.
    await store.append([StreamAppend("participant-acme:day:ann", 2, [])], personal=[ANN_ERASED])
    assert await details(store) == ANN_ERASED
    with pytest.raises(InvalidAppend):
        await store.append(opened("ann2"), personal=[ANN])


async def test_inside_the_gate_fence_a_refused_append_writes_no_details(
    store: EventStore,
) -> None:
    """PostgreSQL: each append inside the fence is a savepoint of the fence's transaction."""
    await store.append(opened("bob"))
    async with store.gate_fence("acme:day"):
        with pytest.raises(WrongExpectedVersion):
            await store.append(opened("bob"), personal=[BOB])
        await store.append(opened(), personal=[ANN])
    assert await details(store) == ANN
    assert await details(store, "bob") is None


async def test_the_email_key_is_made_once_per_organisation(store: EventStore) -> None:
    key = await store.personal.email_key("acme")
    assert len(key) >= 32
    assert await store.personal.email_key("acme") == key
    assert await store.personal.email_key("other") != key
