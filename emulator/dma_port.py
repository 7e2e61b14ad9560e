"""A device's memory master port: DMA reads and writes through the IOMMU into RAM.

Devices never touch ``PhysicalMemory`` directly; they go through their port, so the IOMMU
and the bus decide what they may reach. Every check happens before a byte moves.
"""

from __future__ import annotations

import numpy as np

from .iommu import Iommu
from .memory import BusError, PhysicalMemory, RamRegion


class DmaPort:
    """Memory access on behalf of one device (``device`` names its IOMMU domain)."""

    def __init__(self, mem: PhysicalMemory, iommu: Iommu, device: str, node: int) -> None:
        self.mem = mem
        self.iommu = iommu
        self.device = device
        self.node = node
        # False: ``stamp`` is always None, so the device translates every access (no IOTLB):
        # the reference its reuse of translations is tested against.
        self.reuse_translations = True

    def resolve(self, addr: int, size: int, write: bool) -> list[tuple[int, int]]:
        """Physical pieces of a device access; raises IommuFault or BusError, moves nothing."""
        pieces = self.iommu.translate(self.device, addr, size, write)
        for phys, n in pieces:
            if not self.mem.is_ram(phys, n):
                raise BusError(phys, n, "DMA write" if write else "DMA read")
        return pieces

    def resolve_node(self, addr: int, size: int, write: bool) -> tuple[int, list[tuple[int, int]]]:
        """``(mem.node_of(pieces[0][0]), resolve(addr, size, write))``: a translation of one
        piece inside one RAM region (every DMA segment) answers its RAM check and its node
        with one region lookup; anything else takes ``resolve`` and ``node_of``."""
        pieces = self.iommu.translate(self.device, addr, size, write)
        if len(pieces) == 1:
            phys, n = pieces[0]
            r = self.mem.find(phys)
            if type(r) is RamRegion and phys + n <= r.base + r.size:
                return r.node, pieces
        for phys, n in pieces:
            if not self.mem.is_ram(phys, n):
                raise BusError(phys, n, "DMA write" if write else "DMA read")
        return self.mem.node_of(pieces[0][0]), pieces

    def stamp(self) -> tuple[int, int] | None:
        """The IOMMU and address-map generations: pieces from ``resolve`` stay exact while
        this is unchanged (an IOTLB entry); None while IOMMU faults are armed, because then
        every translation must be made (an armed fault fires on the next ones)."""
        if self.iommu.injected or not self.reuse_translations:
            return None
        return (self.iommu.generation, self.mem.generation)

    def node_of(self, addr: int, write: bool = False) -> int:
        phys = self.iommu.translate(self.device, addr, 1, write)[0][0]
        return self.mem.node_of(phys)

    def read(self, addr: int, size: int) -> np.ndarray:
        return self.read_pieces(self.resolve(addr, size, False), size)

    def read_pieces(self, pieces: list[tuple[int, int]], size: int) -> np.ndarray:
        """The ``size`` bytes of an access already resolved into ``pieces`` (``resolve``)."""
        if len(pieces) == 1:
            return self.mem.read(pieces[0][0], size)
        return np.concatenate([self.mem.read(p, n) for p, n in pieces])

    def read_words_pieces(self, pieces: list[tuple[int, int]], size: int) -> list[int]:
        """``read_pieces(pieces, size).view("<u4").tolist()``: the access's 32-bit words."""
        if len(pieces) == 1:
            return self.mem.read_words(pieces[0][0], size >> 2)
        return self.read_pieces(pieces, size).view("<u4").tolist()

    def write(self, addr: int, data: np.ndarray) -> None:
        pieces = self.resolve(addr, data.size, True)
        pos = 0
        for p, n in pieces:
            self.mem.write(p, data[pos : pos + n])
            pos += n

    def copy(self, dst: int, src: int, size: int) -> None:
        """Device-side memcpy; both ranges are checked before anything moves."""
        src_pieces = self.resolve(src, size, False)
        dst_pieces = self.resolve(dst, size, True)
        self.copy_pieces(dst_pieces, src_pieces, size)

    def copy_pieces(self, dst_pieces: list[tuple[int, int]], src_pieces: list[tuple[int, int]],
                    size: int) -> None:
        """``copy`` of ranges already resolved (``resolve``) into physical pieces."""
        if len(src_pieces) == 1 and len(dst_pieces) == 1:
            self.mem.copy(dst_pieces[0][0], src_pieces[0][0], size)
            return
        data = np.concatenate([self.mem.read(p, n) for p, n in src_pieces])
        pos = 0
        for p, n in dst_pieces:
            self.mem.write(p, data[pos : pos + n])
            pos += n

    def read_u32(self, addr: int) -> int:
        return int(self.read(addr, 4).view("<u4")[0])

    def write_u32(self, addr: int, value: int) -> None:
        self.write(addr, np.array([value & 0xFFFFFFFF], "<u4").view(np.uint8))
