"""The app freezes the heap it built at start, after everything else (registry.api.heap)."""

from __future__ import annotations

import pytest

from registry.api import heap
from tests.support.api import running_api


async def test_the_app_freezes_its_start_up_heap_once_started(
    monkeypatch: pytest.MonkeyPatch, fresh_database_url: str, redis_url: str, redis_prefix: str
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(heap, "freeze_startup_heap", lambda: calls.append("frozen") or 0)
    async with running_api(fresh_database_url, redis_url, redis_prefix) as api:
        assert calls == ["frozen"]
        assert (await api.client.get("/health")).status_code == 200
    assert calls == ["frozen"]  # once, at start
