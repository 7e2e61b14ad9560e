"""The batched order-0 paths of the frame allocator (per-CPU list refilled in bulk, queued
frees merged in bulk) against the one-by-one buddy allocator they replace: the same blocks
come out, the same errors are raised and the free lists are the same after every step."""

from __future__ import annotations

import random

import pytest

from emulator.frame_allocator import MAX_ORDER, PAGE_SIZE, FrameAllocator, OutOfMemory

BLOCK = PAGE_SIZE << MAX_ORDER


class OneByOne:
    """The straightforward buddy allocator: every call splits or merges on the spot."""

    def __init__(self, base: int, size: int) -> None:
        self.base, self.size, self.bump = base, size, base
        self.free: list[set[int]] = [set() for _ in range(MAX_ORDER + 1)]
        self.allocated: dict[int, int] = {}
        self.allocated_pages = 0

    def take(self, order: int) -> int:
        for o in range(order, MAX_ORDER + 1):
            if self.free[o]:
                addr = min(self.free[o])
                self.free[o].discard(addr)
                break
        else:
            if self.bump + BLOCK > self.base + self.size:
                raise OutOfMemory("full")
            addr, o = self.bump, MAX_ORDER
            self.bump += BLOCK
        while o > order:
            o -= 1
            self.free[o].add(addr + (PAGE_SIZE << o))
        return addr

    def release(self, addr: int, order: int) -> None:
        while order < MAX_ORDER:
            buddy = self.base + ((addr - self.base) ^ (PAGE_SIZE << order))
            if buddy not in self.free[order]:
                break
            self.free[order].discard(buddy)
            addr = min(addr, buddy)
            order += 1
        self.free[order].add(addr)

    def alloc(self, order: int) -> int:
        addr = self.take(order)
        self.allocated[addr] = order
        self.allocated_pages += 1 << order
        return addr

    def free_block(self, addr: int) -> None:
        order = self.allocated.pop(addr)
        self.allocated_pages -= 1 << order
        self.release(addr, order)

    def split(self, addr: int) -> None:
        order = self.allocated.pop(addr)
        for i in range(1 << order):
            self.allocated[addr + i * PAGE_SIZE] = 0

    def contig(self, nbytes: int) -> int:
        n = -(-nbytes // BLOCK)
        if self.bump + n * BLOCK > self.base + self.size:
            raise OutOfMemory("full")
        addr = self.bump
        self.bump += n * BLOCK
        self.allocated[addr] = -(n << MAX_ORDER)
        self.allocated_pages += n << MAX_ORDER
        return addr

    def bulk(self, order: int, count: int) -> list[int]:
        """``alloc_pages_bulk``: free blocks one by one, then fresh blocks carved at once."""
        out: list[int] = []
        while len(out) < count and any(self.free[o] for o in range(order, MAX_ORDER + 1)):
            out.append(self.alloc(order))
        left = count - len(out)
        if left:
            per = 1 << (MAX_ORDER - order)
            nblocks = -(-left // per)
            if self.bump + nblocks * BLOCK > self.base + self.size:
                for a in out:
                    self.free_block(a)
                raise OutOfMemory("full")
            addrs = [self.bump + i * (PAGE_SIZE << order) for i in range(nblocks * per)]
            self.bump += nblocks * BLOCK
            for a in addrs[left:]:
                self.release(a, order)
            for a in addrs[:left]:
                self.allocated[a] = order
            self.allocated_pages += left << order
            out += addrs[:left]
        return out

    def free_contig(self, addr: int) -> None:
        npages = -self.allocated.pop(addr)
        self.allocated_pages -= npages
        for k in range(npages >> MAX_ORDER):
            self.release(addr + k * BLOCK, MAX_ORDER)


def _same(fa: FrameAllocator, ref: OneByOne) -> None:
    assert fa.free_lists() == ref.free
    assert fa.allocated_pages == ref.allocated_pages
    assert fa._bump == ref.bump
    assert fa.allocated_blocks() == ref.allocated


@pytest.mark.parametrize("seed", range(6))
def test_batched_order0_matches_one_by_one(seed: int) -> None:
    """Random mixes of order-0 runs (migration batches), larger orders, frees in random
    order and in runs, splits, bulk and contiguous allocations, up to exhaustion."""
    rng = random.Random(seed)
    base, size = 4 * BLOCK, 24 * BLOCK
    fa, ref = FrameAllocator(1, base, size), OneByOne(base, size)
    live: list[int] = []
    contig: list[int] = []
    for step in range(700):
        op = rng.random()
        if op < 0.35:  # a run of order-0 allocations (a migration batch's destinations)
            for _ in range(rng.choice((1, 3, 40, 300))):
                try:
                    want = ref.alloc(0)
                except OutOfMemory:
                    with pytest.raises(OutOfMemory):
                        fa.alloc_pages(0)
                    break
                assert fa.alloc_pages(0) == want
                live.append(want)
        elif op < 0.65 and live:  # frees: a run, or scattered
            k = rng.randrange(1, min(len(live), 400) + 1)
            if rng.random() < 0.5:
                start = rng.randrange(0, len(live) - k + 1)
                victims = live[start:start + k]
                del live[start:start + k]
            else:
                rng.shuffle(live)
                victims, live = live[:k], live[k:]
            for a in victims:
                ref.free_block(a)
                fa.free_pages_block(a)
        elif op < 0.75:  # a larger order, kept whole or split into pages
            order = rng.randrange(1, MAX_ORDER + 1)
            try:
                want = ref.alloc(order)
            except OutOfMemory:
                with pytest.raises(OutOfMemory):
                    fa.alloc_pages(order)
                continue
            assert fa.alloc_pages(order) == want
            if rng.random() < 0.5:
                ref.split(want)
                assert fa.split_block(want) == order
                live.extend(want + i * PAGE_SIZE for i in range(1 << order))
            else:
                live.append(want)
        elif op < 0.82:  # alloc_pages_bulk (population)
            order = rng.choice((0, 0, 2, 9))
            count = rng.randrange(1, 1500)
            try:
                blocks = ref.bulk(order, count)
            except OutOfMemory:
                with pytest.raises(OutOfMemory):
                    fa.alloc_pages_bulk(order, count)
                continue
            assert fa.alloc_pages_bulk(order, count).tolist() == blocks
            live.extend(blocks)
        elif op < 0.9:  # alloc_contig (experiment buffers)
            nbytes = rng.choice((BLOCK, 3 * BLOCK))
            try:
                want = ref.contig(nbytes)
            except OutOfMemory:
                with pytest.raises(OutOfMemory):
                    fa.alloc_contig(nbytes)
                continue
            assert fa.alloc_contig(nbytes) == want
            contig.append(want)
        elif contig:
            a = contig.pop(rng.randrange(len(contig)))
            ref.free_contig(a)
            fa.free_contig(a)
        if step % 7 == 0:
            _same(fa, ref)
    _same(fa, ref)
    assert fa.free_pages == size // PAGE_SIZE - ref.allocated_pages
