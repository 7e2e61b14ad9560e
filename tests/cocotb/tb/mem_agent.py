"""Memory agent: an AXI4 slave that serves the twin's master port from ``PhysicalMemory``.

The device's memory port of the Verilog twin is served from the emulator's physical memory
(``emulator.memory.PhysicalMemory``), through a cocotbext-axi ``Region`` subclass, so the
bench, the Python model and the driver ports all see one memory. Unlike cocotbext-axi's
``AxiRam``/``AxiSlave`` (one burst at a time, no latency), this agent pipelines bursts: each
AR/AW gets the NUMA latency of ``emulator.numa_timing.NumaTiming`` (initiator = the engine's
node, target = the node of the address), so up to RD_SLOTS reads overlap as on the platform
and completion times can be compared with the Python model. Faults are injected by address
range (SLVERR or DECERR per beat), unmapped addresses answer DECERR, and every channel takes
a cocotbext-axi pause generator (back-pressure / idle insertion).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import cocotb
import numpy as np
from cocotb.queue import Queue
from cocotb.triggers import Timer
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiBus
from cocotbext.axi.address_space import Region
from cocotbext.axi.axi_channels import (
    AxiARSink,
    AxiAWSink,
    AxiBSource,
    AxiRSource,
    AxiWSink,
)

from emulator.memory import BusError, PhysicalMemory
from emulator.numa_timing import NumaTiming

OKAY, SLVERR, DECERR = 0, 2, 3


class PhysMemRegion(Region):
    """cocotbext-axi ``Region`` backed by the emulator's ``PhysicalMemory`` (48-bit space)."""

    def __init__(self, mem: PhysicalMemory, size: int = 1 << 48) -> None:
        super().__init__(size)
        self.mem = mem

    async def _read(self, address: int, length: int, **kwargs: Any) -> bytes:
        return bytes(self.mem.read(address, length))

    async def _write(self, address: int, data: bytes, **kwargs: Any) -> None:
        self.mem.write(address, np.frombuffer(bytes(data), dtype=np.uint8))


@dataclass
class Fault:
    """An injected bus error: accesses of ``side`` ('read'/'write') inside [lo, hi)."""

    lo: int
    hi: int
    resp: int  # SLVERR or DECERR
    side: str

    def hits(self, addr: int, n: int, side: str) -> bool:
        return side == self.side and addr < self.hi and self.lo < addr + n


@dataclass
class AxiStats:
    """What the agent saw: bursts, beats, bytes written and the largest read overlap."""

    ar: int = 0
    aw: int = 0
    r_beats: int = 0
    w_beats: int = 0
    bytes_written: int = 0
    max_reads_in_flight: int = 0
    reads_in_flight: int = 0
    page_crossings: int = 0
    read_log: list[tuple[int, int, int]] = field(default_factory=list)  # (time_ps, addr, beats)


