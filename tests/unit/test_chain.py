"""The chain's canonical encoding and hash (registry.audit.chain): a fixed vector an auditor can
check an implementation of their own against, and the properties the docstring promises."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.audit.chain import GENESIS, LoggedEvent, canonical, canonical_json, chain, link

AMS = dt.timezone(dt.timedelta(hours=1))
EVENT = LoggedEvent(
    position=7,
    event_id=uuid.UUID("0A1B2C3D-4E5F-4a6b-8c7d-9e0f1a2b3c4d"),
    stream_id="participant-acme:day:p1",
    stream_version=2,
    type="SeatAssigned",
    schema_version=1,
    # As PostgreSQL's jsonb prints it: its own key order, spaces after ',' and ':'.
    data='{"ticket": 3, "session_id": "a", "participant_id": "p1"}',
    metadata='{"actor": "key-form", "command_id": "c-1"}',
    recorded_at=dt.datetime(2024, 1, 11, 14, 0, 0, 5, tzinfo=AMS),
)
#: The canonical bytes of EVENT, written out by hand from the module's docstring.
EXPECTED = (
    b'{"data":{"participant_id":"p1","session_id":"a","ticket":3},'
    b'"event_id":"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",'
    b'"metadata":{"actor":"key-form","command_id":"c-1"},'
    b'"position":7,"recorded_at":"2024-01-11T13:00:00.000005+00:00","schema_version":1,'
    b'"stream_id":"participant-acme:day:p1","stream_version":2,"type":"SeatAssigned"}'
)
#: SHA-256(32 zero bytes || EXPECTED), as `sha256sum` gives it too.
EXPECTED_HASH = "ef7180f964a03de44ebc42bac39cdc1200f8d74c485ea98b43c94cf752534968"


def test_canonical_encoding_of_a_known_event() -> None:
    assert canonical(EVENT) == EXPECTED


def test_known_hash_vector() -> None:
    assert link(GENESIS, EVENT) == hashlib.sha256(bytes(32) + EXPECTED).digest()
    assert link(GENESIS, EVENT).hex() == EXPECTED_HASH


def test_key_order_and_whitespace_do_not_matter() -> None:
    a = canonical_json('{"b": 1, "a": {"d": [1, 2], "c": null}}')
    b = canonical_json('{"a":{"c":null,"d":[1,2]},"b":1}')
    assert a == b == b'{"a":{"c":null,"d":[1,2]},"b":1}'


def test_numbers_are_kept_as_written() -> None:
    assert canonical_json('{"x": [1.50, 0.00000015, 100, -7, 12345678901234567890123]}') == (
        b'{"x":[1.50,0.00000015,100,-7,12345678901234567890123]}'
    )


def test_strings_escape_only_what_json_must() -> None:
    text = json.dumps({"s": 'a"b\\c/\x00\x1f\x7f\n\t\b\f\r\u2028é😀'})
    assert canonical_json(text) == (
        '{"s":"a\\"b\\\\c/\\u0000\\u001f\x7f\\n\\t\\b\\f\\r\u2028é😀"}'.encode()
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_same_bytes_as_pythons_json_with_sorted_keys(value: dict[str, object]) -> None:
    """What the docstring tells an auditor: Python's json module gives the same bytes (data
    without fractional numbers), however the stored text was laid out."""
    stored = json.dumps(value, indent=1)
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(stored) == expected.encode()


def test_recording_time_is_utc_with_microseconds() -> None:
    moment = EVENT._replace(recorded_at=dt.datetime(2024, 1, 11, 0, 30, tzinfo=AMS))
    assert b'"recorded_at":"2024-01-10T23:30:00.000000+00:00"' in canonical(moment)
    with pytest.raises(ValueError, match="time zone"):
        canonical(EVENT._replace(recorded_at=dt.datetime(2024, 1, 11)))


def test_every_field_is_bound_by_the_hash() -> None:
    changed = [
        EVENT._replace(position=8),
        EVENT._replace(event_id=uuid.uuid4()),
        EVENT._replace(stream_id="participant-acme:day:p2"),
        EVENT._replace(stream_version=3),
        EVENT._replace(type="Waitlisted"),
        EVENT._replace(schema_version=2),
        EVENT._replace(data='{"ticket": 4, "session_id": "a", "participant_id": "p1"}'),
        EVENT._replace(metadata='{"actor": "key-organiser", "command_id": "c-1"}'),
        EVENT._replace(recorded_at=EVENT.recorded_at + dt.timedelta(microseconds=1)),
    ]
    hashes = {link(GENESIS, e) for e in [EVENT, *changed]}
    assert len(hashes) == len(changed) + 1


def test_the_chain_steps_over_gaps_and_links_each_to_the_one_before() -> None:
    events = [EVENT._replace(position=p) for p in (1, 2, 5, 6)]
    links = list(chain(events))
    assert [(x.position, x.prev_position) for x in links] == [(1, 0), (2, 1), (5, 2), (6, 5)]
    assert links[0].hash == link(GENESIS, events[0])
    assert links[2].hash == link(links[1].hash, events[2])
    # Continued from where it stood, it gives the same links.
    assert list(chain(events[2:], links[1].hash, 2)) == links[2:]
    with pytest.raises(ValueError, match="not after"):
        list(chain([EVENT._replace(position=2)], GENESIS, 2))
