"""Shared fixtures."""

from __future__ import annotations

import pytest

from emulator.platform import Platform

# The cocotb benches' functional coverage summary, printed at the end of any run.
pytest_plugins = ["tests.cocotb.coverage_report"]


@pytest.fixture
def platform() -> Platform:
    return Platform("zen3-epyc-2s", seed=1)
