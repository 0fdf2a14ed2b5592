"""The organisers' page's files: served without a key, with headers that keep other origins'
scripts away from the key it holds; everything else still needs a key."""

from __future__ import annotations

import pytest

from registry.api.organiser_page import FILES
from tests.support.api import Api


@pytest.mark.parametrize(
    ("path", "media_type", "file"),
    [
        ("/organiser/", "text/html", "index.html"),
        ("/organiser/page.js", "javascript", "page.js"),
        ("/organiser/page.css", "text/css", "page.css"),
    ],
)
async def test_the_page_is_served_without_a_key(
    api: Api, path: str, media_type: str, file: str
) -> None:
    answer = await api.client.get(path)
    assert answer.status_code == 200
    assert media_type in answer.headers["content-type"]
    assert answer.content == (FILES / file).read_bytes()
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "no-cache" in answer.headers["cache-control"]


async def test_nothing_else_opens_without_a_key(api: Api) -> None:
    missing = await api.client.get("/organiser/secrets.json")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert (await api.client.get("/v1/events/almelo/live")).status_code == 401
    assert (await api.client.get("/v1/events/almelo/occupancy")).status_code == 401
    schema = (await api.client.get("/schema/openapi.json")).json()
    assert "/v1/events/{event}/live" in schema["paths"]
    assert not any(path.startswith("/organiser") for path in schema["paths"])
