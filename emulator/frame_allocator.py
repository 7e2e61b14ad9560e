"""Per-node page-frame allocator: a buddy allocator for orders 0..9 plus contiguous ranges.

Like the kernel's zone allocator it hands out naturally aligned blocks of 2^order pages
and merges buddies on free. Untouched memory is kept as a bump pointer of never-used
max-order blocks, so a 64 GiB node costs nothing until it is used. ``alloc_pages_bulk``
hands out many order-N blocks at once as a numpy array (for 1 GiB migrations).
"""

from __future__ import annotations

import numpy as np

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
MAX_ORDER = 9  # 2 MiB: HPAGE_PMD_ORDER on x86-64 with 4 KiB pages


class OutOfMemory(Exception):
    """The node has no free block of the requested order (``-ENOMEM`` to callers)."""


class FrameAllocator:
    """Buddy allocator over one node's physical range [base, base+size)."""

    def __init__(self, node: int, base: int, size: int) -> None:
        block = PAGE_SIZE << MAX_ORDER
        if base % block or size % block:
            raise ValueError("node range must be 2 MiB aligned")
        self.node = node
        self.base = base
        self.size = size
        self._bump = base  # start of never-allocated space
        self._free: list[set[int]] = [set() for _ in range(MAX_ORDER + 1)]
        self._allocated: dict[int, int] = {}  # addr -> order (or -npages for contiguous ranges)
        self.allocated_pages = 0

    @property
    def free_pages(self) -> int:
        return self.size // PAGE_SIZE - self.allocated_pages

    def __contains__(self, addr: int) -> bool:
        return self.base <= addr < self.base + self.size

    def _take(self, order: int) -> int:
        for o in range(order, MAX_ORDER + 1):
            if self._free[o]:
                addr = min(self._free[o])  # lowest address first: deterministic
                self._free[o].discard(addr)
                break
        else:
            if self._bump + (PAGE_SIZE << MAX_ORDER) > self.base + self.size:
                raise OutOfMemory(f"node {self.node}: no free block of order {order}")
            addr = self._bump
            self._bump += PAGE_SIZE << MAX_ORDER
            o = MAX_ORDER
        while o > order:  # split, keeping the lower half
            o -= 1
            self._free[o].add(addr + (PAGE_SIZE << o))
        return addr

    def alloc_pages(self, order: int = 0) -> int:
        """Physical address of a free, naturally aligned block of 2^order pages."""
        if not 0 <= order <= MAX_ORDER:
            raise ValueError(f"order {order} outside 0..{MAX_ORDER}")
        addr = self._take(order)
        self._allocated[addr] = order
        self.allocated_pages += 1 << order
        return addr

    def alloc_pages_bulk(self, order: int, count: int) -> np.ndarray:
        """``count`` blocks of ``order``; untouched space is carved as one vectorized range."""
        out = np.empty(count, np.int64)
        step = PAGE_SIZE << order
        per_block = 1 << (MAX_ORDER - order)
        i = 0
        # Reuse freed blocks first, then whole fresh max-order blocks at once.
        while i < count and any(self._free[o] for o in range(order, MAX_ORDER + 1)):
            out[i] = self.alloc_pages(order)
            i += 1
        if i < count:
            left = count - i
            nblocks = -(-left // per_block)
            if self._bump + nblocks * (PAGE_SIZE << MAX_ORDER) > self.base + self.size:
                for j in range(i):
                    self.free_pages_block(int(out[j]), order)
                raise OutOfMemory(
                    f"node {self.node}: cannot allocate {count} blocks of order {order}"
                )
            addrs = self._bump + np.arange(nblocks * per_block, dtype=np.int64) * step
            self._bump += nblocks * (PAGE_SIZE << MAX_ORDER)
            out[i:] = addrs[:left]
            for a in addrs[left:].tolist():
                self._release(a, order)
            self._allocated.update(dict.fromkeys(out[i:].tolist(), order))
            self.allocated_pages += left << order
        return out

    def free_pages_block(self, addr: int, order: int | None = None) -> None:
        """Return a block from ``alloc_pages``; merges with free buddies."""
        got = self._allocated.pop(addr, None)
        if got is None or got < 0:
            raise ValueError(f"node {self.node}: {addr:#x} is not an allocated block")
        if order is not None and order != got:
            raise ValueError(f"free of order {order}, allocated as order {got}")
        self.allocated_pages -= 1 << got
        self._release(addr, got)

    def split_block(self, addr: int) -> int:
        """Re-register an allocated order-N block as 2^N order-0 pages (``split_page``).

        Used when a large folio is split: each base page is then freed on its own. Returns
        the order the block had.
        """
        order = self._allocated.get(addr)
        if order is None or order < 0:
            raise ValueError(f"node {self.node}: {addr:#x} is not an allocated block")
        del self._allocated[addr]
        for i in range(1 << order):
            self._allocated[addr + i * PAGE_SIZE] = 0
        return order

    def _release(self, addr: int, order: int) -> None:
        while order < MAX_ORDER:
            buddy = self.base + ((addr - self.base) ^ (PAGE_SIZE << order))
            if buddy not in self._free[order]:
                break
            self._free[order].discard(buddy)
            addr = min(addr, buddy)
            order += 1
        self._free[order].add(addr)

    def alloc_contig(self, nbytes: int) -> int:
        """A physically contiguous, 2 MiB aligned range (the experiment's large buffers)."""
        block = PAGE_SIZE << MAX_ORDER
        nblocks = -(-nbytes // block)
        if self._bump + nblocks * block > self.base + self.size:
            raise OutOfMemory(f"node {self.node}: no contiguous {nbytes} bytes")
        addr = self._bump
        self._bump += nblocks * block
        self._allocated[addr] = -(nblocks << MAX_ORDER)
        self.allocated_pages += nblocks << MAX_ORDER
        return addr

    def free_contig(self, addr: int) -> None:
        got = self._allocated.pop(addr, None)
        if got is None or got >= 0:
            raise ValueError(f"{addr:#x} is not a contiguous allocation")
        npages = -got
        self.allocated_pages -= npages
        for k in range(npages >> MAX_ORDER):
            self._release(addr + k * (PAGE_SIZE << MAX_ORDER), MAX_ORDER)
