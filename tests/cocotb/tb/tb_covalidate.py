"""cocotb test: the co-validation body (``tests/cocotb/covalidation.py``) over the twin.

Writes the body's result as JSON to ``PTDMA_COVAL_OUT`` so the pytest side can compare it
with the Python-model backend's.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import cocotb
from cocotb.task import bridge

from emulator.platform import Platform

from ..covalidation import copy_pages_body
from .bench import PtdmaBench
from .lockstep import Lockstep, rtl_backend


@cocotb.test()
async def covalidate_driver_on_twin(dut: Any) -> None:
    """PTDMA driver, DCBM and move_pages over the Verilog twin, exact data."""
    seed = int(os.environ.get("PTDMA_SEED", "1"))
    bench = PtdmaBench(dut, Platform("zen3-epyc-2s", seed=seed))
    await bench.start()
    lockstep = Lockstep(bench)
    be = rtl_backend(bench, lockstep)
    n_pages = int(os.environ.get("PTDMA_COVAL_PAGES", "8"))
    res = await bridge(copy_pages_body)(be, n_pages, n_pages, 2 * n_pages)
    dut._log.info(
        "co-validation: %s; %d lockstep steps, %d MMIO reads, %d writes, %d MSIs, "
        "worst access/MSI lateness %.1f ns, emulator %.1f us, twin %.1f us",
        res, lockstep.steps, lockstep.proxy.reads, lockstep.proxy.writes, lockstep.msis,
        lockstep.late_ps_max / 1000, bench.platform.sim.now / 1e6, bench.now_ps() / 1e6,
    )
    out = os.environ.get("PTDMA_COVAL_OUT")
    if out:
        with open(out, "w") as f:
            json.dump({"result": dataclasses.asdict(res), "mmio_reads": lockstep.proxy.reads,
                       "mmio_writes": lockstep.proxy.writes, "msis": lockstep.msis,
                       "late_ps_max": lockstep.late_ps_max}, f)
