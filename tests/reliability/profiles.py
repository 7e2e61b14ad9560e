"""Hypothesis settings for the reliability fuzzers: bounded by default, larger under slow.

``FUZZ`` (default suite) keeps each fuzzer to a few seconds; ``FUZZ_SLOW`` is what the
``@pytest.mark.slow`` variants use (``make regress``). Simulated runs have no meaningful
wall-clock deadline, so deadlines are off.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "derandomize": True,  # the default suite is reproducible run to run
}
FUZZ = settings(max_examples=80, **COMMON)  # type: ignore[arg-type]
FUZZ_SLOW = settings(max_examples=600, derandomize=False, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
