"""No secret and no personal data in logs (issue 9): requests carrying an API key, names and
e-mail addresses (a registration, a sign-up, failing requests) leave none of them in any log
line, stdlib logging (every logger, DEBUG and up, tracebacks included) or structlog."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from structlog.testing import capture_logs

from tests.support.api import running_api

NAME = "Wilhelmina Geheimhouder"
EMAIL = "wilhelmina.geheimhouder@private.example"
OTHER_NAME = "Bartholomeus Vertrouwelijk"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # format() appends the traceback: an exception's text is a log line too.
        self.lines.append(self.format(record))


@contextmanager
def structlog_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    try:
        with capture_logs() as events:
            yield lines
            lines.extend(repr(event) for event in events)
    finally:
        structlog.reset_defaults()


@contextmanager
def stdlib_lines(lines: list[str]) -> Iterator[None]:
    """Every stdlib record from now on, at DEBUG and up. Entered once the app has started: its
    logging configuration (dictConfig) replaces the root logger's handlers."""
    handler = Lines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        lines.extend(handler.lines)


async def test_keys_names_and_emails_stay_out_of_the_logs(
    fresh_database_url: str, redis_url: str, redis_prefix: str
) -> None:
    with structlog_lines() as lines:
        async with running_api(fresh_database_url, redis_url, redis_prefix) as api:
            with stdlib_lines(lines):
                key = api.keys["acme:form"]
                await api.create_event()
                await api.room("hall", 1)
                assert (await api.session("talk", "hall")).status_code == 201
                person = {"name": NAME, "email": EMAIL}
                registered = await api.post("/v1/events/almelo/participants", person)
                assert registered.status_code == 201, registered.text
                participant = registered.json()["participant_id"]
                seated = await api.sign_up(participant, "talk")
                assert seated.status_code == 201, seated.text
                failures = [
                    # the same e-mail again: 409 already-exists
                    await api.post(
                        "/v1/events/almelo/participants", {**person, "name": OTHER_NAME}
                    ),
                    # a field that does not exist, beside the personal data: 422
                    await api.post("/v1/events/almelo/participants", {**person, "nickname": NAME}),
                    # not JSON, with the personal data in it: 400
                    await api.client.post(
                        "/v1/events/almelo/participants",
                        content=f'{{"name": "{NAME}", "email": "{EMAIL}"'.encode(),
                        headers={**api.as_("form"), "content-type": "application/json"},
                    ),
                    # a whole form for a session that does not exist: 422
                    await api.post(
                        "/v1/events/almelo/registrations",
                        {
                            "participant": {"name": OTHER_NAME, "email": f"x{EMAIL}"},
                            "session_ids": ["x"],
                        },
                    ),
                    # the key on a route its role may not use: 403
                    await api.post("/v1/events", {"id": "x", "title": NAME}),
                ]
                assert [f.status_code for f in failures] == [409, 422, 400, 422, 403]
                agenda = await api.client.get(
                    f"/v1/events/almelo/participants/{participant}", headers=api.as_("form")
                )
                assert agenda.json()["name"] == NAME  # the data is there, only not in the logs

    # The capture works: it saw the requests (httpx's lines) and the app's own structlog events.
    assert any("/v1/events/almelo/participants" in line for line in lines)
    assert any("leading projection" in line for line in lines)
    text = "\n".join(lines)
    for secret in (key, key.removeprefix("rk_"), NAME, OTHER_NAME, EMAIL, EMAIL.split("@")[0]):
        assert secret not in text, f"{secret!r} in a log line"
