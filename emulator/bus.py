"""MMIO bus: device register windows in the address space, and the CPU's access costs.

Software (driver ports) reaches devices only through ``ioread32``/``iowrite32`` (and the
64-bit forms). A posted write costs the issuing CPU ``posted_write_ns`` and becomes visible
to the device when it lands; a read stalls the CPU for the full round trip and samples the
register at the midpoint, when the request reaches the device. An address that no window
claims raises ``BusError``: nothing silently reads as zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .event_kernel import NS, Simulator
from .memory import AddressSpace, BusError, MmioHandler, MmioRegion
from .presets import MmioParams


@dataclass
class MmioAccess:
    """One MMIO access, for traces: time (ps), kind 'R'/'W', address, size, value."""

    time: int
    kind: str
    addr: int
    size: int
    value: int
    region: str


class MmioBus:
    """Routes register accesses to device windows and charges their latency."""

    def __init__(self, sim: Simulator, space: AddressSpace, params: MmioParams) -> None:
        self.sim = sim
        self.space = space
        self.params = params  # (property: also sets the access times in ps used per access)
        self.reads = 0
        self.writes = 0
        self.observers: list[Callable[[MmioAccess], None]] = []
        # Register address -> its window (the address map changes only on map/unmap).
        self._windows: dict[int, MmioRegion] = {}
        self._windows_key = -1

    @property
    def params(self) -> MmioParams:
        """The access costs (``posted_write_ns``, ``read_round_trip_ns``)."""
        return self._params

    @params.setter
    def params(self, params: MmioParams) -> None:
        self._params = params
        self._posted_ps = int(params.posted_write_ns * NS)
        self._rtt_ps = int(params.read_round_trip_ns * NS)

    def map(self, base: int, size: int, handler: MmioHandler, name: str) -> MmioRegion:
        """Register a device window at ``base``."""
        region = MmioRegion(name, base, size, handler)
        self.space.add(region)
        self._windows_key = -1  # every memoized window is re-resolved
        return region

    def unmap(self, region: MmioRegion) -> None:
        self.space.remove(region)
        self._windows_key = -1

    # ------------------------------------------------------------ raw dispatch
    def _check(self, addr: int, size: int) -> None:
        if size not in (1, 2, 4, 8) or addr % size:
            raise BusError(addr, size, f"misaligned {size}-byte MMIO access")

    def _window(self, addr: int, size: int, op: str) -> MmioRegion:
        """``space.mmio_region(addr, size, op)``, memoized per register address."""
        key = self.space.generation  # a region added or removed behind the bus's back
        if key != self._windows_key:
            self._windows.clear()
            self._windows_key = key
        region = self._windows.get(addr)
        if region is None or addr + size > region.base + region.size:
            region = self.space.mmio_region(addr, size, op)
            self._windows[addr] = region
        return region

    def dispatch_read(self, addr: int, size: int) -> int:
        """Perform a register read now, without timing (device side of the access)."""
        if size not in (1, 2, 4, 8) or addr % size:
            raise BusError(addr, size, f"misaligned {size}-byte MMIO access")
        return self._read_at(self._window(addr, size, "MMIO read"), addr, size)

    def _read_at(self, region: MmioRegion, addr: int, size: int) -> int:
        value = int(region.handler.mmio_read(addr - region.base, size)) & ((1 << (8 * size)) - 1)
        self.reads += 1
        for obs in self.observers:
            obs(MmioAccess(self.sim.now, "R", addr, size, value, region.name))
        return value

    def dispatch_write(self, addr: int, size: int, value: int) -> None:
        """Perform a register write now, without timing."""
        if size not in (1, 2, 4, 8) or addr % size:
            raise BusError(addr, size, f"misaligned {size}-byte MMIO access")
        self._write_at(self._window(addr, size, "MMIO write"), addr, size, value)

    def _write_at(self, region: MmioRegion, addr: int, size: int, value: int) -> None:
        self.writes += 1
        for obs in self.observers:
            obs(MmioAccess(self.sim.now, "W", addr, size, value, region.name))
        region.handler.mmio_write(addr - region.base, size, value & ((1 << (8 * size)) - 1))

    # ------------------------------------------------------------ CPU accesses
    def read(self, addr: int, size: int = 4) -> int:
        """A CPU load from a register: stalls the calling process for the round trip.

        Called outside any process (test set-up, a debugger), the access is immediate.
        """
        sim = self.sim
        if sim._current is None:
            return self.dispatch_read(addr, size)
        rtt = self._rtt_ps
        half = rtt // 2
        # self._window(addr, size, "MMIO read"), its memo hit inlined: fail before spending
        # time on an unmapped address.
        key = self.space.generation
        region = self._windows.get(addr) if key == self._windows_key else None
        if region is None or addr + size > region.base + region.size:
            region = self._window(addr, size, "MMIO read")
        sim.sleep(half)
        if size not in (1, 2, 4, 8) or addr % size:
            raise BusError(addr, size, f"misaligned {size}-byte MMIO access")
        if self._windows_key != self.space.generation:  # the map changed meanwhile
            region = self._window(addr, size, "MMIO read")
        # self._read_at(region, addr, size), inlined (3 reads per PTDMA completion).
        value = int(region.handler.mmio_read(addr - region.base, size)) & ((1 << (8 * size)) - 1)
        self.reads += 1
        if self.observers:
            for obs in self.observers:
                obs(MmioAccess(sim.now, "R", addr, size, value, region.name))
        sim.sleep(rtt - half)
        return value

    def write(self, addr: int, value: int, size: int = 4) -> None:
        """A CPU store to a register: the CPU pays the posted-write cost, then it lands."""
        sim = self.sim
        if sim._current is None:
            self.dispatch_write(addr, size, value)
            return
        # self._window(addr, size, "MMIO write"), its memo hit inlined.
        key = self.space.generation
        region = self._windows.get(addr) if key == self._windows_key else None
        if region is None or addr + size > region.base + region.size:
            region = self._window(addr, size, "MMIO write")
        sim.sleep(self._posted_ps)
        if size not in (1, 2, 4, 8) or addr % size:
            raise BusError(addr, size, f"misaligned {size}-byte MMIO access")
        if self._windows_key != self.space.generation:  # the map changed meanwhile
            region = self._window(addr, size, "MMIO write")
        # self._write_at(region, addr, size, value), inlined (6 writes per PTDMA descriptor).
        self.writes += 1
        if self.observers:
            for obs in self.observers:
                obs(MmioAccess(sim.now, "W", addr, size, value, region.name))
        region.handler.mmio_write(addr - region.base, size, value & ((1 << (8 * size)) - 1))

    # Kernel-style names (include/asm-generic/io.h).
    def ioread32(self, addr: int) -> int:
        return self.read(addr, 4)

    def iowrite32(self, value: int, addr: int) -> None:
        self.write(addr, value, 4)

    def ioread64(self, addr: int) -> int:
        return self.read(addr, 8)

    def iowrite64(self, value: int, addr: int) -> None:
        self.write(addr, value, 8)
