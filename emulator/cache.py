"""Last-level cache residency: which recently written pages sit in which CCD's L3.

A coarse model, page-granular and LRU per CCD, that answers the two questions the
migration workloads need (calibration.md §2, 2MB vs 256MB rows): does a CPU copy read its
source from the local L3 (fast) or from DRAM, and does a DMA read hit lines that are dirty
in a CPU cache (the read must probe the owning CCD: slower). A page lives in at most one
CCD's L3 (the owner of its modified lines). DMA writes invalidate cached copies.
"""

from __future__ import annotations

from collections import OrderedDict

from .frame_allocator import PAGE_SHIFT, PAGE_SIZE


class LlcModel:
    """Per-CCD LRU sets of resident 4 KiB pages, with a page -> owning CCD index."""

    def __init__(self, nr_ccds: int, bytes_per_ccd: int) -> None:
        self.capacity_pages = max(1, bytes_per_ccd // PAGE_SIZE)
        self.lru: list[OrderedDict[int, None]] = [OrderedDict() for _ in range(nr_ccds)]
        self.owner: dict[int, int] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _pages(addr: int, n: int) -> range:
        if n <= 0:
            return range(0)
        return range(addr >> PAGE_SHIFT, ((addr + n - 1) >> PAGE_SHIFT) + 1)

    def touch(self, ccd: int, addr: int, n: int) -> None:
        """The CCD wrote (or read for ownership) [addr, addr+n): its pages become MRU there."""
        if n <= 0:
            return
        lru = self.lru[ccd]
        owner = self.owner
        first = addr >> PAGE_SHIFT
        last = (addr + n - 1) >> PAGE_SHIFT
        cap = self.capacity_pages
        for p in range(first, last + 1):
            prev = owner.get(p)
            if prev == ccd:
                lru.move_to_end(p)
                continue
            if prev is not None:
                del self.lru[prev][p]
            lru[p] = None
            owner[p] = ccd
            if len(lru) > cap:
                victim, _ = lru.popitem(last=False)
                del owner[victim]

    def resident_bytes(self, ccd: int | None, addr: int, n: int) -> int:
        """Bytes of [addr, addr+n) resident in CCD ``ccd`` (any CCD when None)."""
        owner = self.owner
        hit = 0
        end = addr + n
        first = addr >> PAGE_SHIFT
        last = ((end - 1) >> PAGE_SHIFT) if n > 0 else first - 1
        if first == last:  # one page (a 4 KiB folio): no loop
            o = owner.get(first)
            if o is not None and (ccd is None or o == ccd):
                hit = n
            if hit:
                self.hits += 1
            else:
                self.misses += 1
            return hit
        for p in range(first, last + 1):
            o = owner.get(p)
            if o is not None and (ccd is None or o == ccd):
                lo = max(addr, p << PAGE_SHIFT)
                hi = min(end, (p + 1) << PAGE_SHIFT)
                hit += hi - lo
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        return hit

    def invalidate(self, addr: int, n: int) -> None:
        """A device wrote [addr, addr+n): drop every cached copy of those pages."""
        owner = self.owner
        for p in self._pages(addr, n):
            o = owner.pop(p, None)
            if o is not None:
                del self.lru[o][p]

    def flush(self) -> None:
        for lru in self.lru:
            lru.clear()
        self.owner.clear()
