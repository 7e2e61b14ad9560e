"""The background prefault of RAM chunks: contents never change, only streaming writes use it."""

from __future__ import annotations

import numpy as np

from emulator.host_backing import (
    MADV_POPULATE_WRITE,
    POPULATE_STEP,
    PREFAULTER,
    Prefaulter,
    anon_chunk,
)
from emulator.memory import PhysicalMemory

CHUNK = 1 << 20


def test_populate_keeps_contents_written_before_and_during() -> None:
    """MADV_POPULATE_WRITE maps zero pages only where none are present: bytes the emulator
    wrote before or while the thread runs survive (or the host lacks it and says why)."""
    pf = Prefaulter()
    c = anon_chunk(8 * CHUNK)
    c[:4096] = 7
    pf.submit(c)
    c[5 * CHUNK : 5 * CHUNK + 4096] = 9  # the emulator keeps writing meanwhile
    assert pf.wait_idle(30)
    assert (c[:4096] == 7).all() and (c[5 * CHUNK : 5 * CHUNK + 4096] == 9).all()
    assert not c[4096 : 5 * CHUNK].any() and not c[5 * CHUNK + 4096 :].any()
    if pf.error:
        assert not pf.enabled  # unsupported host: disabled, writers fault pages themselves
    else:
        assert pf.populated_bytes == c.size


def test_populate_goes_one_huge_page_per_call() -> None:
    """Each madvise call covers at most POPULATE_STEP bytes (it holds the mmap lock, which
    the emulator's own mmap/munmap wait for), and the calls cover the job exactly once."""
    pf = Prefaulter()
    calls: list[tuple[int, int, int]] = []

    def madvise(addr: int, n: int, advice: int) -> int:
        calls.append((addr, n, advice))
        return 0

    pf._madvise, pf.enabled = madvise, True
    c = anon_chunk(5 * POPULATE_STEP + 4096)
    pf.submit(c)
    assert pf.wait_idle(30)
    base = c.ctypes.data
    assert [a - base for a, _, _ in calls] == [i * POPULATE_STEP for i in range(6)]
    assert [n for _, n, _ in calls] == [POPULATE_STEP] * 5 + [4096]
    assert {adv for _, _, adv in calls} == {MADV_POPULATE_WRITE}
    assert pf.populated_bytes == c.size


def test_populate_failure_stops_and_disables() -> None:
    """A failing call (a host kernel without MADV_POPULATE_WRITE) ends the job there and
    turns the prefaulter off: the writer faults pages in itself."""
    pf = Prefaulter()
    calls: list[int] = []

    def madvise(addr: int, n: int, advice: int) -> int:
        calls.append(n)
        return -1 if len(calls) == 2 else 0

    pf._madvise, pf.enabled = madvise, True
    pf.submit(anon_chunk(4 * POPULATE_STEP))
    assert pf.wait_idle(30)
    assert len(calls) == 2 and not pf.enabled and pf.populated_bytes == POPULATE_STEP


def test_disabled_prefaulter_does_nothing() -> None:
    pf = Prefaulter(enabled=False)
    pf.submit(anon_chunk(CHUNK))
    assert pf.wait_idle(1) and pf.populated_bytes == 0


def test_only_chunks_next_to_written_ones_are_prefaulted() -> None:
    """A lone write stays lazily backed; a write into the neighbour of a written chunk (a
    streaming writer) hands that chunk to the prefault thread."""
    mem = PhysicalMemory()
    mem.add_node(0, 64 * CHUNK, chunk_size=CHUNK)
    before = PREFAULTER.populated_bytes
    mem.write(10 * CHUNK, np.ones(16, np.uint8))
    mem.write(30 * CHUNK, np.ones(16, np.uint8))
    assert PREFAULTER.wait_idle(30)
    assert PREFAULTER.populated_bytes == before
    mem.write(11 * CHUNK + 5, np.full(8, 3, np.uint8))
    assert PREFAULTER.wait_idle(30)
    if PREFAULTER.enabled:
        assert PREFAULTER.populated_bytes == before + CHUNK
    assert (mem.read(11 * CHUNK + 5, 8) == 3).all() and not mem.read(11 * CHUNK, 5).any()
    assert mem.resident_bytes == 3 * CHUNK


def test_fresh_frames_are_prefaulted_when_handed_out() -> None:
    """A page allocation that takes a never-used 2 MiB block hands that block to the
    prefault thread before anything is written; a stream of such allocations gets a
    readahead window that doubles (few, large jobs). Pages reused from the free lists are
    not submitted again, and neither are bulk or contiguous ranges (possibly huge,
    possibly never written: populate(fill=None), experiment buffers)."""
    from emulator.frame_allocator import MAX_ORDER, PAGE_SIZE, FrameAllocator
    from emulator.memory import PREFAULT_WINDOW_MAX

    block = PAGE_SIZE << MAX_ORDER
    mem = PhysicalMemory()
    mem.add_node(0, 256 * CHUNK, chunk_size=16 * CHUNK)
    fa = FrameAllocator(0, 0, 256 * CHUNK)
    fa.on_fresh = mem.prefault
    assert PREFAULTER.wait_idle(30)
    before = PREFAULTER.populated_bytes

    def populated() -> int:
        assert PREFAULTER.wait_idle(30)
        return PREFAULTER.populated_bytes - before if PREFAULTER.enabled else -1

    first = fa.alloc_pages(0)  # a fresh 2 MiB block feeds the per-CPU list
    want = block if PREFAULTER.enabled else -1
    assert populated() == want
    fa.free_pages_block(first, 0)
    assert fa.alloc_pages(0) == first  # served from the same block: nothing fresh
    assert populated() == want
    huge = fa.alloc_pages(MAX_ORDER)  # the next fresh block: the window doubles to 4 MiB
    assert huge == block and populated() == (3 * block if PREFAULTER.enabled else -1)
    assert fa.alloc_pages(MAX_ORDER) == 2 * block  # inside the window: nothing new
    assert populated() == (3 * block if PREFAULTER.enabled else -1)
    contig = fa.alloc_contig(4 * block)
    bulk = fa.alloc_pages_bulk(MAX_ORDER, 8)
    assert contig == 3 * block and bulk.tolist() == [(7 + i) * block for i in range(8)]
    assert populated() == (3 * block if PREFAULTER.enabled else -1)
    for _ in range(40):  # a long stream: windows double up to the maximum
        fa.alloc_pages(MAX_ORDER)
    if PREFAULTER.enabled:
        got = populated()
        # the 3 blocks before, the 40 fresh ones and at most one window ahead of them
        assert 43 * block < got <= 43 * block + PREFAULT_WINDOW_MAX
    assert not mem.read(first, PAGE_SIZE).any() and not mem.read(huge, block).any()
    mem.prefault(1 << 40, block)  # outside RAM: ignored


def test_a_forked_child_gets_its_own_prefault_thread() -> None:
    """A worker forked after the parent started the thread populates its own chunks."""
    import os

    PREFAULTER.submit(anon_chunk(CHUNK))  # the parent's thread runs
    assert PREFAULTER.wait_idle(30)
    pid = os.fork()
    if pid == 0:  # child: a submission must complete (a stale thread handle would hang)
        c = anon_chunk(CHUNK)
        PREFAULTER.submit(c)
        os._exit(0 if PREFAULTER.wait_idle(10) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
