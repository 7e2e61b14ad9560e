"""Fixtures for the PTDMA model tests."""

from __future__ import annotations

import pytest

from emulator.platform import Platform
from hdl_model.ptdma_engine import PtdmaEngine, attach_ptdma
from tests.hdl_model.ptsw import PtSoftware


@pytest.fixture
def plat() -> Platform:
    return Platform("zen3-epyc-2s", seed=3)


@pytest.fixture
def eng(plat: Platform) -> PtdmaEngine:
    return attach_ptdma(plat, 1, trace=True)[0]


@pytest.fixture
def sw(plat: Platform, eng: PtdmaEngine) -> PtSoftware:
    s = PtSoftware(plat, eng.pci)
    s.init()
    return s
