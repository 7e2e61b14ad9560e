"""``PtSoftware`` for a translating IOMMU: the ring lives at a physical address the CPU
writes, the engine is programmed with its IOVA (what ``dma_alloc_coherent`` hands out)."""

from __future__ import annotations

from collections.abc import Sequence

from drivers.ptdma import ptdma_regs as R
from emulator.platform import Platform
from hdl_model import descriptor as D
from tests.hdl_model.ptsw import PtSoftware


class IommuPtSoftware(PtSoftware):
    """One engine's software with its ring mapped through the IOMMU."""

    def __init__(self, platform: Platform, pci: object, entries: int = R.CMD_Q_LEN) -> None:
        name: str = pci.dma_name  # type: ignore[attr-defined]
        node: int = pci.node  # type: ignore[attr-defined]
        self.ring_phys = platform.alloc_pages(node, 0)
        platform.mem.fill(self.ring_phys, 4096, 0)
        iova = platform.iommu.map(name, self.ring_phys, 4096, writable=True)
        super().__init__(platform, pci, entries, ring_addr=iova)

    def put(self, desc: D.Descriptor | Sequence[int]) -> int:
        """Copy a descriptor into the next slot (CPU side: physical); returns its IOVA."""
        raw = desc.pack() if isinstance(desc, D.Descriptor) else D.Descriptor.from_dwords(
            list(desc)).pack()
        iova = self.slot_addr(self.qidx)
        self.p.mem.write(self.ring_phys + (iova - self.ring), raw)
        self.qidx = (self.qidx + 1) % self.entries
        return iova
