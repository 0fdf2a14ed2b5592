"""Running a command over HTTP: strict body decoding, the Idempotency-Key, kept answers.

API.md "General": a repeat with the same key and an equal body returns the first answer (status
and body) with `Idempotent-Replayed: true` and writes nothing; every answer given after the key
and body were accepted, except 5xx and 429, is kept; the same key with another body is a 422.
The answer is kept with the command in the same transaction as its events (the store's
`commands` row), so an acknowledged command and its answer are never apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import msgspec
from litestar import Request, Response

from registry.api.problems import PROBLEM_MEDIA_TYPE, ValidationFailed, body_problem, to_problem
from registry.auth.guards import principal_of
from registry.eventstore import AppendResult
from registry.handlers.answers import decode_answer, encode_answer
from registry.handlers.context import Answer, CommandContext, command_id, fingerprint
from registry.handlers.gate_sync import GateKeeper

C = TypeVar("C")
Handler = Callable[[CommandContext, C], Awaitable[tuple[Answer, AppendResult]]]

IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"
MAX_KEY_LENGTH: Final = 128


def decode_body(body: bytes, command_type: type[C]) -> C:
    """Strictly: a string where a number belongs is a 422, never coerced."""
    try:
        return msgspec.json.decode(body or b"null", type=command_type, strict=True)
    except msgspec.DecodeError as error:
        raise body_problem(error) from None


async def run_command(
    request: Request[Any, Any, Any],
    keeper: GateKeeper,
    command_type: type[C],
    handler: Handler[C],
) -> Response[Any]:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
        raise ValidationFailed(
            f"{IDEMPOTENCY_HEADER} has 1 to {MAX_KEY_LENGTH} characters", field=IDEMPOTENCY_HEADER
        )
    body = await request.body()
    # From the request, not a dependency: Litestar resolves two dependencies of one handler in
    # an anyio task group, 3 % of a worker's CPU on the sign-up path (bench/README.md).
    principal = principal_of(request)
    ctx = CommandContext(
        organisation=principal.organisation,
        actor=str(principal.key_id),
        command_id=(
            command_id(str(principal.key_id), request.method, request.url.path, key)
            if key is not None
            else f"once:{uuid.uuid4()}"
        ),
        fingerprint=fingerprint(body) if key is not None else None,
        remembered=key is not None,
    )
    if ctx.remembered:
        stored = await keeper.store.command_result(ctx.command_id, ctx.fingerprint)
        if stored is not None:
            return _replay(stored)
    try:
        answer, result = await handler(ctx, decode_body(body, command_type))
    except Exception as error:
        problem = to_problem(error)
        status = problem.type.status
        if not ctx.remembered or status >= 500 or status == 429:
            raise
        kept = await keeper.store.append(
            [],
            metadata=ctx.metadata(),
            command_id=ctx.command_id,
            fingerprint=ctx.fingerprint,
            answer=encode_answer(status, problem.body()),
        )
        if kept.replayed:  # a twin of this command answered first: its answer stands
            return _replay(kept)
        return _problem(Answer(status, problem.body()), dict(problem.headers))
    if result.replayed:
        return _replay(result)
    return _answer(answer, result.position)


def _answer(answer: Answer, position: int, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        {**answer.body, "position": position}, status_code=answer.status, headers=headers or {}
    )


def _problem(answer: Answer, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        answer.body, status_code=answer.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers or {}
    )


def _replay(stored: AppendResult) -> Response[Any]:
    assert stored.answer is not None, "every remembered command keeps its answer"
    answer = decode_answer(stored.answer)
    headers = {REPLAYED_HEADER: "true"}
    if answer.status >= 400:
        return _problem(answer, headers)
    return _answer(answer, stored.position, headers)
