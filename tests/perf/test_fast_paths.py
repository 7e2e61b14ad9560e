"""Each fast path of the emulator against the straightforward computation it replaces.

The hot paths (event heap, sleep, MMIO window lookup, RAM copies, IOMMU translation, shared
bandwidth reservations, LLC residency, population fill) were rewritten for speed; these
tests run both forms on the same inputs and require identical results, so a later change
to one form that the other does not follow fails here.
"""

from __future__ import annotations

import heapq
import random
from typing import Any

import numpy as np
import pytest

from emulator.cache import LlcModel
from emulator.event_kernel import NS, Simulator
from emulator.frame_allocator import PAGE_SHIFT, PAGE_SIZE
from emulator.iommu import IOVA_BASE, Iommu, IommuFault
from emulator.memory import BusError, PhysicalMemory
from emulator.numa_timing import BandwidthResource, NumaTiming
from emulator.platform import Platform
from emulator.presets import get_preset


# ----------------------------------------------------------------------------- event kernel
def test_event_order_is_time_priority_sequence() -> None:
    """The tuple heap runs events exactly in (time, priority, schedule order), skipping
    cancelled ones: the order ``Event.__lt__`` defines."""
    rng = random.Random(1)
    sim = Simulator(0)
    ran: list[int] = []
    events = []
    for k in range(3000):
        t = rng.randrange(0, 50) * NS
        prio = rng.randrange(-1, 2)
        events.append(sim.schedule_at(t, ran.append, k, priority=prio))
    cancelled = set(rng.sample(range(3000), 400))
    for k in cancelled:
        events[k].cancel()
    sim.run()
    expected = [k for _, _, _, k in sorted(
        (e.time, e.priority, e.seq, k) for k, e in enumerate(events) if k not in cancelled)]
    assert ran == expected
    index = {id(e): k for k, e in enumerate(events)}
    ref = [e for e in events if not e.cancelled]
    heapq.heapify(ref)  # Event.__lt__ still defines the same order
    assert [index[id(heapq.heappop(ref))] for _ in range(len(ref))] == expected


def test_sleep_fast_forward_matches_scheduled_wakeups() -> None:
    """A sleep that jumps the clock (nothing due) and one that schedules a wake-up end at the
    same times, in the same order, as a process woken by explicit events."""
    def trace(force_events: bool) -> list[tuple[int, str]]:
        sim = Simulator(0)
        log: list[tuple[int, str]] = []

        def worker(name: str, delays: list[int]) -> None:
            for d in delays:
                if force_events:
                    w = sim.waiter()
                    sim.schedule(d, w.fire)
                    w.wait()
                else:
                    sim.sleep(d)
                log.append((sim.now, name))

        rng = random.Random(7)
        for i in range(4):
            sim.spawn(worker, f"p{i}", [rng.randrange(1, 40) * NS for _ in range(50)])
        sim.run()
        return sorted(log)

    fast = trace(False)
    assert fast == trace(True)


def test_sleep_respects_run_until_bound() -> None:
    sim = Simulator(0)
    seen: list[int] = []

    def worker() -> None:
        sim.sleep(100 * NS)
        seen.append(sim.now)

    sim.spawn(worker)
    sim.run(until=50 * NS)
    assert sim.now == 50 * NS and not seen  # the fast path may not jump past the bound
    sim.run()
    assert seen == [100 * NS]


# ----------------------------------------------------------------------------- MMIO windows
class _Regs:
    def __init__(self, tag: int) -> None:
        self.tag = tag

    def mmio_read(self, offset: int, size: int) -> int:
        return self.tag + offset

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        self.tag = value


def test_mmio_window_memo_follows_map_and_unmap(platform: Platform) -> None:
    bus = platform.bus
    base = platform.engine_mmio_base(3)
    a = bus.map(base, 0x1000, _Regs(0x100), "a")
    assert bus.dispatch_read(base + 8, 4) == 0x108
    bus.unmap(a)
    with pytest.raises(BusError):
        bus.dispatch_read(base + 8, 4)
    bus.map(base, 0x1000, _Regs(0x200), "b")
    assert bus.dispatch_read(base + 8, 4) == 0x208
    with pytest.raises(BusError):  # an access running past the window's end
        bus.dispatch_read(base + 0xFFC, 8)


# ----------------------------------------------------------------------------- RAM copies
def _memory() -> PhysicalMemory:
    mem = PhysicalMemory()
    chunk = 1 << 16
    mem.add_node(0, 1 << 20, chunk_size=chunk)
    mem.add_node(1 << 24, 1 << 20, chunk_size=chunk)
    return mem


