"""The demo: the Almelo sample loaded through the public API, a scripted sign-up round through the
whole programme that keeps every capacity rule, and `registry demo` as a new user runs it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from registry.auth.keys import KEY_PATTERN
from registry.demo import (
    agendas,
    capacities,
    load_demo,
    occupancy,
    read_example,
    sign_up_round,
    time_slots,
)
from tests.e2e.test_default_start import new_user_environment
from tests.support.api import Api
from tests.support.processes import processes_under

#: The most seats each session ever had at once, replayed from the log in order.
PEAK_SEATS = """
WITH changes AS (
    SELECT position, data->>'session_id' AS session_id,
           CASE WHEN type = 'SeatReleased' THEN -1 ELSE 1 END AS delta
    FROM events WHERE type IN ('SeatAssigned', 'PromotedFromWaitlist', 'SeatReleased')
), running AS (
    SELECT session_id, sum(delta) OVER (PARTITION BY session_id ORDER BY position) AS seated
    FROM changes
)
SELECT coalesce(jsonb_object_agg(session_id, peak), '{}')::text
FROM (SELECT session_id, max(seated) AS peak FROM running GROUP BY session_id) AS peaks
"""
PARTICIPANTS = 120  # more than both buses hold: their waitlists fill too


@pytest.mark.slow
async def test_the_almelo_demo_and_a_sign_up_round_keep_every_rule(api: Api) -> None:
    example = read_example()
    organiser, form = api.keys["acme:organiser"], api.keys["acme:form"]

    loaded = await load_demo(api.client, organiser, form, participants=PARTICIPANTS)
    assert not loaded.already_loaded
    assert (loaded.rooms, loaded.sessions) == (11, 16)
    assert len(set(loaded.participant_ids)) == PARTICIPANTS

    played = await sign_up_round(api.client, form, loaded.participant_ids)
    assert played.unexpected() == []
    assert {a.status for a in played.attempts} <= {200, 201, 409}
    # The round reaches every corner it is meant to: queues, both kinds of switch, refusals,
    # and cancellations that promote.
    assert played.count("sign-up", "waitlisted") > 0
    assert played.count("switch", "seated") > 0
    assert played.count("switch", "waitlisted") > 0
    assert played.count("double-booking", "time-conflict") > 0
    assert played.count("cancel") > 0
    assert played.left
    assert played.promoted() > 0

    # No session ever held more seats than it has, at any point of the log.
    seats = capacities(example)
    peaks = json.loads(await api.log(PEAK_SEATS))
    assert peaks, "no seats in the log"
    over = {s: (peak, seats[s]) for s, peak in peaks.items() if peak > (seats[s] or peak)}
    assert over == {}

    # Each participant ends with at most one seat per time slot; the agendas agree with the log.
    staying = [p for p in loaded.participant_ids if p not in played.left]
    read = await agendas(api.client, form, loaded.event_id, staying, after=played.position)
    slot_of = {s: i for i, slot in enumerate(time_slots(example)) for s in slot}
    for pid, agenda in read.items():
        per_slot = Counter(slot_of[seat["session_id"]] for seat in agenda["seats"])
        assert max(per_slot.values(), default=0) <= 1, (pid, agenda)
    for count in occupancy(example, read):
        assert count.capacity is not None
        assert count.seated <= count.capacity
        if count.waitlisted:  # nobody waits while a seat is free
            assert count.seated == count.capacity, count
        in_log = await api.log(
            "SELECT coalesce(sum(CASE WHEN type = 'SeatReleased' THEN -1 ELSE 1 END), 0)"
            " FROM events WHERE data->>'session_id' = $1"
            " AND type IN ('SeatAssigned', 'PromotedFromWaitlist', 'SeatReleased')",
            count.session_id,
        )
        assert in_log == count.seated, count
    for pid in played.left:  # a cancelled registration holds nothing (or is gone)
        answer = await api.client.get(
            f"/v1/events/{loaded.event_id}/participants/{pid}", headers=api.as_("form")
        )
        assert answer.status_code in (200, 404), answer.text
        if answer.status_code == 200:
            assert (answer.json()["seats"], answer.json()["waitlist"]) == ([], [])

    # Loading again writes nothing.
    head = await api.head()
    again = await load_demo(api.client, organiser, form, participants=PARTICIPANTS)
    assert again.already_loaded
    assert await api.head() == head


@pytest.mark.slow
def test_registry_demo_on_embedded_servers(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "registry.cli", "demo", "--participants", "40"]
    runs = [
        subprocess.run(
            command,
            cwd=tmp_path,
            env=new_user_environment(),
            capture_output=True,
            text=True,
            timeout=240,
        )
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr
        keys = re.findall(
            rf"^  (organiser|form|auditor): ({KEY_PATTERN.pattern})$", run.stdout, re.M
        )
        assert [role for role, _ in keys] == ["organiser", "form", "auditor"], run.stdout
        assert re.search(r"^  curl -s .*/v1/events/almelo-2024", run.stdout, re.M), run.stdout
    first, second = runs
    assert "loaded almelo-2024: 11 rooms, 16 sessions" in first.stdout
    assert "waitlisted" in first.stdout
    assert "almelo-2024 is already loaded" in second.stdout
    assert processes_under(tmp_path / ".registry") == [], second.stderr
