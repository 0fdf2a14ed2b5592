"""A database or Redis that does not answer makes a 503 `unavailable` with Retry-After, never a
500, and the answer does not repeat the error's words (hosts, ports, PostgreSQL's source lines).
Found by tests/faults/: pg_terminate_backend, a cut connection and a stopped Redis answered 500."""

from __future__ import annotations

import asyncpg
import pytest
import redis.exceptions

from registry.api.problems import to_problem
from registry.domain.errors import SessionFull
from registry.eventstore import ArchivedHistory

POSTGRES_FIELDS = {"F": "postgres.c", "L": "3200", "R": "ProcessInterrupts", "S": "FATAL"}


def postgres(error: type[asyncpg.PostgresError], code: str, message: str) -> Exception:
    return error.new({"C": code, "M": message, **POSTGRES_FIELDS})


AWAY = [
    postgres(asyncpg.exceptions.AdminShutdownError, "57P01", "terminating connection"),
    postgres(asyncpg.CannotConnectNowError, "57P03", "the database system is starting up"),
    postgres(asyncpg.QueryCanceledError, "57014", "canceling statement due to statement timeout"),
    postgres(asyncpg.TooManyConnectionsError, "53300", "too many clients already"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.InterfaceError("connection is closed"),
    asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation (2)"),
    ConnectionRefusedError(111, "Connection refused"),
    ConnectionResetError(104, "Connection reset by peer"),
    TimeoutError(),
    redis.exceptions.ConnectionError("Error 111 connecting to 10.1.2.3:6379. Connection refused."),
    redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
    redis.exceptions.TimeoutError("Timeout reading from 10.1.2.3:6379"),
]


@pytest.mark.parametrize("error", AWAY, ids=lambda e: type(e).__name__)
def test_a_server_away_answers_503_with_retry_after_and_nothing_internal(error: Exception) -> None:
    problem = to_problem(error)
    body = problem.body()
    assert (problem.type.status, body["type"]) == (503, "/problems/unavailable")
    assert problem.headers["Retry-After"] == "1"
    assert set(body) == {"type", "title", "status", "detail"}
    assert "10.1.2.3" not in str(body) and "postgres.c" not in str(body)
    assert "Idempotency-Key" in str(body["detail"])


def test_domain_errors_keep_their_own_answers() -> None:
    problem = to_problem(SessionFull("a"))
    assert (problem.type.status, problem.type.slug) == (409, "session-full")


def test_archived_history_is_410_naming_the_range() -> None:
    """A command or read that needs positions `registry log archive` moved into files."""
    problem = to_problem(ArchivedHistory(1, 1000, "events-1-1000.jsonl.gz", stream_id="s"))
    assert (problem.type.slug, problem.type.status) == ("archived", 410)
    assert "positions 1-1000" in problem.body()["detail"]
