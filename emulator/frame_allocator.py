"""Per-node page-frame allocator: a buddy allocator for orders 0..9 plus contiguous ranges.

Like the kernel's zone allocator it hands out naturally aligned blocks of 2^order pages
and merges buddies on free. Untouched memory is kept as a bump pointer of never-used
max-order blocks, so a 64 GiB node costs nothing until it is used. ``alloc_pages_bulk``
hands out many order-N blocks at once as a numpy array (for 1 GiB migrations).

Order-0 traffic is batched like the kernel's per-CPU page lists, invisibly: an order-0
allocation is served from a list refilled in bulk (``rmqueue_bulk``) with exactly the pages
successive single allocations would return, and order-0 frees are queued and merged in one
vectorized pass (``free_pages_bulk``). Because the buddy lists are canonical (eager merging
leaves every free page in the largest free aligned block holding it), returning unused
list pages and merging queued frees in any order yields exactly the lists of the one-by-one
allocator; every other operation first does both (``_sync``), so nothing can tell.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
MAX_ORDER = 9  # 2 MiB: HPAGE_PMD_ORDER on x86-64 with 4 KiB pages
PCP_BATCH_MIN = 8  # order-0 pages per refill of the per-CPU list, adapted between ...
PCP_BATCH_MAX = 512  # ... these bounds (doubled when used up, halved when returned unused)
_MERGE_VECTOR_MIN = 32  # queued frees merged with numpy from this many on


def _key(addr: int) -> int:
    """The ``_allocated`` key of a block's address: its frame number; -1 (no block's key)
    for an address inside a page."""
    return addr >> PAGE_SHIFT if not addr & (PAGE_SIZE - 1) else -1


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
        self._free_lists: list[set[int]] = [set() for _ in range(MAX_ORDER + 1)]
        # pfn (addr >> PAGE_SHIFT) -> order, or -npages for contiguous ranges. Keyed by frame
        # number, not address: addresses share their low 12 zero bits, which crowd the first
        # probe of a dict of hundreds of thousands of pages into a few slots.
        self._allocated: dict[int, int] = {}
        self.allocated_pages = 0
        self._pcp: list[int] = []  # next order-0 pages to hand out, the next one last
        self._pcp_batch = PCP_BATCH_MIN
        self._pending: list[int] = []  # order-0 pages freed, not merged into _free yet
        # Called with (addr, nbytes) when a page allocation takes a never-used 2 MiB block
        # (the bump pointer moves): the platform has the host backing fault it in ahead of
        # the writes. Not for bulk or contiguous ranges, which may be huge and stay unwritten
        # (populate(fill=None), experiment buffers): only what is allocated page by page.
        self.on_fresh: Callable[[int, int], None] | None = None

    @property
    def _free(self) -> list[set[int]]:
        """The buddy free lists per order, made exact first (the batched order-0 work
        applied); the lists themselves, for code that inspects them in place."""
        self._sync()
        return self._free_lists

    def free_lists(self) -> list[set[int]]:
        """The buddy free lists per order (exact: queued work is applied first)."""
        self._sync()
        return [set(f) for f in self._free_lists]

    def _sync(self) -> None:
        """Apply the batched order-0 work: return the unused per-CPU pages, merge queued
        frees. Afterwards ``_free`` is exactly what one-by-one calls would have left."""
        pcp = self._pcp
        if pcp:
            self._pending.extend(pcp)
            pcp.clear()
            self._pcp_batch = max(PCP_BATCH_MIN, self._pcp_batch >> 1)
        if self._pending:
            self._merge_pending()

    def allocated_blocks(self) -> dict[int, int]:
        """Allocated blocks: address -> order (-npages for ``alloc_contig`` ranges)."""
        return {pfn << PAGE_SHIFT: o for pfn, o in self._allocated.items()}

    @property
    def free_pages(self) -> int:
        return self.size // PAGE_SIZE - self.allocated_pages

    def __contains__(self, addr: int) -> bool:
        return self.base <= addr < self.base + self.size

    def _take(self, order: int) -> int:
        for o in range(order, MAX_ORDER + 1):
            if self._free_lists[o]:
                addr = min(self._free_lists[o])  # lowest address first: deterministic
                self._free_lists[o].discard(addr)
                break
        else:
            addr = self._fresh_block(order)
            o = MAX_ORDER
        while o > order:  # split, keeping the lower half
            o -= 1
            self._free_lists[o].add(addr + (PAGE_SIZE << o))
        return addr

    def _fresh_block(self, order: int) -> int:
        """A never-used max-order block from the bump pointer, for a page allocation of
        ``order`` (``on_fresh`` hears of it); OutOfMemory when the node has none left."""
        addr = self._bump
        if addr + (PAGE_SIZE << MAX_ORDER) > self.base + self.size:
            raise OutOfMemory(f"node {self.node}: no free block of order {order}")
        self._bump = addr + (PAGE_SIZE << MAX_ORDER)
        if self.on_fresh is not None:
            self.on_fresh(addr, PAGE_SIZE << MAX_ORDER)
        return addr

    def alloc_pages(self, order: int = 0) -> int:
        """Physical address of a free, naturally aligned block of 2^order pages."""
        if order == 0:
            if self._pending:
                self._sync()  # frees since the refill change what comes next
            pcp = self._pcp
            if not pcp:
                self._rmqueue_bulk(pcp)
            addr = pcp.pop()
            self._allocated[addr >> PAGE_SHIFT] = 0
            self.allocated_pages += 1
            return addr
        if not 0 <= order <= MAX_ORDER:
            raise ValueError(f"order {order} outside 0..{MAX_ORDER}")
        self._sync()
        addr = self._take(order)
        self._allocated[addr >> PAGE_SHIFT] = order
        self.allocated_pages += 1 << order
        return addr

    def _rmqueue_bulk(self, pcp: list[int]) -> None:
        """Refill the per-CPU list with the next order-0 pages one-by-one ``_take(0)`` calls
        would return (``rmqueue_bulk``); raises OutOfMemory when there is none.

        ``_take(0)`` takes the lowest free page, else splits the lowest block of the lowest
        non-empty order and then walks that block upwards. So the sequence is: the order-0
        list in address order, then each order's blocks in address order, page by page,
        then a fresh max-order block. A partly used block leaves its rest on the lists as
        the splits would (its aligned pieces). A fresh block is taken only for the first
        page, like the single allocation that would take it.
        """
        want = self._pcp_batch
        if self._pcp_batch < PCP_BATCH_MAX:
            self._pcp_batch <<= 1  # grows while the pages get used
        got: list[int] = []
        free = self._free_lists
        for o in range(MAX_ORDER + 1):
            fo = free[o]
            while fo and len(got) < want:
                block = min(fo)
                fo.discard(block)
                self._carve(block, o, want - len(got), got)
            if len(got) >= want:
                break
        if not got:
            self._carve(self._fresh_block(0), MAX_ORDER, want, got)
        got.reverse()  # pop() from the end hands them out in order
        pcp.extend(got)

    def _carve(self, block: int, order: int, n: int, got: list[int]) -> None:
        """Take the first ``min(n, 2^order)`` pages of a free block onto ``got``; the rest
        goes back on the lists as the aligned pieces the splits leave."""
        npages = 1 << order
        take = min(n, npages)
        got.extend(range(block, block + take * PAGE_SIZE, PAGE_SIZE))
        cur = block + take * PAGE_SIZE
        end = block + npages * PAGE_SIZE
        base = self.base
        free = self._free_lists
        while cur < end:
            o = 0  # the largest aligned piece starting at cur that fits
            while o < order and not (cur - base) & (PAGE_SIZE << o) and \
                    cur + (PAGE_SIZE << (o + 1)) <= end:
                o += 1
            free[o].add(cur)
            cur += PAGE_SIZE << o

    def _merge_pending(self) -> None:
        """Merge the queued order-0 frees into the lists (``free_pages_bulk``): the same
        lists as one ``_release`` each; from _MERGE_VECTOR_MIN pages on, buddies found among
        the freed blocks are paired order by order with numpy."""
        pending = self._pending
        self._pending = []
        if len(pending) < _MERGE_VECTOR_MIN:
            for a in pending:
                self._release(a, 0)
            return
        free = self._free_lists
        base = self.base
        blocks = np.unique(np.asarray(pending, np.int64))
        for o in range(MAX_ORDER):
            if not blocks.size:
                return
            size = PAGE_SIZE << o
            # pairs of freed blocks that are each other's buddy: (lower, lower + size)
            nxt = np.empty(blocks.size, bool)
            nxt[:-1] = blocks[1:] == blocks[:-1] + size
            nxt[-1] = False
            low = ((blocks - base) & size) == 0
            pair_low = nxt & low
            paired = pair_low.copy()
            paired[1:] |= pair_low[:-1]
            merged = blocks[pair_low].tolist()
            fo = free[o]
            for a in blocks[~paired].tolist():
                buddy = base + ((a - base) ^ size)
                if buddy in fo:
                    fo.discard(buddy)
                    merged.append(a if a < buddy else buddy)
                else:
                    fo.add(a)
            blocks = np.unique(np.asarray(merged, np.int64))
        free[MAX_ORDER].update(blocks.tolist())

    def alloc_pages_bulk(self, order: int, count: int) -> np.ndarray:
        """``count`` blocks of ``order``; untouched space is carved as one vectorized range."""
        self._sync()
        out = np.empty(count, np.int64)
        step = PAGE_SIZE << order
        per_block = 1 << (MAX_ORDER - order)
        i = 0
        # Reuse freed blocks first, then whole fresh max-order blocks at once.
        while i < count and any(self._free_lists[o] for o in range(order, MAX_ORDER + 1)):
            addr = self._take(order)  # alloc_pages(order) without the per-CPU list
            self._allocated[addr >> PAGE_SHIFT] = order
            self.allocated_pages += 1 << order
            out[i] = addr
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
            self._allocated.update(dict.fromkeys((out[i:] >> PAGE_SHIFT).tolist(), order))
            self.allocated_pages += left << order
        return out

    def free_pages_block(self, addr: int, order: int | None = None) -> None:
        """Return a block from ``alloc_pages``; merges with free buddies."""
        got = self._allocated.pop(_key(addr), None)
        if got is None or got < 0:
            raise ValueError(f"node {self.node}: {addr:#x} is not an allocated block")
        if order is not None and order != got:
            raise ValueError(f"free of order {order}, allocated as order {got}")
        self.allocated_pages -= 1 << got
        if got == 0:
            self._pending.append(addr)  # merged in bulk before the lists are next read
            return
        self._sync()
        self._release(addr, got)

    def split_block(self, addr: int) -> int:
        """Re-register an allocated order-N block as 2^N order-0 pages (``split_page``).

        Used when a large folio is split: each base page is then freed on its own. Returns
        the order the block had.
        """
        pfn = _key(addr)
        order = self._allocated.get(pfn)
        if order is None or order < 0:
            raise ValueError(f"node {self.node}: {addr:#x} is not an allocated block")
        del self._allocated[pfn]
        for i in range(1 << order):
            self._allocated[pfn + i] = 0
        return order

    def _release(self, addr: int, order: int) -> None:
        free = self._free_lists
        base = self.base
        while order < MAX_ORDER:
            buddy = base + ((addr - base) ^ (PAGE_SIZE << order))
            fo = free[order]
            if buddy not in fo:
                break
            fo.discard(buddy)
            if buddy < addr:
                addr = buddy
            order += 1
        free[order].add(addr)

    def alloc_contig(self, nbytes: int) -> int:
        """A physically contiguous, 2 MiB aligned range (the experiment's large buffers)."""
        block = PAGE_SIZE << MAX_ORDER
        nblocks = -(-nbytes // block)
        if self._bump + nblocks * block > self.base + self.size:
            raise OutOfMemory(f"node {self.node}: no contiguous {nbytes} bytes")
        addr = self._bump
        self._bump += nblocks * block
        self._allocated[addr >> PAGE_SHIFT] = -(nblocks << MAX_ORDER)
        self.allocated_pages += nblocks << MAX_ORDER
        return addr

    def free_contig(self, addr: int) -> None:
        got = self._allocated.pop(_key(addr), None)
        if got is None or got >= 0:
            raise ValueError(f"{addr:#x} is not a contiguous allocation")
        npages = -got
        self.allocated_pages -= npages
        self._sync()
        for k in range(npages >> MAX_ORDER):
            self._release(addr + k * (PAGE_SIZE << MAX_ORDER), MAX_ORDER)
