"""Reading a `text/event-stream` answer as its messages (the WHATWG parsing rules that matter
here: fields per line, a blank line ends a message, lines starting with ':' are comments)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Message:
    id: str | None = None
    event: str | None = None
    data_lines: list[str] = field(default_factory=list)
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def data(self) -> Any:
        return json.loads("\n".join(self.data_lines))

    @property
    def is_comment(self) -> bool:
        return not self.data_lines and self.id is None and self.event is None


async def messages(response: httpx.Response) -> AsyncIterator[Message]:
    """Every block of the stream: messages, `retry:` blocks and comments alike, in order."""
    current = Message()
    seen = False
    async for line in response.aiter_lines():
        if line == "":
            if seen:
                yield current
            current, seen = Message(), False
            continue
        seen = True
        if line.startswith(":"):
            current.comments.append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            current.id = value
        elif name == "event":
            current.event = value
        elif name == "data":
            current.data_lines.append(value)
        elif name == "retry":
            current.retry = int(value)


async def next_update(stream: AsyncIterator[Message]) -> Message:
    """The next message with data (skipping `retry:` blocks and comments)."""
    async for message in stream:
        if message.data_lines:
            return message
    raise AssertionError("the stream ended")
