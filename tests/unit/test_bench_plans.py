"""The broad crowd's mixed-in changes (bench/signup_plans.py) and the check of the answers
against the log (bench/signup_checks.py): what the harness's figures rest on."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from bench.signup_checks import _mismatch
from bench.signup_plans import CHANGE_GAP, broad_crowd


def test_changes_come_long_after_what_they_change_and_stay_in_their_round() -> None:
    plan = broad_crowd(3000, sessions=40, switches=0.1, cancels=0.05)
    first: dict[tuple[str, str], int] = {}  # (participant, round) -> index of the sign-up
    chosen: dict[tuple[str, str], str] = {}
    for i, step in enumerate(plan.steps):
        round_ = step.session.split("-")[0]
        key = (step.participant, round_)
        if step.replaces is None and not step.cancel:
            assert key not in first  # one sign-up per participant and round
            first[key], chosen[key] = i, step.session
            continue
        assert key in first, "a change before its sign-up"
        assert i - first[key] >= CHANGE_GAP
        if step.cancel:
            assert step.session == chosen[key]
        else:
            assert step.replaces == chosen[key] != step.session
            assert step.replaces.split("-")[0] == round_
    assert len(first) == 3000 * 4
    # Each sign-up is changed at most once, and the shares are about those asked for (of the
    # sign-ups that have CHANGE_GAP requests after them).
    changed = Counter((s.participant, s.session.split("-")[0]) for s in plan.steps)
    assert max(changed.values()) <= 2
    eligible = len(first) - CHANGE_GAP
    assert plan.switches == pytest.approx(0.1 * eligible, rel=0.15)
    assert plan.cancellations == pytest.approx(0.05 * eligible, rel=0.15)


def test_the_sign_ups_are_the_same_with_or_without_changes() -> None:
    mixed = broad_crowd(2500, sessions=12)
    plain = broad_crowd(2500, sessions=12, switches=0, cancels=0)
    assert plain.switches == plain.cancellations == 0
    assert mixed.switches and mixed.cancellations
    assert mixed.pairs == plain.pairs


def test_changes_are_sent_as_the_api_has_them() -> None:
    plan = broad_crowd(2500, sessions=12)
    requests = {r.method: r for r in plan.sign_ups(keyed=True)}
    switch = next(s for s in plan.steps if s.replaces)
    cancel = next(s for s in plan.steps if s.cancel)
    sent = plan.sign_ups(keyed=True)
    at_switch, at_cancel = sent[plan.steps.index(switch)], sent[plan.steps.index(cancel)]
    assert json.loads(at_switch.body) == {"session_id": switch.session, "replaces": switch.replaces}
    assert at_switch.path.endswith(f"/participants/{switch.participant}/signups")
    assert (at_cancel.method, at_cancel.body) == ("DELETE", "")
    assert at_cancel.path.endswith(f"/participants/{cancel.participant}/signups/{cancel.session}")
    keys = [r.key for r in sent]
    assert len(set(keys)) == len(keys)  # a retry of one command never replays another's answer
    assert set(requests) == {"POST", "DELETE"}


STREAMS = "participant-bench:broad:"


def command(answer: dict[str, Any], *events: tuple[str, str, str]) -> list[dict[str, Any]]:
    """The rows COMMANDS_AT gives for one command: (type, session, participant) per event."""
    stored = json.dumps({"status": 201, "body": answer})
    return [
        {
            "answer": stored,
            "stream_id": f"{STREAMS}{p}",
            "type": kind,
            "session_id": s,
            "participant_id": p,
        }
        for kind, s, p in events
    ]


def test_a_switch_is_checked_by_its_seat_not_by_its_last_event() -> None:
    body = {"session_id": "r1-s02", "status": "seated", "waitlist_position": None}
    events = command(body, ("SeatAssigned", "r1-s02", "ann"), ("SeatReleased", "r1-s01", "ann"))
    assert _mismatch({**body, "position": 9}, events, STREAMS) == ""
    waitlisted = {**body, "status": "waitlisted"}
    assert "without its Waitlisted" in _mismatch(
        {**waitlisted, "position": 9},
        command(waitlisted, *[("SeatAssigned", "r1-s02", "ann")]),
        STREAMS,
    )
    assert _mismatch({**body, "session_id": "r1-s03", "position": 9}, events, STREAMS) != ""


def test_a_cancellation_must_release_and_promote_exactly_whom_it_says() -> None:
    body = {"promoted": ["bob"]}
    events = command(
        body, ("SeatReleased", "r1-s01", "ann"), ("PromotedFromWaitlist", "r1-s01", "bob")
    )
    assert _mismatch({**body, "position": 5}, events, STREAMS) == ""
    assert "promotions" in _mismatch(
        {"promoted": ["bob"], "position": 5},
        command(body, ("SeatReleased", "r1-s01", "ann")),
        STREAMS,
    )
    assert "without a release" in _mismatch(
        {**body, "position": 5}, command(body, ("PromotedFromWaitlist", "r1-s01", "bob")), STREAMS
    )


def test_an_answer_that_is_not_its_commands_is_found() -> None:
    body = {"session_id": "r1-s02", "status": "seated"}
    assert _mismatch({**body, "position": 3}, [], STREAMS) == "no command at the position"
    other = command({**body, "session_id": "r1-s09"}, ("SeatAssigned", "r1-s02", "ann"))
    assert _mismatch({**body, "position": 3}, other, STREAMS) == "the command stored another answer"
    elsewhere = command(body, ("SeatAssigned", "r1-s02", "ann"))
    assert "another event's" in _mismatch({**body, "position": 3}, elsewhere, "participant-x:")
    unanswered = [{**row, "answer": None} for row in elsewhere]
    assert _mismatch({**body, "position": 3}, unanswered, STREAMS) == "the command stored no answer"


def test_a_participants_commands_share_one_lane() -> None:
    """So that wrk sends them in order on one thread (walk.lua): a change never overtakes."""
    plan = broad_crowd(2500, sessions=12)
    lanes: dict[str, set[int | None]] = {}
    for step, request in zip(plan.steps, plan.sign_ups(), strict=True):
        lanes.setdefault(step.participant, set()).add(request.lane)
    assert all(len(found) == 1 and None not in found for found in lanes.values())
    assert len({next(iter(found)) for found in lanes.values()}) == 2500
