"""RTL backend for co-validation: the emulator's clock in lockstep with cocotb's.

The emulator (driver processes, interrupt controller, CPU model) runs in a ``cocotb.bridge``
thread. ``RtlPtdmaProxy`` sits in the emulator's bus at the engine's 64 KiB window; each
register access calls ``cocotb.resume`` on a coroutine that first advances cocotb to the
emulator's time of the access and then performs it on the twin's AXI-Lite port. The twin's
AXI4 master is served from the same ``PhysicalMemory`` (``AxiMemAgent``), so the driver's
ring and buffers are the twin's memory.

Lockstep: before the emulator processes the events of time ``t`` it asks cocotb to advance
to ``t`` (the offset between the clocks is fixed at start). While cocotb advances, a rising
edge of the twin's irq line stops it; the emulator's clock is moved to that instant and
``platform.irq.raise_msi`` is called, so the MSI enters the emulator at the twin's time.
The emulator is run with ``sim.run(until=t)``, which also bounds a sleeping process's fast
path at ``t``: the emulator never gets ahead of the RTL. An access made while cocotb has
already passed the emulator's time (a previous access's AXI-Lite handshakes, ~10 ns) lands
that much late: the twin sees the access a few cycles after the emulator issued it.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import cocotb
from cocotb.task import resume
from cocotb.triggers import Event, First, RisingEdge, Timer
from cocotb.utils import get_sim_time

from drivers.kernel import Kernel
from emulator.event_kernel import MS
from emulator.platform import Platform
from hdl_model.ptdma_engine import PciDeviceInfo

from ..covalidation import Backend
from .bench import PtdmaBench


class LockstepError(RuntimeError):
    """The co-simulation cannot make progress (nothing scheduled, no interrupt)."""


class RtlPtdmaProxy:
    """The twin seen from the emulator: a device with PCI info and an MMIO window."""

    def __init__(self, lockstep: Lockstep, pci: PciDeviceInfo) -> None:
        self.lockstep = lockstep
        self.pci = pci
        self.reads = 0
        self.writes = 0

    def mmio_read(self, offset: int, size: int) -> int:
        self.reads += 1
        return self.lockstep.mmio(offset, size, None)

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        self.writes += 1
        self.lockstep.mmio(offset, size, value)

    def __repr__(self) -> str:
        return f"RtlPtdmaProxy({self.pci.name}, bar={self.pci.bar_base:#x})"


class Lockstep:
    """Runs emulator software against the twin; create in cocotb context, use in a bridge."""

    def __init__(self, bench: PtdmaBench, engine: int = 0, max_idle_ps: int = 20 * MS) -> None:
        self.bench = bench
        self.platform: Platform = bench.platform
        p = self.platform
        name = f"ptdma{engine}"
        self.vector = p.irq.allocate_vector(name)
        self.pci = PciDeviceInfo(
            name=name,
            bar_base=p.engine_mmio_base(engine),
            bar_size=p.preset.topology.mmio_window,
            msi_vector=self.vector,
            node=p.engine_node(engine),
            dma_name=name,
            index=engine,
        )
        self.proxy = RtlPtdmaProxy(self, self.pci)
        p.bus.map(self.pci.bar_base, self.pci.bar_size, self.proxy, name)
        p.devices.append(self.proxy)
        self.offset = int(get_sim_time("ps")) - p.sim.now  # cocotb time = emulator + offset
        self.max_idle_ps = max_idle_ps
        self.edges: collections.deque[int] = collections.deque()
        self.edge_event = Event()
        self.msis = 0
        self.late_ps_max = 0  # worst lateness of an access or MSI versus the emulator's time
        self.steps = 0
        cocotb.start_soon(self._watch_irq())

    # ------------------------------------------------------------------ cocotb side
    async def _watch_irq(self) -> None:
        dut = self.bench.dut
        while True:
            await RisingEdge(dut.irq)
            self.edges.append(int(get_sim_time("ps")))
            self.edge_event.set()

    async def _advance(self, target: int | None, limit: int) -> int | None:
        """Advance cocotb to ``target`` (or ``limit``); stop at an irq edge and return its
        time, or None when the target was reached first."""
        end = limit if target is None else min(target, limit)
        while True:
            if self.edges:
                return self.edges.popleft()
            now = int(get_sim_time("ps"))
            if now >= end:
                return None
            self.edge_event.clear()
            await First(Timer(end - now, unit="ps"), self.edge_event.wait())

    async def _access(self, t_cocotb: int, offset: int, size: int, value: int | None) -> int:
        now = int(get_sim_time("ps"))
        if now < t_cocotb:
            await Timer(t_cocotb - now, unit="ps")
        else:
            self.late_ps_max = max(self.late_ps_max, now - t_cocotb)
        axil = self.bench.axil
        assert axil is not None
        if size == 8:
            if value is None:
                lo = int(await axil.read_dword(offset))
                hi = int(await axil.read_dword(offset + 4))
                return lo | hi << 32
            await axil.write_dword(offset, value & 0xFFFF_FFFF)
            await axil.write_dword(offset + 4, value >> 32)
            return 0
        if value is None:
            resp = await axil.read(offset, size)
            return int.from_bytes(bytes(resp.data), "little")
        await axil.write(offset, value.to_bytes(size, "little"))
        return 0

    # ------------------------------------------------------------------ emulator side
    def mmio(self, offset: int, size: int, value: int | None) -> int:
        """Called by the proxy inside the emulator (bridge thread)."""
        t = self.platform.sim.now + self.offset
        return int(resume(self._access)(t, offset, size, value))

    def run(self, cond: Callable[[], bool], timeout_ps: int = 2_000 * MS) -> None:
        """Run the emulator in lockstep with the twin until ``cond()``."""
        sim = self.platform.sim
        deadline = sim.now + timeout_ps
        advance = resume(self._advance)
        while not cond():
            self.steps += 1
            t_next = sim.peek()
            if t_next is not None and t_next > deadline:
                raise LockstepError(f"timeout: nothing done by {deadline} ps")
            limit = (t_next if t_next is not None else sim.now + self.max_idle_ps) + self.offset
            edge = advance(None if t_next is None else t_next + self.offset, limit)
            if edge is not None:
                t_emu = edge - self.offset
                if t_emu > sim.now:
                    sim.run(until=t_emu)  # nothing is due before t_next: the clock moves
                else:
                    self.late_ps_max = max(self.late_ps_max, sim.now - t_emu)
                self.msis += 1
                self.platform.irq.raise_msi(self.vector)
                continue
            if t_next is None:
                raise LockstepError(
                    f"deadlock: the emulator is idle and the twin raised no interrupt in "
                    f"{self.max_idle_ps / MS:.0f} ms"
                )
            sim.run(until=t_next)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``platform.call`` in lockstep: run ``fn(*args)`` as a process to completion."""
        proc = self.platform.sim.spawn(fn, *args)
        self.run(lambda: proc.finished)
        if proc.exception is not None:
            raise proc.exception
        return proc.result


def rtl_backend(bench: PtdmaBench, lockstep: Lockstep) -> Backend:
    """The co-validation backend over the twin (build the ``Lockstep`` in cocotb context)."""
    k = Kernel(bench.platform)
    return Backend("rtl", bench.platform, k, lockstep.call,
                   info={"lockstep": lockstep, "proxy": lockstep.proxy})
