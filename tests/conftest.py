"""Shared fixtures."""

from __future__ import annotations

import pytest

from emulator.platform import Platform


@pytest.fixture
def platform() -> Platform:
    return Platform("zen3-epyc-2s", seed=1)