def test_address_space_copy_fast_path_equals_general_path() -> None:
    """``copy`` (single-chunk fast path) and ``_copy_general`` (piece by piece) leave the
    same bytes and the same touched chunks, for copies inside a chunk, across chunks and
    regions, from never-written memory, overlapping, and of zero length."""
    rng = np.random.default_rng(3)
    fast, ref = _memory(), _memory()
    seed_data = rng.integers(0, 256, 1 << 17, dtype=np.uint8)
    for m in (fast, ref):
        m.write(0x4000, seed_data)
        m.write((1 << 24) + 0x30000, seed_data[: 1 << 15])
    bases = [0, 1 << 24]
    for _ in range(400):
        n = int(rng.choice([0, 1, 64, 4096, 5000, 1 << 16, 70000]))
        sb, db = (int(rng.choice(bases)) for _ in range(2))
        src = sb + int(rng.integers(0, (1 << 20) - n + 1))
        dst = db + int(rng.integers(0, (1 << 20) - n + 1))
        if rng.random() < 0.1:
            dst = src + int(rng.integers(-n, n + 1)) if n else src  # overlapping memmove
            dst = min(max(dst, db), db + (1 << 20) - n)
        fast.copy(dst, src, n)
        ref._copy_general(dst, src, n)
    for f, r in zip(fast.nodes, ref.nodes, strict=True):
        assert sorted(f._chunks) == sorted(r._chunks)
        for k, c in f._chunks.items():
            assert np.array_equal(c, r._chunks[k])
    with pytest.raises(BusError):
        fast.copy(0x10_0000 - 8, 0, 16)  # runs past the node's end


def test_node_of_and_is_ram_by_range() -> None:
    mem = _memory()
    assert mem.node_of(0) == 0 and mem.node_of((1 << 24) + 5) == 1
    with pytest.raises(BusError):
        mem.node_of(1 << 21)
    assert mem.is_ram(0x100, 0x1000) and not mem.is_ram((1 << 20) - 4, 8)
    assert not mem.is_ram(1 << 21, 4)


# ----------------------------------------------------------------------------- IOMMU
def translate_both(iommu: Iommu, device: str, iova: int, size: int,
                   write: bool) -> tuple[list[tuple[int, int]] | str, list[tuple[int, int]] | str]:
    """(``Iommu.translate``, the page walk) of one access, a fault as its description."""
    def outcome(fn: Any) -> list[tuple[int, int]] | str:
        try:
            out: list[tuple[int, int]] = fn(iommu, device, iova, size, write)
            return out
        except IommuFault as e:
            return f"fault {e.iova} {e.size}"
    return outcome(Iommu.translate), outcome(_translate_reference)


def _translate_reference(iommu: Iommu, device: str, iova: int, size: int,
                         write: bool) -> list[tuple[int, int]]:
    """The page walk of ``Iommu.translate`` written plainly (no faults armed)."""
    d = iommu.domain(device)
    out: list[tuple[int, int]] = []
    pos = 0
    while pos < size:
        a = iova + pos
        page, off = divmod(a, PAGE_SIZE)
        entry = d.pages.get(page)
        if entry is None or (write and not entry[1]):
            raise IommuFault(device, a, size - pos, write, "reference")
        n = min(size - pos, PAGE_SIZE - off)
        phys = entry[0] * PAGE_SIZE + off
        if out and out[-1][0] + out[-1][1] == phys:
            out[-1] = (out[-1][0], out[-1][1] + n)
        else:
            out.append((phys, n))
        pos += n
    return out


def test_iommu_translate_equals_page_walk() -> None:
    rng = random.Random(5)
    iommu = Iommu("translated")
    iovas = []
    phys = 0x1000_0000
    for _ in range(300):  # runs of contiguous and scattered pages, read-only and writable
        npages = rng.randrange(1, 5)
        phys = phys + PAGE_SIZE * npages if rng.random() < 0.6 else phys + (7 << PAGE_SHIFT)
        size = npages * PAGE_SIZE - rng.randrange(0, 100)
        iovas.append((iommu.map("dev", phys + rng.randrange(0, 64), size,
                                writable=rng.random() < 0.8), size))
    lo = iovas[0][0]
    hi = iovas[-1][0] + iovas[-1][1]
    for _ in range(2000):
        iova = rng.randrange(lo - PAGE_SIZE, hi)
        size = rng.choice([0, 1, 64, 4096, 9000, 65536])
        write = rng.random() < 0.5
        got, want = translate_both(iommu, "dev", iova, size, write)
        assert got == want


