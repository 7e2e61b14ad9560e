"""IOMMU: per-device I/O page tables between a DMA engine and physical memory.

Modes (ptdma-model §8): ``off`` and ``passthrough`` let a device reach any RAM address
(IOVA = physical); ``translated`` lets it reach only pages mapped for it, with the
permission they were mapped with. A device access outside its mappings raises
``IommuFault`` before any byte moves (the engine turns it into ILLEGAL_MEM_ADDR).

Fault injection (``emulator.fault_injection``): ``inject_fault(phys, size)`` makes the next
translations that reach a *mapped* page of that physical range fault anyway (an I/O page
fault on a valid mapping, as after a stale or corrupted IOTLB entry). Nothing is checked
while no such fault is armed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .frame_allocator import PAGE_SIZE

IOMMU_MODES = ("off", "passthrough", "translated")
IOVA_BASE = 0x1_0000_0000  # IOVAs handed out from 4 GiB up (DMA_BIT_MASK(48) devices)


class IommuFault(Exception):
    """A device access the IOMMU refused (no mapping, or a write to a read-only mapping)."""

    def __init__(self, device: str, iova: int, size: int, write: bool, why: str) -> None:
        kind = "write" if write else "read"
        super().__init__(f"IOMMU fault: {device} {kind} of {size} B at IOVA {iova:#x}: {why}")
        self.device = device
        self.iova = iova
        self.size = size
        self.write = write


@dataclass
class InjectedIommuFault:
    """An armed fault: translations reaching physical pages [first, last] fail ``count``
    more times (for ``device`` only, or any; for writes, reads, or both when None)."""

    first_page: int
    last_page: int
    device: str | None = None
    write: bool | None = None
    count: int = 1
    hits: int = 0
    fired: list[tuple[str, int, bool]] = field(default_factory=list)  # (device, iova, write)

    def matches(self, device: str, phys_page: int, write: bool) -> bool:
        """True when a translation of ``phys_page`` by ``device`` falls under this fault."""
        return (
            self.first_page <= phys_page <= self.last_page
            and (self.device is None or self.device == device)
            and (self.write is None or self.write == write)
        )


@dataclass
class IommuDomain:
    """One device's I/O page table: IOVA page -> (physical page, writable)."""

    device: str
    pages: dict[int, tuple[int, bool]] = field(default_factory=dict)
    next_iova: int = IOVA_BASE
    faults: int = 0
    mapped_pages: int = 0


class Iommu:
    """The platform IOMMU; one domain per device."""

    def __init__(self, mode: str = "off") -> None:
        self._mode = "off"
        self.translating = False  # mode == "translated", kept as a plain attribute (hot path)
        self.mode = mode
        self.domains: dict[str, IommuDomain] = {}
        self.injected: list[InjectedIommuFault] = []  # armed faults (fault injection)

    @property
    def mode(self) -> str:
        """"off" | "passthrough" | "translated"."""
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        if mode not in IOMMU_MODES:
            raise ValueError(f"IOMMU mode {mode!r} not in {IOMMU_MODES}")
        self._mode = mode
        self.translating = mode == "translated"

    def domain(self, device: str) -> IommuDomain:
        d = self.domains.get(device)
        if d is None:
            d = self.domains[device] = IommuDomain(device)
        return d

    def map(self, device: str, phys: int, size: int, writable: bool = True) -> int:
        """Map [phys, phys+size) for ``device``; returns the IOVA of ``phys``.

        Without translation the IOVA is the physical address (``dma_map_page`` on
        passthrough). With it, a fresh IOVA range is allocated, page granular, so the
        offset inside the first page is kept.
        """
        if not self.translating:
            return phys
        d = self.domain(device)
        first = phys // PAGE_SIZE
        last = (phys + max(size, 1) - 1) // PAGE_SIZE
        npages = last - first + 1
        iova_page = d.next_iova // PAGE_SIZE
        d.next_iova += npages * PAGE_SIZE
        pages = d.pages
        if npages == 1:  # one page (a 4 KiB folio): no loop
            pages[iova_page] = (first, writable)
        else:
            for i in range(npages):
                pages[iova_page + i] = (first + i, writable)
        d.mapped_pages += npages
        return iova_page * PAGE_SIZE + phys % PAGE_SIZE

    def unmap(self, device: str, iova: int, size: int) -> None:
        if not self.translating:
            return
        d = self.domain(device)
        first = iova // PAGE_SIZE
        last = (iova + max(size, 1) - 1) // PAGE_SIZE
        for p in range(first, last + 1):
            if d.pages.pop(p, None) is not None:
                d.mapped_pages -= 1

    def inject_fault(
        self,
        phys: int,
        size: int = PAGE_SIZE,
        *,
        device: str | None = None,
        write: bool | None = None,
        count: int = 1,
    ) -> InjectedIommuFault:
        """Arm a fault on the mapped pages of [phys, phys+size): the next ``count``
        translations reaching one of them raise ``IommuFault`` (translated mode only)."""
        if not self.translating:
            raise ValueError(f"IOMMU mode {self.mode!r} does not translate: nothing to fault")
        if count < 1:
            raise ValueError("count must be >= 1")
        f = InjectedIommuFault(phys // PAGE_SIZE, (phys + max(size, 1) - 1) // PAGE_SIZE,
                               device, write, count)
        self.injected.append(f)
        return f

    def clear_injected(self) -> list[InjectedIommuFault]:
        """Disarm every injected fault; returns them (with their ``hits``)."""
        out = list(self.injected)
        self.injected.clear()
        return out

    def _injected_hit(self, d: IommuDomain, phys_page: int, iova: int, write: bool) -> bool:
        """Consume an armed fault matching this page walk, if any."""
        for f in self.injected:
            if f.matches(d.device, phys_page, write):
                f.count -= 1
                f.hits += 1
                f.fired.append((d.device, iova, write))
                if f.count <= 0:
                    self.injected.remove(f)
                return True
        return False

    def translate(self, device: str, iova: int, size: int, write: bool) -> list[tuple[int, int]]:
        """Physical pieces (address, length) of an access, or IommuFault (nothing moves)."""
        if not self.translating:
            return [(iova, size)]
        d = self.domain(device)
        get = d.pages.get
        injected = self.injected
        out: list[tuple[int, int]] = []
        cur = cur_len = 0  # the physical piece being extended (cur_len 0: none yet)
        a = iova
        end = iova + size
        while a < end:  # page by page; physically contiguous pages merge into one piece
            page, off = divmod(a, PAGE_SIZE)
            entry = get(page)
            if entry is None:
                d.faults += 1
                raise IommuFault(device, a, end - a, write, "no mapping")
            phys_page, writable = entry
            if write and not writable:
                d.faults += 1
                raise IommuFault(device, a, end - a, write, "read-only mapping")
            if injected and self._injected_hit(d, phys_page, a, write):
                d.faults += 1
                raise IommuFault(device, a, end - a, write, "injected fault")
            n = end - a
            if n > PAGE_SIZE - off:
                n = PAGE_SIZE - off
            phys = phys_page * PAGE_SIZE + off
            if cur_len and cur + cur_len == phys:
                cur_len += n
            else:
                if cur_len:
                    out.append((cur, cur_len))
                cur, cur_len = phys, n
            a += n
        if cur_len:
            out.append((cur, cur_len))
        return out
