"""MMIO bus: routing to device windows, errors for unmapped addresses, CPU costs."""

from __future__ import annotations

import pytest

from emulator.bus import MmioAccess
from emulator.event_kernel import NS
from emulator.memory import BusError
from emulator.platform import Platform


class RegFile:
    """A toy device: 16 32-bit registers, writes logged with their arrival time."""

    def __init__(self, plat: Platform) -> None:
        self.plat = plat
        self.regs = [0] * 16
        self.writes: list[tuple[int, int, int]] = []
        self.reads: list[int] = []

    def mmio_read(self, offset: int, size: int) -> int:
        self.reads.append(self.plat.sim.now)
        return (
            self.regs[offset // 4]
            if size == 4
            else self.regs[offset // 4] | (self.regs[offset // 4 + 1] << 32)
        )

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        self.writes.append((self.plat.sim.now, offset, value))
        self.regs[offset // 4] = value & 0xFFFFFFFF
        if size == 8:
            self.regs[offset // 4 + 1] = value >> 32


def test_routing_and_cpu_costs(platform: Platform) -> None:
    a, b = RegFile(platform), RegFile(platform)
    base = platform.engine_mmio_base(0)
    platform.bus.map(base, 0x1000, a, "a")
    platform.bus.map(base + 0x10000, 0x1000, b, "b")
    log: list[MmioAccess] = []
    platform.bus.observers.append(log.append)

    def driver() -> tuple[int, int, int]:
        platform.bus.iowrite32(0x1234, base + 8)
        t_after_write = platform.sim.now
        v = platform.bus.ioread32(base + 8)
        platform.bus.iowrite64(0xAABBCCDD_00112233, base + 0x10000)
        return v, t_after_write, platform.bus.ioread64(base + 0x10000)

    v, t_w, v64 = platform.call(driver)
    assert v == 0x1234 and v64 == 0xAABBCCDD_00112233
    assert a.regs[2] == 0x1234 and b.regs[0] == 0x00112233 and b.regs[1] == 0xAABBCCDD
    w_ps = int(platform.preset.mmio.posted_write_ns * NS)
    r_ps = int(platform.preset.mmio.read_round_trip_ns * NS)
    assert t_w == w_ps  # posted write cost charged to the CPU
    assert a.writes[0][0] == w_ps  # and the device sees it when it lands
    assert a.reads == [w_ps + r_ps // 2]  # sampled at the round trip's midpoint
    assert platform.sim.now == 2 * w_ps + 2 * r_ps
    assert [x.kind for x in log] == ["W", "R", "W", "R"]


def test_unmapped_and_misaligned_accesses_raise(platform: Platform) -> None:
    base = platform.engine_mmio_base(3)
    with pytest.raises(BusError, match="unmapped"):
        platform.bus.read(base)

    def driver() -> None:
        platform.bus.iowrite32(1, base + 4)

    with pytest.raises(BusError):
        platform.call(driver)
    platform.bus.map(base, 0x1000, RegFile(platform), "dev")
    with pytest.raises(BusError, match="misaligned"):
        platform.bus.read(base + 2, 4)
    with pytest.raises(BusError):
        platform.bus.read(base + 0x1000, 4)  # just past the window
