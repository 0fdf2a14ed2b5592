"""bench/read_your_writes.py's client: the three requests in turn, with the right keys, and a
read `?after=` that answers from before its sign-up counted, not hidden."""

from __future__ import annotations

import json
import time

import httpx

from bench.read_your_writes import _client, _pct

KEYS = {"form": "rk_form", "organiser": "rk_org"}


def test_percentiles_are_nearest_rank() -> None:
    assert _pct([3.0, 1.0, 2.0], 0.5) == 2.0
    assert _pct([float(n) for n in range(1, 101)], 0.99) == 100.0
    assert _pct([5.0], 0.95) == 5.0


async def test_each_sign_up_is_followed_by_the_read_after_its_position_then_the_plain_one() -> None:
    seen: list[tuple[str, str, str, str]] = []
    bodies: list[object] = []
    answered = iter([7, 7, 7, 9, 8, 9])  # the second read ?after=9 answers from position 8

    def answer(request: httpx.Request) -> httpx.Response:
        query = request.url.query.decode()
        seen.append((request.method, request.url.path, query, request.headers["authorization"]))
        if request.method == "POST":
            bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"position": next(answered)})

    timings: dict[str, list[float]] = {"sign-up": [], "read ?after=": [], "read, no ?after=": []}
    behind: list[tuple[int, int]] = []
    pairs = [("p1", "s1"), ("p2", "s2")]
    await _client(
        "http://test",
        KEYS,
        "ryw",
        pairs,
        timings,
        behind,
        time.perf_counter() + 60,
        httpx.MockTransport(answer),
    )
    base = "/v1/events/ryw"
    assert seen == [
        ("POST", f"{base}/participants/p1/signups", "", "Bearer rk_form"),
        ("GET", f"{base}/occupancy", "after=7", "Bearer rk_org"),
        ("GET", f"{base}/occupancy", "", "Bearer rk_org"),
        ("POST", f"{base}/participants/p2/signups", "", "Bearer rk_form"),
        ("GET", f"{base}/occupancy", "after=9", "Bearer rk_org"),
        ("GET", f"{base}/occupancy", "", "Bearer rk_org"),
    ]
    assert bodies == [{"session_id": "s1"}, {"session_id": "s2"}]
    assert [len(ms) for ms in timings.values()] == [2, 2, 2]
    assert behind == [(9, 8)]


async def test_the_client_stops_at_its_deadline() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"sent after the deadline: {request.url}")

    timings: dict[str, list[float]] = {"sign-up": [], "read ?after=": [], "read, no ?after=": []}
    await _client(
        "http://test",
        KEYS,
        "ryw",
        [("p1", "s1")],
        timings,
        [],
        time.perf_counter() - 1,
        httpx.MockTransport(answer),
    )
    assert timings["sign-up"] == []