def test_iova_page_table_equals_dict_page_table() -> None:
    """The array page table against a plain dict, through mappings of 1..600 pages (below and
    above the array's base), partial unmaps, and long translations (the vectorized path)."""
    rng = random.Random(13)
    iommu = Iommu("translated")
    d = iommu.domain("dev")
    ref: dict[int, tuple[int, bool]] = {}
    d.next_iova = IOVA_BASE - 40 * PAGE_SIZE  # mappings below, across and above the base
    live: list[tuple[int, int]] = []
    for _ in range(400):
        if live and rng.random() < 0.3:
            iova, size = live.pop(rng.randrange(len(live)))
            cut = rng.randrange(0, max(1, size // 2))  # sometimes only the tail
            iommu.unmap("dev", iova + cut, size - cut)
            for p in range((iova + cut) // PAGE_SIZE, (iova + size - 1) // PAGE_SIZE + 1):
                ref.pop(p, None)
        else:
            npages = rng.choice([1, 2, 16, 512, 600])
            phys = rng.randrange(1, 1 << 24) * PAGE_SIZE
            w = rng.random() < 0.7
            iova = iommu.map("dev", phys, npages * PAGE_SIZE, writable=w)
            for k in range(npages):
                ref[iova // PAGE_SIZE + k] = (phys // PAGE_SIZE + k, w)
            live.append((iova, npages * PAGE_SIZE))
        assert d.mapped_pages == len(ref)
    lo = min(ref) - 2
    hi = max(ref) + 2
    for p in [*rng.sample(range(lo, hi), 3000), lo, hi]:
        assert d.pages.get(p) == ref.get(p)
    for _ in range(1500):
        iova = rng.randrange(lo * PAGE_SIZE, hi * PAGE_SIZE)
        size = rng.choice([1, 4096, 40000, 1 << 20, 3 << 20])
        write = rng.random() < 0.5
        got, want = translate_both(iommu, "dev", iova, size, write)
        assert got == want


# ----------------------------------------------------------------------------- bandwidth
def test_reserve_path_equals_sequential_reservations() -> None:
    """``NumaTiming.reserve_path`` (inlined token buckets) against ``stream``'s definition:
    each resource of the path and the extras reserved with ``BandwidthResource.reserve``."""
    params = get_preset("zen3-epyc-2s").memory
    fast, ref = NumaTiming(params, 2), NumaTiming(params, 2)
    cap_f, cap_r = BandwidthResource("cap", 7.3), BandwidthResource("cap", 7.3)
    rng = random.Random(9)
    t = 0
    for _ in range(3000):
        t += rng.randrange(0, 3000)
        n = rng.choice([64, 4096, 65536, 2 << 20, 12345])
        i, s, d = rng.randrange(2), rng.randrange(2), rng.randrange(2)
        lat = rng.choice([0, 0, 1500])
        got = fast.reserve_path(t, n, i, s, d, (cap_f,), lat)
        want = 0
        for r in [*ref.path(i, s, d), cap_r]:
            want = max(want, r.reserve(t, n) + lat)
        assert got == want
    for a, b in zip([*fast.node_bw, *fast.link.values(), cap_f],
                    [*ref.node_bw, *ref.link.values(), cap_r], strict=True):
        assert (a.busy_until, a.bytes_carried, a.busy_ps) == (b.busy_until, b.bytes_carried,
                                                              b.busy_ps)


# ----------------------------------------------------------------------------- LLC
def test_llc_single_page_path_equals_page_loop() -> None:
    rng = random.Random(11)
    llc = LlcModel(4, 64 * PAGE_SIZE)
    for _ in range(5000):
        ccd = rng.randrange(4)
        addr = rng.randrange(0, 512) * PAGE_SIZE + rng.choice([0, 0, 100, 4000])
        n = rng.choice([0, 1, 96, 4096 - (addr % PAGE_SIZE), 4096, 3 * 4096])
        if rng.random() < 0.5:
            llc.touch(ccd, addr, n)
        q = rng.choice([None, 0, 1, 2, 3])
        want = 0
        if n > 0:
            for p in range(addr >> PAGE_SHIFT, ((addr + n - 1) >> PAGE_SHIFT) + 1):
                o = llc.owner.get(p)
                if o is not None and (q is None or o == q):
                    want += min(addr + n, (p + 1) << PAGE_SHIFT) - max(addr, p << PAGE_SHIFT)
        hits, misses = llc.hits, llc.misses
        assert llc.resident_bytes(q, addr, n) == want
        assert (llc.hits - hits, llc.misses - misses) == ((1, 0) if want else (0, 1))
    for k, lru in enumerate(llc.lru):  # every LRU entry owned by its CCD, within capacity
        assert len(lru) <= llc.capacity_pages
        assert all(llc.owner[p] == k for p in lru)


def test_an_event_handle_kept_in_its_argument_is_no_cycle() -> None:
    """A DMA job keeps its pending event (to cancel it) and is that event's argument: once
    the event has run and the job is dropped, reference counting frees it at once (the
    handle holds no arguments), with the cyclic collector off."""
    import gc
    import weakref

    class Job:
        event: object = None

    gc_was = gc.isenabled()
    gc.disable()
    try:
        sim = Simulator(0)
        job = Job()
        job.event = sim.schedule(5 * NS, lambda j: None, job)
        gone = weakref.ref(job)
        del job
        sim.run()
        assert gone() is None
    finally:
        if gc_was:
            gc.enable()
