"""pytest entry: the pyuvm testbench against the Verilog twin, Python model as scoreboard.

Each case runs one pyuvm test in its own simulator process (``build/cocotb/uvm-<case>/``);
the coverage summary each writes is printed at the end of the pytest run (conftest.py).
"""

from __future__ import annotations

import os

import pytest

from .simrun import BUILD_ROOT, have_simulator, preset_parameters, run_sim, simulator

pytestmark = [
    pytest.mark.cocotb,
    pytest.mark.skipif(not have_simulator(), reason="HDL simulator not installed"),
]

FAST = ["PtdmaRandomTest", "PtdmaBackpressureTest", "PtdmaErrorTest", "PtdmaAbortTest",
        "PtdmaRingTest"]


def _run(case: str, seed: int = 1, data_w: int = 256) -> None:
    name = f"uvm-{case}-w{data_w}-s{seed}"
    cov = BUILD_ROOT / f"{name}-{simulator()}" / "coverage.txt"
    cov.parent.mkdir(parents=True, exist_ok=True)
    cov.unlink(missing_ok=True)
    run_sim(
        name,
        "tests.cocotb.tb.tb_uvm",
        testcase=case,
        parameters=preset_parameters(data_w=data_w),
        extra_env={
            "PTDMA_SEED": str(seed),
            "PTDMA_COV_FILE": str(cov),
            **({"PTDMA_P_STALL": os.environ["PTDMA_P_STALL"]}
               if "PTDMA_P_STALL" in os.environ else {}),
        },
    )
    assert cov.exists(), "the test wrote no coverage summary"


@pytest.mark.parametrize("case", FAST)
def test_uvm(case: str) -> None:
    """pyuvm test ``case`` passes with no scoreboard error (256-bit twin)."""
    _run(case)


def test_uvm_copy_after_abort() -> None:
    """After ABORT and recovery, the next copy's duration matches (twin vs model)."""
    _run("PtdmaAbortThenCopyTest")


def test_uvm_random_64bit() -> None:
    """The random stream on a 64-bit datapath (8 beats per line)."""
    _run("PtdmaRandomTest", seed=2, data_w=64)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 4, 5])
def test_uvm_long(seed: int) -> None:
    """Long regression: 80 descriptors up to 256 KiB with back-pressure, several seeds."""
    _run("PtdmaLongTest", seed=seed)


@pytest.mark.slow
@pytest.mark.parametrize("data_w", [128, 512])
def test_uvm_widths(data_w: int) -> None:
    """Random stream and errors on the other data widths."""
    _run("PtdmaRandomTest", seed=6, data_w=data_w)
    _run("PtdmaErrorTest", seed=7, data_w=data_w)
