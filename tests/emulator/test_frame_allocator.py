"""Buddy page-frame allocator."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from emulator.frame_allocator import MAX_ORDER, PAGE_SIZE, FrameAllocator, OutOfMemory

NODE = 64 << 20


def test_blocks_are_naturally_aligned_and_disjoint() -> None:
    fa = FrameAllocator(0, 1 << 30, NODE)
    seen: list[tuple[int, int]] = []
    for order in [0, 3, 9, 1, 0, 5, 2, 9, 0]:
        a = fa.alloc_pages(order)
        size = PAGE_SIZE << order
        assert (a - fa.base) % size == 0
        assert fa.base <= a and a + size <= fa.base + fa.size
        seen.append((a, size))
    seen.sort()
    for (a, s), (b, _) in itertools.pairwise(seen):
        assert a + s <= b


def test_free_merges_buddies_back_into_a_max_order_block() -> None:
    fa = FrameAllocator(0, 0, NODE)
    pages = [fa.alloc_pages(0) for _ in range(1 << MAX_ORDER)]
    assert fa.allocated_pages == 512
    for p in pages:
        fa.free_pages_block(p, 0)
    assert fa.allocated_pages == 0
    assert fa._free[MAX_ORDER] and not any(fa._free[o] for o in range(MAX_ORDER))
    with pytest.raises(ValueError):
        fa.free_pages_block(pages[0])  # double free is caught


def test_bulk_allocation_is_vectorized_and_unique() -> None:
    fa = FrameAllocator(0, 0, NODE)
    a = fa.alloc_pages_bulk(0, 1000)
    assert len(np.unique(a)) == 1000 and fa.allocated_pages == 1000
    b = fa.alloc_pages(0)
    assert b not in set(a.tolist())
    for x in a.tolist():
        fa.free_pages_block(x, 0)
    fa.free_pages_block(b, 0)
    assert fa.allocated_pages == 0


def test_out_of_memory_and_contiguous_ranges() -> None:
    fa = FrameAllocator(0, 0, 8 << 20)
    big = fa.alloc_contig(5 << 20)  # rounds up to 3 x 2 MiB
    assert big % (2 << 20) == 0 and fa.allocated_pages == 3 * 512
    fa.alloc_pages(MAX_ORDER)
    with pytest.raises(OutOfMemory):
        fa.alloc_pages(MAX_ORDER)
    fa.free_contig(big)
    assert fa.alloc_pages(MAX_ORDER) >= 0
    with pytest.raises(ValueError):
        fa.alloc_pages(MAX_ORDER + 1)


def test_split_block_frees_page_by_page_and_merges_back() -> None:
    fa = FrameAllocator(0, 0, NODE)
    a = fa.alloc_pages(MAX_ORDER)
    assert fa.split_block(a) == MAX_ORDER
    assert fa.allocated_pages == 512
    for i in range(512):
        fa.free_pages_block(a + i * PAGE_SIZE, 0)
    assert fa.allocated_pages == 0 and a in fa._free[MAX_ORDER]
    with pytest.raises(ValueError):
        fa.split_block(a)
