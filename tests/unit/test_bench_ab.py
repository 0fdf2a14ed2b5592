"""bench/ab.py calls a run's invariants passed only from the harness's clean check lines."""

from __future__ import annotations

import time

import pytest

from bench.ab import MEASURES, Run, ratios
from bench.speed import SpeedProbe

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


def probed(rate: float, server_ms: float, probe_ms: float) -> Run:
    cpu = {"server": server_ms, "postgres": 1.0, "redis": 1.0}
    return Run("A", rate, 1.0, 1.0, cpu, CLEAN, probe_ms)


def test_figures_scaled_by_the_probe_cancel_a_machine_running_slower() -> None:
    # B ran while the probe took 1.5 x as long: 1.5 x fewer sign-ups/s, 1.5 x the CPU each.
    rounds = [(probed(2_100.0, 0.40, 20.0), probed(1_400.0, 0.60, 30.0))]
    assert ratios(rounds, MEASURES["sign-ups/s"]) == [pytest.approx(2 / 3)]
    assert ratios(rounds, MEASURES["sign-ups/s x probe"]) == [pytest.approx(1.0)]
    assert ratios(rounds, MEASURES["API CPU ms / probe"]) == [pytest.approx(1.0)]


def test_a_run_without_probe_samples_is_left_out_of_the_scaled_ratios() -> None:
    rounds = [(probed(2_000.0, 0.4, 0.0), probed(2_000.0, 0.4, 20.0))]
    assert ratios(rounds, MEASURES["sign-ups/s x probe"]) == []
    assert ratios(rounds, MEASURES["sign-ups/s"]) == [1.0]


def test_the_speed_probe_samples_only_while_its_block_runs() -> None:
    with SpeedProbe(interval_s=0.01) as probe:
        deadline = time.monotonic() + 30  # the work's lists are built first, in the thread
        while len(probe.samples_ms) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    taken = len(probe.samples_ms)
    assert taken >= 2 and all(ms > 0 for ms in probe.samples_ms)
    assert probe.mean_ms > 0 and probe.median_ms > 0
    time.sleep(0.1)
    assert len(probe.samples_ms) == taken  # stopped with the block
