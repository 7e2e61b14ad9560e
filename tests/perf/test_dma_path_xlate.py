"""Fast paths of the translated DMA path against the general forms they stand for.

* ``Iommu.translate`` of a few pages checks its entries as Python ints (no numpy call on a
  tiny array): same pieces and same faults as the plain page walk, at every length around
  the short/array crossover, contiguous or not, read-only or writable.
* The engine keeps validation's translations for the copy at settle, and a ring page's
  translation for the next fetches, while ``DmaPort.stamp`` (IOMMU and address-map
  generations, no fault armed) holds: a ring run with reuse is compared with the same run
  translating every access, while mappings change, faults are injected or the ring is
  unmapped at many points of the stream.
* ``AddressSpace.write`` / ``RamRegion.write`` inside one chunk against the span walk.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from drivers.ptdma import ptdma_regs as R
from emulator.dma_port import DmaPort
from emulator.event_kernel import NS
from emulator.frame_allocator import PAGE_SHIFT, PAGE_SIZE
from emulator.iommu import Iommu, IommuFault
from emulator.memory import AddressSpace, BusError, PhysicalMemory, RamRegion
from emulator.platform import Platform
from hdl_model import descriptor as D
from hdl_model.ptdma_engine import attach_ptdma
from tests.hdl_model.ptsw import PtSoftware
from tests.perf.test_fast_paths import translate_both


# ----------------------------------------------------------------------------- translate
def test_translate_short_lengths_equal_page_walk() -> None:
    """Every length from 1 to 30 pages (both sides of the short/array crossover) over runs
    that are contiguous, broken, read-only in the middle, or end in unmapped pages."""
    rng = random.Random(21)
    iommu = Iommu("translated")
    phys = 0x2000_0000
    for _ in range(200):
        npages = rng.randrange(1, 40)
        jump = rng.random() < 0.3
        phys = phys + (9 << PAGE_SHIFT) if jump else phys + PAGE_SIZE * npages
        iommu.map("dev", phys, npages * PAGE_SIZE, writable=rng.random() < 0.85)
    d = iommu.domain("dev")
    lo, hi = d.pages.base * PAGE_SIZE, d.next_iova + 3 * PAGE_SIZE
    iommu.unmap("dev", lo + 50 * PAGE_SIZE, 3 * PAGE_SIZE)  # a hole inside
    for _ in range(4000):
        iova = rng.randrange(lo, hi)
        size = rng.randrange(1, 31) * PAGE_SIZE - rng.randrange(0, 2) * rng.randrange(PAGE_SIZE)
        write = rng.random() < 0.5
        got, want = translate_both(iommu, "dev", iova, size, write)
        assert got == want, (iova, size, write)


def test_generation_moves_with_every_change() -> None:
    """Anything that can change a translation bumps ``Iommu.generation``; a port has no
    stamp while a fault is armed."""
    iommu = Iommu("translated")
    port = DmaPort(_space_with_nodes(), iommu, "dev", 0)
    seen = [iommu.generation]

    def moved() -> None:
        assert iommu.generation != seen[-1]
        seen.append(iommu.generation)

    iova = iommu.map("dev", 0x10_0000, 2 * PAGE_SIZE)
    moved()
    iommu.map_sg("dev", [0x20_0000, 0x30_0000], [PAGE_SIZE, 100])
    moved()
    iommu.unmap("dev", iova, PAGE_SIZE)
    moved()
    iommu.unmap_many("dev", [(iova + PAGE_SIZE, PAGE_SIZE)])
    moved()
    stamp = port.stamp()
    assert stamp == (iommu.generation, port.mem.generation)
    iommu.inject_fault(0x20_0000, count=2)
    moved()
    assert port.stamp() is None
    with pytest.raises(IommuFault):
        iommu.translate("dev", iommu.domain("dev").next_iova - 2 * PAGE_SIZE, 4, False)
    moved()  # a fault consumed
    iommu.clear_injected()
    moved()
    iommu.mode = "passthrough"
    moved()
    g = port.mem.generation
    port.mem.add(RamRegion("extra", 1 << 40, 1 << 20, 2))
    assert port.mem.generation != g


def _space_with_nodes() -> PhysicalMemory:
    mem = PhysicalMemory()
    mem.add_node(0, 1 << 30, chunk_size=1 << 20)
    return mem


# ----------------------------------------------------------------------------- engine reuse
def _ring_run(reuse: bool, change: str, at_ns: int) -> dict[str, Any]:
    """Eight descriptors over scattered and contiguous translated pages; ``change`` happens
    at ``at_ns``. Returns everything the run left behind."""
    p = Platform("zen3-epyc-2s", seed=3, iommu_mode="translated")
    eng = attach_ptdma(p, 1, trace=True)[0]
    eng.port.reuse_translations = reuse  # False: translate every access
    dev = eng.pci.dma_name
    rng = random.Random(7)
    ring = p.alloc_pages(0, 0)
    src_pages = [p.alloc_pages(rng.randrange(2), 0) for _ in range(32)]
    rng.shuffle(src_pages)
    dst = p.alloc_pages(1, 5)
    for k, a in enumerate(src_pages):
        p.mem.write(a, np.full(PAGE_SIZE, k + 1, np.uint8))
    p.mem.write(dst, np.full(32 * PAGE_SIZE, 0xEE, np.uint8))
    ring_iova = p.iommu.map(dev, ring, PAGE_SIZE)
    s_iova = p.iommu.map(dev, src_pages[0], PAGE_SIZE, writable=False)
    for a in src_pages[1:16]:  # scattered: one piece per page
        p.iommu.map(dev, a, PAGE_SIZE, writable=False)
    contiguous = p.alloc_pages(0, 4)
    p.mem.write(contiguous, np.arange(16 * PAGE_SIZE, dtype=np.uint32).view(np.uint8)[
        : 16 * PAGE_SIZE])
    c_iova = p.iommu.map(dev, contiguous, 16 * PAGE_SIZE, writable=False)
    d_iova = p.iommu.map(dev, dst, 32 * PAGE_SIZE)
    sw = PtSoftware(p, eng.pci, ring_addr=ring_iova)
    sw.init()
    n = 8
    for k in range(n):  # 4 pages each: scattered sources, then the contiguous run
        src = s_iova + 4 * k * PAGE_SIZE if k < 4 else c_iova + 4 * (k - 4) * PAGE_SIZE
        p.mem.write(ring + 32 * k,
                    D.memcpy_descriptor(src, d_iova + 4 * k * PAGE_SIZE,
                                        4 * PAGE_SIZE).pack())
    armed: list[Any] = []

    def act() -> None:
        if change == "unmap_dst":
            p.iommu.unmap(dev, d_iova + 13 * PAGE_SIZE, 2 * PAGE_SIZE)
        elif change == "unmap_src":
            p.iommu.unmap(dev, c_iova + 6 * PAGE_SIZE, PAGE_SIZE)
        elif change == "inject_src":
            armed.append(p.iommu.inject_fault(contiguous + 9 * PAGE_SIZE, count=1))
        elif change == "inject_dst":
            armed.append(p.iommu.inject_fault(dst + 21 * PAGE_SIZE, write=True, count=2))
        elif change == "unmap_ring":
            p.iommu.unmap(dev, ring_iova, PAGE_SIZE)
        elif change == "map_other":
            p.iommu.map(dev, p.alloc_pages(0, 0), PAGE_SIZE)

    p.sim.schedule_at(at_ns * NS, act)
    sw.qidx = n
    sw.qwr(R.CMD_Q_INT_ENABLE_BASE, 3)
    sw.doorbell()
    sw.start()
    p.run()
    assert eng.trace is not None
    return {
        "now": p.sim.now,
        "dst": p.mem.read(dst, 32 * PAGE_SIZE).tobytes(),
        "counters": vars(eng.counters).copy(),
        "regs": [sw.qrd(off) for off in (R.CMD_Q_STATUS_BASE, R.CMD_Q_HEAD_LO_BASE,
                                         R.CMD_Q_INTERRUPT_STATUS_BASE)],
        "trace": [(e.time, e.event, sorted(e.details.items())) for e in eng.trace.events],
        "faults": p.iommu.domain(dev).faults,
        "fired": [(f.hits, f.count, list(f.fired)) for f in armed],
        "irqs": list(sw.irqs),
    }


@pytest.mark.parametrize(
    "change", ["none", "unmap_dst", "unmap_src", "inject_src", "inject_dst", "unmap_ring",
               "map_other"])
def test_translation_reuse_equals_translating_every_access(change: str) -> None:
    """The same run with and without reuse, the change landing before, during and after
    each part of the stream: same memory, registers, trace, faults and times."""
    for at_ns in (0, 150, 400, 900, 1500, 2500, 4000, 6000, 8000, 10000, 10500, 11000, 12000,
                  12500, 14000, 30000):
        fast = _ring_run(True, change, at_ns)
        slow = _ring_run(False, change, at_ns)
        assert fast == slow, (change, at_ns)


# ----------------------------------------------------------------------------- RAM writes
def _write_reference(mem: AddressSpace, addr: int, data: np.ndarray) -> None:
    """``AddressSpace.write`` through the piece and span walk only."""
    pieces = list(mem._ram_pieces(addr, data.size, "write"))
    for reg, off, length, pos in pieces:
        for idx, coff, ln, p2 in reg._spans(off, length):
            reg._chunk(idx)[coff : coff + ln] = data[pos + p2 : pos + p2 + ln]


def test_ram_write_fast_path_equals_span_walk() -> None:
    """Writes inside one chunk, across chunks and across regions, of 0..9000 bytes, plus
    writes that reach unmapped memory (BusError, nothing written)."""
    rng = random.Random(3)

    def space() -> AddressSpace:
        mem = AddressSpace()
        mem.add(RamRegion("a", 0, 1 << 16, 0, chunk_size=1 << 12))
        mem.add(RamRegion("b", 1 << 16, 1 << 16, 1, chunk_size=1 << 13))
        return mem

    fast, ref = space(), space()
    for _ in range(3000):
        n = rng.choice([0, 1, 4, 32, 100, 4096, 9000])
        addr = rng.randrange(0, (2 << 16) + 64)
        data = np.frombuffer(rng.randbytes(n), np.uint8)
        outcome = []
        for mem, fn in ((fast, AddressSpace.write), (ref, _write_reference)):
            try:
                fn(mem, addr, data)
                outcome.append("ok")
            except BusError as e:
                outcome.append(f"bus {e.addr}")
        assert outcome[0] == outcome[1]
    for ra, rb in zip(fast.regions, ref.regions, strict=True):
        assert isinstance(ra, RamRegion) and isinstance(rb, RamRegion)
        assert sorted(ra._chunks) == sorted(rb._chunks)
        for k, c in ra._chunks.items():
            assert np.array_equal(c, rb._chunks[k])
