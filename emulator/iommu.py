"""IOMMU: per-device I/O page tables between a DMA engine and physical memory.

Modes (ptdma-model §8): ``off`` and ``passthrough`` let a device reach any RAM address
(IOVA = physical); ``translated`` lets it reach only pages mapped for it, with the
permission they were mapped with. A device access outside its mappings raises
``IommuFault`` before any byte moves (the engine turns it into ILLEGAL_MEM_ADDR).

Fault injection (``emulator.fault_injection``): ``inject_fault(phys, size)`` makes the next
translations that reach a *mapped* page of that physical range fault anyway (an I/O page
fault on a valid mapping, as after a stale or corrupted IOTLB entry). Nothing is checked
while no such fault is armed.

``Iommu.generation`` changes with every mapping, unmapping, mode change and fault
injection: a device may keep a translation while it holds and no fault is armed
(``DmaPort.stamp``), as an IOTLB keeps entries until an invalidation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .frame_allocator import PAGE_SHIFT, PAGE_SIZE

IOMMU_MODES = ("off", "passthrough", "translated")
IOVA_BASE = 0x1_0000_0000  # IOVAs handed out from 4 GiB up (DMA_BIT_MASK(48) devices)
_STEP2 = np.arange(0, 2 << 16, 2, dtype=np.int64)  # entry steps of a contiguous run (256 MiB)
IOVA_TABLE_INITIAL = 1 << 16  # entries (4 KiB IOVA pages) of a new domain's page table
_VECTOR_PAGES = 24  # translations longer than this many pages take the array path (measured
# crossover: the page loop costs ~0.7 us a page, the array walk ~17 us whatever the length;
# up to this length the entries are checked as Python ints, no numpy call)


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


class IovaPageTable:
    """IOVA page -> (physical page, writable), as one array over the domain's IOVA range.

    IOVAs are handed out upwards from ``IOVA_BASE``, so the table is an int64 array indexed
    by ``page - IOVA_BASE page`` (0 = unmapped, else ``(phys_page << 1 | writable) + 1``),
    grown fourfold; a whole mapping, unmapping or translation of a long range is one
    numpy operation instead of a dict entry (and two objects) per 4 KiB page. Pages below
    the base (never handed out by ``Iommu.map``) live in a small dict. Change it only
    through ``Iommu`` (map/unmap), which bumps ``Iommu.generation`` for the devices that
    keep translations.
    """

    __slots__ = ("base", "low", "table")

    def __init__(self, base_page: int = IOVA_BASE >> PAGE_SHIFT) -> None:
        self.base = base_page
        # 256 MiB of IOVA before the first growth. The zeros cost no host memory until
        # written (calloc maps them lazily); a growth does, and its mmap waits while the
        # prefault thread holds the mmap lock (up to 10 ms each were seen mid-migration).
        self.table = np.zeros(IOVA_TABLE_INITIAL, np.int64)
        self.low: dict[int, tuple[int, bool]] = {}

    def get(self, page: int, default: tuple[int, bool] | None = None) -> tuple[int, bool] | None:
        """(physical page, writable) of an IOVA page, or ``default``."""
        i = page - self.base
        if i < 0:
            return self.low.get(page, default)
        if i >= len(self.table):
            return default
        v = self.table.item(i)
        return default if v == 0 else ((v - 1) >> 1, bool((v - 1) & 1))

    def set_range(self, page: int, phys_page: int, npages: int, writable: bool) -> None:
        """Map ``npages`` IOVA pages from ``page`` to physical pages from ``phys_page``."""
        i = page - self.base
        if i < 0:  # the part below the array's range
            below = min(npages, -i)
            for k in range(below):
                self.low[page + k] = (phys_page + k, writable)
            if below == npages:
                return
            page, phys_page, npages, i = page + below, phys_page + below, npages - below, 0
        t = self.reserve(i + npages)
        w = 1 + int(writable)
        if npages == 1:
            t[i] = (phys_page << 1) + w
        else:
            t[i : i + npages] = np.arange(phys_page << 1, (phys_page + npages) << 1, 2) + w

    def reserve(self, n: int) -> np.ndarray:
        """The array, grown fourfold (zero filled) until it has at least ``n`` entries."""
        t = self.table
        if n > len(t):
            size = len(t)
            while size < n:
                size *= 4
            grown = np.zeros(size, np.int64)
            grown[: len(t)] = t
            self.table = t = grown
        return t

    def clear_range(self, page: int, npages: int) -> int:
        """Unmap ``npages`` IOVA pages from ``page``; returns how many were mapped."""
        n = 0
        end = page + npages
        if page < self.base:
            for p in range(page, min(end, self.base)):
                n += self.low.pop(p, None) is not None
        lo = max(page - self.base, 0)
        hi = min(end - self.base, len(self.table))
        if hi - lo == 1:
            if self.table[lo]:
                self.table[lo] = 0
                n += 1
        elif hi > lo:
            seg = self.table[lo:hi]
            n += int(np.count_nonzero(seg))
            seg[:] = 0
        return n

    def entries(self, page: int, npages: int) -> np.ndarray:
        """The encoded entries of ``npages`` IOVA pages from ``page`` (0 where unmapped)."""
        out = np.zeros(npages, np.int64)
        lo = max(page - self.base, 0)
        hi = min(page + npages - self.base, len(self.table))
        if hi > lo:
            out[lo - (page - self.base) : hi - (page - self.base)] = self.table[lo:hi]
        if page < self.base:
            for k in range(min(npages, self.base - page)):
                e = self.low.get(page + k)
                if e is not None:
                    out[k] = (e[0] << 1) + 1 + int(e[1])
        return out


@dataclass
class IommuDomain:
    """One device's I/O page table: IOVA page -> (physical page, writable)."""

    device: str
    pages: IovaPageTable = field(default_factory=IovaPageTable)
    next_iova: int = IOVA_BASE
    faults: int = 0
    mapped_pages: int = 0


