"""A minimal PTDMA register-level test double, used only until hdl_model's engine lands.

Implements the driver-visible contract of ptdma-model §3, §5, §6 (registers, ring, status,
MSI edges, HEAD write rules, stop on error) with fixed timing. Not a model of anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.event_kernel import NS
from emulator.iommu import IommuFault
from emulator.memory import BusError
from emulator.platform import Platform


@dataclass(frozen=True)
class FakePci:
    vendor: int
    device: int
    name: str
    bar_base: int
    bar_size: int
    msi_vector: int
    node: int
    dma_name: str


Q = 0x1000


class FakePtdma:
    def __init__(self, platform: Platform, idx: int) -> None:
        self.p = platform
        base = platform.engine_mmio_base(idx)
        node = platform.engine_node(idx)
        vec = platform.irq.allocate_vector(f"ptdma{idx}")
        self.pci = FakePci(0x1022, 0x1498, f"ptdma{idx}", base, 0x10000, vec, node,
                           f"0000:{idx:02x}:00.2")
        self.port = platform.dma_port(self.pci.dma_name, node)
        self.regs: dict[int, int] = {}
        self.int_status = 0
        self.int_enable = 0
        self.control = 0
        self.head = 0
        self.tail = 0
        self.q_status_err = 0
        self.busy = False
        self.halted = False
        self.completed = 0
        self.line = False
        self.hang = False
        self.fail_next: int = 0
        self.delay_ns = 0
        platform.bus.map(base, 0x10000, self, self.pci.name)
        platform.devices.append(self)

    # ------------------------------------------------------------ regs
    def mmio_read(self, off: int, size: int) -> int:
        if off == Q + 0x10:
            return self.int_status
        if off == Q + 0x0C:
            return self.int_enable
        if off == Q + 0x00:
            return self.control | (2 if self.halted else 0)
        if off == Q + 0x04:
            return self.tail
        if off == Q + 0x08:
            return self.head
        if off == Q + 0x100:
            return (self.q_status_err | (0x100 if self.busy else 0)
                    | (0x200 if self.head == self.tail else 0) | (self.completed & 0xFFFF) << 16)
        if off == Q + 0x104:
            return self.int_status
        return self.regs.get(off, 0)

    def mmio_write(self, off: int, size: int, value: int) -> None:
        if off == Q + 0x10:
            self.int_status &= ~value
            if value & 2:
                self.q_status_err = 0
            self._irq()
        elif off == Q + 0x0C:
            self.int_enable = value
            self._irq()
        elif off == Q + 0x00:
            was = self.control & 1
            self.control = value & ~2
            if value & 1:
                self.halted = False
                if not was:
                    self._kick()
        elif off == Q + 0x04:
            self.tail = value
            self._kick()
        elif off == Q + 0x08:
            if not (self.control & 1) or self.halted:
                self.head = value
        else:
            self.regs[off] = value

    def _irq(self) -> None:
        line = bool(self.int_status & self.int_enable)
        if line and not self.line:
            self.p.irq.raise_msi(self.pci.msi_vector)
        self.line = line

    def _kick(self) -> None:
        if self.busy or self.halted or not (self.control & 1) or self.head == self.tail:
            return
        self.busy = True
        self.p.sim.schedule(220 * NS, self._execute)

    def _execute(self) -> None:
        base_hi = (self.control >> 16) & 0xFFFF
        addr = (base_hi << 32) | self.head
        d = self.port.read(addr, 32).view("<u4")
        length = int(d[1])
        src = int(d[2]) | (int(d[3]) & 0xFFFF) << 32
        dst = int(d[4]) | (int(d[5]) & 0xFFFF) << 32
        if self.hang:
            return
        err = 0
        if self.fail_next:
            err = self.fail_next
            self.fail_next = 0
        else:
            try:
                self.port.copy(dst, src, length)
            except (IommuFault, BusError):
                err = 0x0B
        t = int((200 + length / 12.5 + 50 + self.delay_ns) * NS)
        self.p.sim.schedule(t, self._complete, err)

    def _complete(self, err: int) -> None:
        self.busy = False
        if err:
            if not self.q_status_err:
                self.q_status_err = err
            self.int_status |= 2
            self.control &= ~1
            self.halted = True
        else:
            self.completed += 1
            ring = 32 * 32
            base = self.head & ~(ring - 1)
            self.head = base + ((self.head - base + 32) % ring)
            self.int_status |= 1
        self._irq()
        self._kick()


def attach_fake(platform: Platform, n: int) -> list[FakePtdma]:
    return [FakePtdma(platform, i) for i in range(n)]
