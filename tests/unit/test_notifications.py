"""The pure parts of notifications: the signature scheme and the retry schedule."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from registry.notifications.dispatcher import backoff
from registry.notifications.signing import new_secret, signature, verify

BODY = b'{"delivery_id":"d","type":"PromotedFromWaitlist"}'


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    secret = "whsec_test"
    expected = hmac.new(b"whsec_test", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signature(secret, "1700000000", BODY) == f"v1={expected}"


def test_verify_accepts_its_own_signature_and_nothing_else() -> None:
    secret, now = new_secret(), 1_700_000_000.0
    stamp = str(int(now))
    signed = signature(secret, stamp, BODY)
    assert verify(secret, stamp, BODY, signed, now=now)
    assert verify(secret, stamp, BODY, f"v0=abc, {signed}", now=now)  # one of several
    assert not verify(new_secret(), stamp, BODY, signed, now=now)
    assert not verify(secret, stamp, BODY + b" ", signed, now=now)
    assert not verify(secret, str(int(now) + 1), BODY, signed, now=now)
    assert not verify(secret, stamp, BODY, signed, now=now + 301)  # too old: a replay
    assert not verify(secret, "soon", BODY, signed, now=now)


def test_secrets_are_new_each_time() -> None:
    assert len({new_secret() for _ in range(100)}) == 100
    assert new_secret().startswith("whsec_")


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 2.0), (2, 4.0), (5, 32.0), (12, 60.0)])
def test_backoff_is_full_jitter_up_to_a_capped_exponential(attempt: int, ceiling: float) -> None:
    assert backoff(attempt, 2.0, 60.0, draw=lambda: 0.0) == 0.0
    assert backoff(attempt, 2.0, 60.0, draw=lambda: 1.0) == ceiling
    assert backoff(attempt, 2.0, 60.0, draw=lambda: 0.5) == ceiling / 2
    assert all(0 <= backoff(attempt, 2.0, 60.0) <= ceiling for _ in range(100))


def test_backoff_of_a_huge_attempt_number_stays_at_the_cap() -> None:
    assert backoff(10_000, 2.0, 3600.0, draw=lambda: 1.0) == 3600.0
