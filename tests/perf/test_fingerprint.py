"""Whole migrations still simulate exactly what they simulated before the speed-ups."""

from __future__ import annotations

import json

import pytest

from tests.perf.fingerprint import CASES, GOLDEN, fingerprint


@pytest.mark.parametrize("name", sorted(CASES))
def test_simulated_results_match_golden(name: str) -> None:
    """Simulated time, t1..t4, every CPU charge, engine counters and the moved bytes of
    ``name`` equal the recorded values (regenerate only for an intended model change:
    ``python -m tests.perf.fingerprint --update``)."""
    golden = json.loads(GOLDEN.read_text())[name]
    got = fingerprint(name)
    assert got["rc"] == 0
    for key in golden:
        assert got[key] == golden[key], f"{name}: {key} changed"