class Iommu:
    """The platform IOMMU; one domain per device."""

    def __init__(self, mode: str = "off") -> None:
        self._mode = "off"
        self.translating = False  # mode == "translated", kept as a plain attribute (hot path)
        # Bumped by anything that can change what a translation returns (map, unmap, mode,
        # fault injection): a device may keep a translation while this is unchanged and
        # nothing is armed (an IOTLB entry, invalidated by every page-table update).
        self.generation = 0
        self._set_mode(mode)  # not ``self.mode = mode``: a mypyc-compiled setter called
        # from __init__ loses the ValueError it raises (SystemError instead)
        self.domains: dict[str, IommuDomain] = {}
        self.injected: list[InjectedIommuFault] = []  # armed faults (fault injection)

    @property
    def mode(self) -> str:
        """"off" | "passthrough" | "translated"."""
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        self._set_mode(mode)

    def _set_mode(self, mode: str) -> None:
        if mode not in IOMMU_MODES:
            raise ValueError(f"IOMMU mode {mode!r} not in {IOMMU_MODES}")
        self._mode = mode
        self.translating = mode == "translated"
        self.generation += 1

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
        self.generation += 1
        d = self.domain(device)
        first = phys // PAGE_SIZE
        last = (phys + max(size, 1) - 1) // PAGE_SIZE
        npages = last - first + 1
        iova_page = d.next_iova // PAGE_SIZE
        d.next_iova += npages * PAGE_SIZE
        d.pages.set_range(iova_page, first, npages, writable)
        d.mapped_pages += npages
        return iova_page * PAGE_SIZE + phys % PAGE_SIZE

    def map_sg(self, device: str, phys: Sequence[int] | np.ndarray,
               sizes: Sequence[int] | np.ndarray, writable: bool = True) -> np.ndarray:
        """``map`` of each range ``(phys[k], sizes[k])`` in order, as one vectorised update:
        the ranges get consecutive page-granular IOVAs (one IOVA range for the whole list,
        as ``iommu_dma_map_sg`` allocates it) and their pages are written to the page table
        in one slice; returns each range's IOVA (int64), exactly as ``map`` would one by
        one."""
        ph = np.asarray(phys, np.int64)
        if not self.translating:
            return ph.copy()
        n = len(ph)
        if n == 0:
            return ph.copy()
        self.generation += 1
        d = self.domain(device)
        tbl = d.pages
        sz = np.asarray(sizes, np.int64)
        first = ph >> PAGE_SHIFT
        npages = ((ph + np.maximum(sz, 1) - 1) >> PAGE_SHIFT) - first + 1
        starts = np.cumsum(npages) - npages  # each range's first page inside the IOVA range
        total = int(starts[-1] + npages[-1])
        iova_page = d.next_iova // PAGE_SIZE
        i = iova_page - tbl.base
        w = 1 + int(writable)
        if i < 0:  # below the array (never handed out by map): the per-range path
            for k in range(n):
                tbl.set_range(iova_page + int(starts[k]), int(first[k]), int(npages[k]),
                              writable)
        elif total == n:  # one page per range (4 KiB entries): no expansion needed
            tbl.reserve(i + n)[i : i + n] = (first << 1) + w
        else:  # page j of the IOVA range: physical page first[k] + (j - starts[k])
            pages = np.repeat(first - starts, npages) + np.arange(total, dtype=np.int64)
            tbl.reserve(i + total)[i : i + total] = (pages << 1) + w
        d.next_iova += total * PAGE_SIZE
        d.mapped_pages += total
        return (starts + iova_page) * PAGE_SIZE + (ph & (PAGE_SIZE - 1))

    def unmap(self, device: str, iova: int, size: int) -> None:
        if not self.translating:
            return
        self.generation += 1
        d = self.domain(device)
        first = iova // PAGE_SIZE
        last = (iova + max(size, 1) - 1) // PAGE_SIZE
        d.mapped_pages -= d.pages.clear_range(first, last - first + 1)

    def unmap_many(self, device: str, ranges: Sequence[tuple[int, int]]) -> None:
        """``unmap`` of each ``(iova, size)`` in order; ranges whose pages follow each other
        (a table's merged segments) are cleared as one run of the page table, which counts
        and clears exactly the pages the separate unmaps would."""
        if not self.translating or not ranges:
            return
        self.generation += 1
        d = self.domain(device)
        clear = d.pages.clear_range
        run_first = run_end = -1  # the pending run of IOVA pages [run_first, run_end)
        unmapped = 0
        for iova, size in ranges:
            first = iova // PAGE_SIZE
            end = (iova + max(size, 1) - 1) // PAGE_SIZE + 1
            if first == run_end:
                run_end = end
                continue
            if run_end >= 0:
                unmapped += clear(run_first, run_end - run_first)
            run_first, run_end = first, end
        unmapped += clear(run_first, run_end - run_first)
        d.mapped_pages -= unmapped

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
        self.generation += 1
        return f

    def clear_injected(self) -> list[InjectedIommuFault]:
        """Disarm every injected fault; returns them (with their ``hits``)."""
        out = list(self.injected)
        self.injected.clear()
        self.generation += 1
        return out

    def _injected_hit(self, d: IommuDomain, phys_page: int, iova: int, write: bool) -> bool:
        """Consume an armed fault matching this page walk, if any."""
        for f in self.injected:
            if f.matches(d.device, phys_page, write):
                f.count -= 1
                f.hits += 1
                f.fired.append((d.device, iova, write))
                self.generation += 1
                if f.count <= 0:
                    self.injected.remove(f)
                return True
        return False

    def translate(self, device: str, iova: int, size: int, write: bool) -> list[tuple[int, int]]:
        """Physical pieces (address, length) of an access, or IommuFault (nothing moves)."""
        if not self.translating:
            return [(iova, size)]
        d = self.domains.get(device)  # self.domain(device), inlined
        if d is None:
            d = self.domain(device)
        if not self.injected and size > 0:
            tbl = d.pages
            first = iova // PAGE_SIZE
            i0 = first - tbl.base
            n = (iova + size - 1) // PAGE_SIZE - first + 1
            if i0 >= 0 and i0 + n <= len(tbl.table):
                if n <= _VECTOR_PAGES:
                    # A few pages (a descriptor's 64 KiB, a ring slot): the entries as Python
                    # ints, no numpy call on a tiny array (each costs microseconds).
                    short = tbl.table[i0 : i0 + n].tolist()
                    v0 = short[0]
                    # The common case in one comparison: every page mapped with the first
                    # page's permission to consecutive physical pages (v0, v0 + 2, ...).
                    # Anything else (scattered pages, a fault) takes the page walk below.
                    if (
                        v0
                        and (not write or (v0 - 1) & 1)
                        and (n == 1 or short == list(range(v0, v0 + 2 * n, 2)))
                    ):
                        return [(((v0 - 1) >> 1) * PAGE_SIZE + iova % PAGE_SIZE, size)]
                else:
                    ents = tbl.table[i0 : i0 + n]
                    v0 = ents.item(0)
                    if (v0 and (not write or (v0 - 1) & 1)
                            and np.array_equal(ents, _STEP2[:n] + v0)):
                        return [(((v0 - 1) >> 1) * PAGE_SIZE + iova % PAGE_SIZE, size)]
            if size > _VECTOR_PAGES * PAGE_SIZE:
                return self._translate_range(d, iova, size, write)
        tbl = d.pages
        table, base = tbl.table, tbl.base
        injected = self.injected
        out: list[tuple[int, int]] = []
        cur = cur_len = 0  # the physical piece being extended (cur_len 0: none yet)
        a = iova
        end = iova + size
        while a < end:  # page by page; physically contiguous pages merge into one piece
            page, off = divmod(a, PAGE_SIZE)
            i = page - base
            if 0 <= i < len(table):
                v = table.item(i)  # IovaPageTable.get, inlined
                entry = None if v == 0 else ((v - 1) >> 1, bool((v - 1) & 1))
            else:
                entry = tbl.get(page)
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

    @staticmethod
    def _translate_range(d: IommuDomain, iova: int, size: int, write: bool
                         ) -> list[tuple[int, int]]:
        """``translate`` of a long access with no fault armed: the same pieces and the same
        first fault as the page-by-page walk, from one slice of the page table."""
        end = iova + size
        first = iova // PAGE_SIZE
        n = (end - 1) // PAGE_SIZE - first + 1
        ents = d.pages.entries(first, n)
        bad = ents == 0
        if write:
            bad |= ((ents - 1) & 1) == 0
        if bad.any():
            k = int(np.argmax(bad))
            a = max(iova, (first + k) * PAGE_SIZE)
            d.faults += 1
            why = "no mapping" if ents[k] == 0 else "read-only mapping"
            raise IommuFault(d.device, a, end - a, write, why)
        phys = (ents - 1) >> 1
        breaks = np.flatnonzero(np.diff(phys) != 1) + 1  # pages that start a new piece
        starts = [0, *breaks.tolist()]
        stops = [*breaks.tolist(), n]
        out = []
        for s, e in zip(starts, stops, strict=True):
            lo = iova if s == 0 else (first + s) * PAGE_SIZE
            hi = min(end, (first + e) * PAGE_SIZE)
            out.append((int(phys[s]) * PAGE_SIZE + (lo % PAGE_SIZE), hi - lo))
        return out