class AxiMemAgent:
    """Pipelined AXI4 slave over ``PhysMemRegion`` with NUMA latency and fault injection."""

    def __init__(
        self,
        dut: Any,
        prefix: str,
        clock: Any,
        reset: Any,
        region: PhysMemRegion,
        timing: NumaTiming | None = None,
        initiator_node: int = 0,
        latency_scale: float = 1.0,
    ) -> None:
        bus = AxiBus.from_prefix(dut, prefix)
        self.region = region
        self.mem = region.mem
        self.timing = timing
        self.node = initiator_node
        self.latency_scale = latency_scale
        self.faults: list[Fault] = []
        self.stats = AxiStats()
        self.ar = AxiARSink(bus.read.ar, clock, reset)
        self.r = AxiRSource(bus.read.r, clock, reset)
        self.aw = AxiAWSink(bus.write.aw, clock, reset)
        self.w = AxiWSink(bus.write.w, clock, reset)
        self.b = AxiBSource(bus.write.b, clock, reset)
        for ch in (self.ar, self.r, self.aw, self.w, self.b):
            ch.log.setLevel(logging.WARNING)
        self.width = len(self.r.bus.rdata)
        self.lanes = self.width // 8
        self._rq: Queue[tuple[int, Any]] = Queue()
        self._bq: Queue[tuple[int, Any]] = Queue()
        self.on_write: list[Callable[[int, bytes], None]] = []
        self._tasks = [
            cocotb.start_soon(self._ar_loop()),
            cocotb.start_soon(self._r_loop()),
            cocotb.start_soon(self._aw_loop()),
            cocotb.start_soon(self._b_loop()),
        ]

    # ------------------------------------------------------------------ configuration
    def inject(self, lo: int, hi: int, resp: int, side: str) -> Fault:
        """Answer ``resp`` to ``side`` accesses overlapping [lo, hi)."""
        f = Fault(lo, hi, resp, side)
        self.faults.append(f)
        return f

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_pause_generators(
        self,
        ar: Iterable[int] | None = None,
        r: Iterable[int] | None = None,
        aw: Iterable[int] | None = None,
        w: Iterable[int] | None = None,
        b: Iterable[int] | None = None,
    ) -> None:
        """cocotbext-axi pause generators per channel (1 = stall this cycle)."""
        for ch, gen in ((self.ar, ar), (self.r, r), (self.aw, aw), (self.w, w), (self.b, b)):
            if gen is None:
                ch.clear_pause_generator()
            else:
                ch.set_pause_generator(iter(gen))

    # ------------------------------------------------------------------ timing
    def _latency_ps(self, addr: int, write: bool) -> int:
        if self.timing is None:
            return 0
        try:
            target = self.mem.node_of(addr)
        except Exception:  # unmapped: the error answers after a local latency
            target = self.node
        if write:
            ps = self.timing.write_latency_ps(self.node, target)
        else:
            ps = self.timing.read_latency_ps(self.node, target)
        return int(ps * self.latency_scale)

    def _resp(self, addr: int, n: int, side: str) -> int:
        for f in self.faults:
            if f.hits(addr, n, side):
                return f.resp
        return OKAY if self.mem.is_ram(addr, n) else DECERR

    # ------------------------------------------------------------------ read path
    async def _ar_loop(self) -> None:
        while True:
            ar = await self.ar.recv()
            now = int(get_sim_time("ps"))
            addr = int(ar.araddr)
            self.stats.ar += 1
            self.stats.reads_in_flight += 1
            self.stats.max_reads_in_flight = max(
                self.stats.max_reads_in_flight, self.stats.reads_in_flight
            )
            self._rq.put_nowait((now + self._latency_ps(addr, False), ar))

    async def _r_loop(self) -> None:
        while True:
            due, ar = await self._rq.get()
            now = int(get_sim_time("ps"))
            if due > now:
                await Timer(due - now, unit="ps")
            addr = int(ar.araddr)
            beats = int(ar.arlen) + 1
            size = 1 << int(ar.arsize)
            base = addr - addr % self.lanes
            if (base & 0xFFF) + beats * self.lanes > 0x1000:
                self.stats.page_crossings += 1
            self.stats.read_log.append((now, addr, beats))
            for n in range(beats):
                a = base + n * self.lanes
                resp = self._resp(a, self.lanes, "read")
                data = 0
                if resp == OKAY:
                    try:
                        data = int.from_bytes(await self.region.read(a, self.lanes), "little")
                    except BusError:
                        resp = DECERR
                r = self.r._transaction_obj()
                r.rid = int(ar.arid)
                r.rdata = data
                r.rresp = resp
                r.rlast = n == beats - 1
                self.r.send_nowait(r)
                self.stats.r_beats += 1
            del size
            self.stats.reads_in_flight -= 1

    # ------------------------------------------------------------------ write path
    async def _aw_loop(self) -> None:
        while True:
            aw = await self.aw.recv()
            addr = int(aw.awaddr)
            beats = int(aw.awlen) + 1
            base = addr - addr % self.lanes
            self.stats.aw += 1
            if (base & 0xFFF) + beats * self.lanes > 0x1000:
                self.stats.page_crossings += 1
            worst = OKAY
            for n in range(beats):
                w = await self.w.recv()
                a = base + n * self.lanes
                strb = int(w.wstrb)
                data = _lanes(w.wdata, strb, self.lanes)
                self.stats.w_beats += 1
                if bool(int(w.wlast)) != (n == beats - 1):
                    raise AssertionError(f"WLAST wrong on beat {n} of {beats} at {addr:#x}")
                resp = self._resp(a, self.lanes, "write") if strb else OKAY
                if resp == OKAY and strb:
                    for lo, hi in _runs(strb, self.lanes):
                        try:
                            await self.region.write(a + lo, data[lo:hi])
                        except BusError:
                            resp = DECERR
                            break
                        self.stats.bytes_written += hi - lo
                        for cb in self.on_write:
                            cb(a + lo, data[lo:hi])
                worst = max(worst, resp)
            now = int(get_sim_time("ps"))
            b = self.b._transaction_obj()
            b.bid = int(aw.awid)
            b.bresp = worst
            self._bq.put_nowait((now + self._latency_ps(addr, True), b))

    async def _b_loop(self) -> None:
        while True:
            due, b = await self._bq.get()
            now = int(get_sim_time("ps"))
            if due > now:
                await Timer(due - now, unit="ps")
            self.b.send_nowait(b)


def _lanes(value: Any, strb: int, lanes: int) -> bytes:
    """Write data as bytes; X/Z is allowed only on lanes whose strobe is off."""
    if value.is_resolvable:
        return int(value).to_bytes(lanes, "little")
    bits = str(value)  # MSB first
    out = bytearray(lanes)
    for i in range(lanes):
        chunk = bits[len(bits) - 8 * (i + 1) : len(bits) - 8 * i]
        if strb >> i & 1:
            if not set(chunk) <= {"0", "1"}:
                raise AssertionError(f"WDATA lane {i} is {chunk} with its strobe set")
            out[i] = int(chunk, 2)
    return bytes(out)


def _runs(strb: int, lanes: int) -> Iterator[tuple[int, int]]:
    """Contiguous [lo, hi) byte-lane runs of a write strobe."""
    lo = None
    for i in range(lanes + 1):
        on = i < lanes and bool(strb >> i & 1)
        if on and lo is None:
            lo = i
        elif not on and lo is not None:
            yield lo, i
            lo = None


def random_pauses(rng: np.random.Generator, p_stall: float, burst: int = 4) -> Iterator[int]:
    """An endless pause pattern: stall bursts of up to ``burst`` cycles with probability p."""
    while True:
        if rng.random() < p_stall:
            yield from itertools.repeat(1, int(rng.integers(1, burst + 1)))
        else:
            yield 0
