"""What `registry verify` reports: each check yields findings, the first by position is named."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Finding:
    """Something wrong at a log position (`check`: which check found it, e.g. "chain",
    "capacity", "promotion", "read-model"; `what`: a sentence for the report)."""

    position: int
    check: str
    what: str


def first_bad(findings: list[Finding]) -> Finding | None:
    return min(findings, default=None)
