"""The organisers' live page in a real browser: headless Chromium (Debian's `chromium` package)
driven by playwright, against the app served over HTTP with the Almelo demo loaded.

Skipped only when no Chromium binary is found (`REGISTRY_CHROMIUM`, else `chromium` on PATH).
Screenshots go to ./test-artefacts/ (ignored by git)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from registry.demo import load_demo
from tests.support.served import Served, served_api

CHROMIUM = os.environ.get("REGISTRY_CHROMIUM") or shutil.which("chromium")
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts"
EVENT = "almelo-2024"
#: Time for the page to show a change: the sign-up, the projections, the stream, the DOM.
LIVE_MS = 10_000

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium binary (apt-get install chromium, or REGISTRY_CHROMIUM)"
)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    assert CHROMIUM is not None
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def served(
    fresh_database_url: str, redis_url: str, redis_prefix: str
) -> AsyncIterator[Served]:
    async with served_api(fresh_database_url, redis_url, redis_prefix) as served:
        loaded = await load_demo(
            served.base_url, served.keys["acme:organiser"], served.keys["acme:form"], participants=6
        )
        assert loaded.event_id == EVENT
        served.participants = loaded.participant_ids  # type: ignore[attr-defined]
        yield served


@pytest.fixture
async def page(browser: Browser, served: Served) -> AsyncIterator[Page]:
    """A page of its own; closed before the server stops (its stream would hold the drain)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield await context.new_page()
    finally:
        await context.close()  # closes the page's stream too: the server can stop


async def _open(page: Page, served: Served, key: str) -> None:
    await page.goto(f"{served.base_url}/organiser/")
    await page.get_by_label("Event id").fill(EVENT)
    await page.get_by_label("Organiser API key").fill(key)
    await page.get_by_role("button", name="Show the event").click()


async def _occupancy(served: Served) -> list[dict[str, Any]]:
    async with served.client() as client:
        answer = await client.get(f"/v1/events/{EVENT}/occupancy", headers=served.as_("organiser"))
    rows: list[dict[str, Any]] = answer.json()["sessions"]
    return rows


async def _room_capacity(served: Served, room_id: str) -> int:
    async with served.client() as client:
        answer = await client.get(f"/v1/events/{EVENT}", headers=served.as_("organiser"))
    [room] = [r for r in answer.json()["rooms"] if r["room_id"] == room_id]
    return int(room["capacity"])


def _card(page: Page, session_id: str) -> Any:
    return page.locator(f'[data-session="{session_id}"]')


async def test_the_page_follows_sign_ups_live_and_runs_the_organisers_actions(
    page: Page, served: Served
) -> None:
    rows = await _occupancy(served)
    target = next(r for r in rows if r["state"] == "open" and (r["free"] or 0) >= 3)
    await _open(page, served, served.keys["acme:organiser"])

    card = _card(page, target["session_id"])
    await expect(card.locator(".seated")).to_have_text("0", timeout=LIVE_MS)
    await expect(card.locator(".capacity")).to_have_text(str(target["capacity"]))
    # Every session of the programme is in the grid, each in its room's column.
    await expect(page.locator(".session-card")).to_have_count(len(rows))
    await page.evaluate("window.stillTheSamePage = true")

    # Sign-ups through the API while the page is open: the numbers change without a reload.
    people = served.participants[:2]  # type: ignore[attr-defined]
    async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as client:
        for person in people:
            answer = await client.post(
                f"/v1/events/{EVENT}/participants/{person}/signups",
                json={"session_id": target["session_id"]},
                headers=served.as_("form"),
            )
            assert answer.status_code == 201, answer.text
    await expect(card.locator(".seated")).to_have_text("2", timeout=LIVE_MS)
    assert await page.evaluate("window.stillTheSamePage === true"), "the page was reloaded"
    await expect(page.get_by_role("status").first).to_contain_text("up to date at log position")

    # The session's lists, and an organiser's action with its answer: a capacity below the
    # seats taken marks the session over capacity (live, through the stream).
    await card.click()
    await expect(page.locator("#attendees li")).to_have_count(2)
    await expect(page.locator("#attendees")).to_contain_text("Deelnemer 00")
    await page.get_by_label("Capacity").fill("1")
    await page.get_by_role("button", name="Change capacity").click()
    await expect(page.locator("#answer")).to_contain_text("Change capacity: done.")
    await expect(page.locator("#answer")).to_contain_text("over_capacity: 1")
    await expect(card).to_contain_text("over capacity by 1", timeout=LIVE_MS)
    await expect(card.locator(".capacity")).to_have_text("1")

    # Closing registration from the page: the event's state follows.
    await page.get_by_role("button", name="Close registration").click()
    await expect(page.locator("#event-facts")).to_contain_text("Registration closed")
    await expect(page.get_by_role("button", name="Open registration")).to_be_enabled()

    ARTEFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTEFACTS / "organiser-page.png"), full_page=True)


async def test_a_wrong_key_and_failed_actions_show_the_problem(page: Page, served: Served) -> None:
    await _open(page, served, "not-a-key")
    error = page.get_by_role("alert")
    await expect(error).to_contain_text("Unauthorized (401)")
    await expect(error).to_contain_text("Check the organiser API key")
    assert await page.evaluate("sessionStorage.getItem('registry.organiser.key')") is None

    await _open(page, served, served.keys["acme:form"])
    await expect(error).to_contain_text("Forbidden (403)")
    await expect(error).to_contain_text("organiser role")

    rows = await _occupancy(served)
    source, cancelled = rows[-1], rows[-2]["session_id"]
    room_seats = await _room_capacity(served, source["room_id"])
    async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as client:
        answer = await client.post(
            f"/v1/events/{EVENT}/sessions/{cancelled}/cancel",
            json={"reason": "speaker ill"},
            headers=served.as_("organiser"),
        )
        assert answer.status_code == 200

    await _open(page, served, served.keys["acme:organiser"])
    await expect(_card(page, cancelled)).to_contain_text("cancelled", timeout=LIVE_MS)
    await expect(error).to_be_hidden()
    # The key is kept for this tab only, and never put in the address.
    assert await page.evaluate("sessionStorage.getItem('registry.organiser.key')")
    assert served.keys["acme:organiser"] not in page.url

    # More seats than the session's room has: refused, and the page says why.
    await _card(page, source["session_id"]).click()
    await page.get_by_label("Capacity").fill(str(room_seats + 1))
    await page.get_by_role("button", name="Change capacity").click()
    problem = page.locator("#answer [role=alert]")
    await expect(problem).to_contain_text("Validation failed (422)")
    await expect(problem).to_contain_text(str(room_seats))

    await page.get_by_label("Merge into").select_option(cancelled)
    await page.get_by_role("button", name="Merge").click()
    await expect(problem).to_contain_text("Session cancelled (409)")
    detail = await problem.text_content()
    assert detail is not None and ": " in detail, "the problem's detail follows its title"
