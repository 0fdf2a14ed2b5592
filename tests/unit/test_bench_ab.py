"""bench/ab.py calls a run's invariants passed only from the harness's clean check lines."""

from __future__ import annotations

from bench.ab import Run

CLEAN = [
    "registry: sessions over capacity (log): 0; 7,917 seats held, 16,000 seat/waitlist facts"
    " for 16,000 answers 201",
    "registry: answers 201 whose position is their own fact in the log: 16,000 of 16,000",
]


def run(checks: list[str]) -> Run:
    return Run("A", 1.0, 1.0, 1.0, {"server": 1.0, "postgres": 1.0, "redis": 1.0}, checks)


def test_clean_lines_pass() -> None:
    assert run(CLEAN).checked


def test_a_session_over_capacity_fails() -> None:
    over = CLEAN[0].replace("(log): 0;", "(log): 2 ['s1 holds 21 of 20'];")
    assert not run([over, CLEAN[1]]).checked


def test_an_answer_not_its_fact_fails() -> None:
    wrong = CLEAN[1].replace("16,000 of 16,000", "15,999 of 16,000; mismatches {...}")
    assert not run([CLEAN[0], wrong]).checked
    assert not run([CLEAN[0], CLEAN[1] + "; 1 positions given twice"]).checked


def test_missing_lines_fail() -> None:
    assert not run([]).checked
    assert not run(CLEAN[:1]).checked
    assert not run(CLEAN[1:]).checked


def test_the_check_line_of_the_crowd_with_changes_passes_when_clean() -> None:
    line = (
        "registry: answers 2xx whose position is their own fact in the log (their command's,"
        " which stored that answer and wrote what it says): 18,085 of 18,085"
    )
    assert run([CLEAN[0], line]).checked
    assert not run([CLEAN[0], line.replace("18,085 of", "18,084 of")]).checked
