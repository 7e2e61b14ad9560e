"""Shared fixtures."""

from __future__ import annotations

import pytest

from emulator import accel
from emulator.platform import Platform

# The cocotb benches' functional coverage summary, printed at the end of any run.
pytest_plugins = ["tests.cocotb.coverage_report"]


@pytest.fixture
def platform() -> Platform:
    return Platform("zen3-epyc-2s", seed=1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that patch methods of a compiled class cannot run against the compiled build
    (mypyc classes call their methods natively): they run in the Python-sources pass."""
    if not accel.ACTIVE:
        return
    skip = pytest.mark.skip(reason=f"patches a class served compiled ({accel.STATUS})")
    for item in items:
        if item.get_closest_marker("pure_python"):
            item.add_marker(skip)
