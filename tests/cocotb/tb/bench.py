"""The cocotb bench around ``ptdma_top``: clock, reset, MMIO master, memory agent, irq watch.

One device clock of 1 ns (the Python model's 1 GHz timebase, so cycle counts compare 1:1),
started as a GPI clock (toolchain.md §4: ~4x faster than a Python clock on Icarus). The
reset is held for a few edges *before* the cocotbext-axi BFMs are built (the X-during-reset
workaround of toolchain.md §3) and released after. Memory is the emulator's
``PhysicalMemory`` of a bench-owned ``Platform``, served to the twin's AXI4 master by
``AxiMemAgent`` with the platform's NUMA latencies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, Timer
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiLiteBus, AxiLiteMaster

from emulator.platform import Platform
from hdl_model.generated.regmap import REG_BY_NAME

from .mem_agent import AxiMemAgent, PhysMemRegion

CLOCK_PERIOD_NS = 1  # 1 GHz device clock (preset.clocks.device_freq_hz, EXT_TIMEBASE)


def reg_offset(name: str) -> int:
    """Offset of register ``name`` in the engine window (from the generated table)."""
    return REG_BY_NAME[name].offset


def dut_param(dut: Any, name: str, default: int) -> int:
    """A top-level parameter's value as elaborated (falls back to ``default``)."""
    try:
        return int(getattr(dut, name).value)
    except Exception:
        return default


class PtdmaBench:
    """Clock, reset and bus agents of one PTDMA twin instance."""

    def __init__(
        self,
        dut: Any,
        platform: Platform | None = None,
        engine: int = 0,
        numa_latency: bool = True,
    ) -> None:
        self.dut = dut
        self.platform = platform or Platform("zen3-epyc-2s", seed=0)
        self.engine = engine
        self.node = self.platform.engine_node(engine)
        self.numa_latency = numa_latency
        self.log = logging.getLogger("cocotb.ptdma_bench")
        self.axil: AxiLiteMaster | None = None
        self.mem: AxiMemAgent | None = None
        self.irq_edges: list[int] = []  # sim time (ps) of each 0->1 edge of irq
        self.irq_callbacks: list[Callable[[int], None]] = []
        self.mmio_reads = 0
        self.mmio_writes = 0
        self.data_w = len(dut.m_axi_wdata)

    # ------------------------------------------------------------------ bring-up
    async def start(self) -> None:
        """Start the clock, reset the twin, build the BFMs, release reset."""
        dut = self.dut
        dut.rst.value = 1
        for sig in ("s_axil_awvalid", "s_axil_wvalid", "s_axil_bready", "s_axil_arvalid",
                    "s_axil_rready", "m_axi_awready", "m_axi_wready", "m_axi_bvalid",
                    "m_axi_arready", "m_axi_rvalid"):
            getattr(dut, sig).value = 0
        Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns", impl="gpi").start()
        await ClockCycles(dut.clk, 3)
        # X-during-reset workaround: BFMs only after a few reset edges
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        for ch in (self.axil.write_if, self.axil.read_if):
            ch.log.setLevel(logging.WARNING)
        self.mem = AxiMemAgent(
            dut,
            "m_axi",
            dut.clk,
            dut.rst,
            PhysMemRegion(self.platform.mem),
            timing=self.platform.timing if self.numa_latency else None,
            initiator_node=self.node,
        )
        await ClockCycles(dut.clk, 2)
        await FallingEdge(dut.clk)
        dut.rst.value = 0
        await RisingEdge(dut.clk)
        cocotb.start_soon(self._watch_irq())

    async def reset(self, cycles: int = 4) -> None:
        """Pulse reset (FLR): every register back to its reset value."""
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def _watch_irq(self) -> None:
        while True:
            await RisingEdge(self.dut.irq)
            t = int(get_sim_time("ps"))
            self.irq_edges.append(t)
            for cb in list(self.irq_callbacks):
                cb(t)

    # ------------------------------------------------------------------ MMIO
    async def read(self, offset: int) -> int:
        """32-bit MMIO read at ``offset`` of the engine window."""
        assert self.axil is not None
        self.mmio_reads += 1
        return int(await self.axil.read_dword(offset))

    async def write(self, offset: int, value: int) -> None:
        """32-bit MMIO write."""
        assert self.axil is not None
        self.mmio_writes += 1
        await self.axil.write_dword(offset, value & 0xFFFF_FFFF)

    async def read_reg(self, name: str) -> int:
        return await self.read(reg_offset(name))

    async def write_reg(self, name: str, value: int) -> None:
        await self.write(reg_offset(name), value)

    # ------------------------------------------------------------------ time
    @staticmethod
    def now_ps() -> int:
        return int(get_sim_time("ps"))

    async def cycles(self, n: int) -> None:
        await ClockCycles(self.dut.clk, n)

    async def wait_ps(self, ps: int) -> None:
        if ps > 0:
            await Timer(ps, unit="ps")

    async def wait_irq_or(self, timeout_ps: int) -> bool:
        """Wait until the irq line is high or ``timeout_ps`` passes; True if high."""
        end = self.now_ps() + timeout_ps
        while int(self.dut.irq.value) == 0:
            if self.now_ps() >= end:
                return False
            await Timer(min(50_000, end - self.now_ps()), unit="ps")
        return True

    # ------------------------------------------------------------------ memory helpers
    def mem_write(self, addr: int, data: np.ndarray | bytes) -> None:
        arr = np.frombuffer(bytes(data), np.uint8) if isinstance(data, bytes) else data
        self.platform.mem.write(addr, arr)

    def mem_read(self, addr: int, n: int) -> np.ndarray:
        return self.platform.mem.read(addr, n)
