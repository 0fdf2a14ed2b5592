"""How an answer is kept with its command, for idempotent replays (API.md "General")."""

from __future__ import annotations

from typing import Any

import msgspec

from registry.handlers.context import Answer

_encoder = msgspec.json.Encoder()


class _Stored(msgspec.Struct, frozen=True):
    status: int
    body: dict[str, Any]


def encode_answer(status: int, body: dict[str, Any]) -> bytes:
    return _encoder.encode(_Stored(status, body))


def decode_answer(stored: bytes) -> Answer:
    kept = msgspec.json.decode(stored, type=_Stored)
    return Answer(kept.status, kept.body)
