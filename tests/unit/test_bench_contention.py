"""bench/contention.py's load: a few people, many commands each, none kept in order."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.contention import busy_people, side_by_side


def test_a_few_people_get_sign_ups_and_cancellations_of_one_session_at_random() -> None:
    plan = busy_people(participants=8, commands=4000, seats=4)
    assert len(plan.steps) == 4000
    assert {s.participant for s in plan.steps} == set(plan.participants)
    assert len(plan.participants) == 8
    assert {s.session for s in plan.steps} == {"a"} and plan.capacities() == {"a": 4}
    assert sum(s.cancel for s in plan.steps) == pytest.approx(2000, rel=0.1)
    per_person = Counter(s.participant for s in plan.steps)
    assert min(per_person.values()) > 400  # every one of them busy
    assert busy_people(8, 4000, 4).steps == plan.steps  # the same load in every checkout


def test_the_requests_go_out_side_by_side_not_in_a_lane_per_person() -> None:
    plan = busy_people(participants=3, commands=30, seats=1)
    requests = side_by_side(plan)
    assert [r.lane for r in requests] == [None] * 30
    assert [(r.method, r.path, r.body) for r in requests] == [
        (r.method, r.path, r.body) for r in plan.sign_ups()
    ]
    assert {r.lane for r in plan.sign_ups()} == {0, 1, 2}  # what side_by_side undoes
