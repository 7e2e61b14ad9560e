"""pytest entry: directed smoke tests of the Verilog twin (reset values, one copy)."""

from __future__ import annotations

import pytest

from .simrun import have_simulator, preset_parameters, run_sim

pytestmark = [
    pytest.mark.cocotb,
    pytest.mark.skipif(not have_simulator(), reason="HDL simulator not installed"),
]


@pytest.mark.parametrize("data_w", [256, 64])
def test_twin_smoke(data_w: int) -> None:
    """The twin resets to the generated reset values and copies 4 KiB+13 B exactly."""
    res = run_sim(
        f"smoke-w{data_w}", "tests.cocotb.tb.tb_smoke", parameters=preset_parameters(data_w=data_w)
    )
    assert len(res.tests) == 2
