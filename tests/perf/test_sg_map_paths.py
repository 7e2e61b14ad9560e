"""The vectorised scatter-gather setup and DMA mapping against the per-entry forms they replace.

``sg_set_folios`` (one pass over a table), ``Iommu.map_sg`` / ``Iommu.unmap_many`` (one page
table update for a table's ranges), ``__finalise_sg``'s vectorised merge and the
table-at-once ``dma_map_sg_attrs`` / ``dma_unmap_sg_attrs`` must give exactly what the
straightforward per-entry code gives (the code they replaced is kept here as the reference):
the same entries, IOVAs, segments, page tables, dma-debug records, CPU charges and
simulated time.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

import drivers.dmaengine.dma_mapping as dm
from drivers.dmaengine.dma_mapping import (
    DMA_FROM_DEVICE,
    DMA_MAPPING_ERROR,
    DMA_TO_DEVICE,
    Device,
    _map_one,
    _unmap_one,
    dma_map_sgtable,
    dma_unmap_sgtable,
)
from drivers.dmaengine.scatterlist import (
    Scatterlist,
    SgTable,
    for_each_sgtable_dma_sg,
    sg_alloc_table,
    sg_dma_address,
    sg_dma_len,
    sg_next,
    sg_set_folio,
    sg_set_folios,
    sg_set_page,
)
from drivers.kernel import Kernel
from drivers.mm.folio import Folio, folio_size
from emulator.frame_allocator import PAGE_SIZE
from emulator.iommu import IOVA_BASE, Iommu
from emulator.platform import Platform

_finalise_sg = getattr(dm, "__finalise_sg")  # a dunder-named module function


def _state(p: Platform) -> dict[str, Any]:
    cpu = p.cpu
    return {"now": p.sim.now, "counts": dict(cpu.op_counts),
            "cycles": dict(cpu.op_cycles_charged),
            "busy": [c.busy_cycles for c in cpu.cores]}


def _folios(p: Platform, orders: list[int]) -> list[Folio]:
    return [Folio(p.alloc_pages(0, o), o, 0) for o in orders]


def _fields(t: SgTable) -> tuple[list[int], ...]:
    return (list(t.page), list(t.offset), list(t.length), list(t.dma_address),
            list(t.dma_length))


# ----------------------------------------------------------------------------- sg_set_folios
@pytest.mark.parametrize("orders", [[0] * 300, [0, 9, 4, 0, 2, 0, 0, 1]])
def test_sg_set_folios_is_the_sg_set_folio_loop(orders: list[int]) -> None:
    """One pass over the table gives the entries, charges and simulated time of the
    kernel's ``sg_set_folio`` / ``sg_next`` loop."""
    results = []
    for bulk in (False, True):
        p = Platform(seed=0)
        k = Kernel(p)
        folios = _folios(p, orders)
        t = SgTable()

        def job(t: SgTable = t, k: Kernel = k, folios: list[Folio] = folios,
                bulk: bool = bulk) -> None:
            assert sg_alloc_table(t, len(folios) + 2, k) == 0
            if bulk:
                sg_set_folios(t, folios, k)
                return
            sg: Scatterlist | None = t.sgl
            for f in folios:
                assert sg is not None
                sg_set_folio(sg, f, folio_size(f), 0, k)
                sg = sg_next(sg)

        p.call(job)
        results.append((_fields(t), _state(p)))
    assert results[0] == results[1]


def test_scatterlist_cursor_reads_and_writes_the_table() -> None:
    """A ``Scatterlist`` is entry ``index`` of its table: fields, ``sg_next`` chain end,
    ``entries``/``sgl`` and the dma accessors all see the same lists."""
    t = SgTable()
    assert t.sgl is None
    assert sg_alloc_table(t, 3) == 0
    sgl = t.sgl
    assert sgl is not None
    sg_set_page(sgl, 0x5000, 100, 8)
    second = sg_next(sgl)
    assert second is not None and second.idx == 1 and second == (t, 1)
    second.dma_address, second.dma_length = 0x9000, 4096
    assert t.page[0] == 0x5000 and t.offset[0] == 8 and t.length[0] == 100
    assert sgl.phys() == 0x5008 and t.entries[0].phys() == 0x5008
    assert sg_dma_address(t.entries[1]) == 0x9000 and sg_dma_len(t.entries[1]) == 4096
    third = sg_next(second)
    assert third is not None and sg_next(third) is None
    t.nents = 2
    assert [sg.idx for _, sg in for_each_sgtable_dma_sg(t)] == [0, 1]


# ----------------------------------------------------------------------------- IOMMU
def _random_ranges(rng: random.Random, n: int) -> tuple[list[int], list[int]]:
    phys, sizes = [], []
    for _ in range(n):
        kind = rng.random()
        page = rng.randrange(1, 1 << 20) * PAGE_SIZE
        if kind < 0.5:
            phys.append(page)
            sizes.append(PAGE_SIZE)
        elif kind < 0.7:
            phys.append(page + rng.randrange(PAGE_SIZE))
            sizes.append(rng.randrange(0, 3 * PAGE_SIZE))
        else:
            phys.append(page)
            sizes.append(PAGE_SIZE << rng.randrange(0, 10))
    return phys, sizes


def _domain_state(io: Iommu, dev: str) -> tuple[Any, ...]:
    d = io.domain(dev)
    used = np.flatnonzero(d.pages.table)
    return (d.next_iova, d.mapped_pages, used.tolist(), d.pages.table[used].tolist(),
            sorted(d.pages.low.items()))


@pytest.mark.parametrize("seed", range(6))
def test_map_sg_and_unmap_many_match_map_and_unmap_one_by_one(seed: int) -> None:
    """``Iommu.map_sg`` gives the IOVAs and page table of ``Iommu.map`` per range (across
    the table's growth), ``unmap_many`` the state of ``unmap`` per range, including
    repeated, overlapping and adjacent ranges."""
    rng = random.Random(seed)
    one, bulk = Iommu("translated"), Iommu("translated")
    for _ in range(4):
        phys, sizes = _random_ranges(rng, rng.choice([1, 2, 17, 300]))
        writable = rng.random() < 0.5
        ref = [one.map("d", a, n, writable) for a, n in zip(phys, sizes, strict=True)]
        assert bulk.map_sg("d", phys, sizes, writable).tolist() == ref
        assert _domain_state(one, "d") == _domain_state(bulk, "d")
        ranges = [(a, n) for a, n in zip(ref, sizes, strict=True) if rng.random() < 0.8]
        ranges += rng.sample(ranges, min(3, len(ranges)))  # unmapped again: counts nothing
        if ranges:  # ranges overlapping the one before by a page, or straddling two
            a, n = ranges[0]
            ranges[1:1] = [(a + max(n, 1) - 1, 2 * PAGE_SIZE), (a + n // 2, n + PAGE_SIZE)]
        for a, n in ranges:
            one.unmap("d", a, n)
        bulk.unmap_many("d", ranges)
        assert _domain_state(one, "d") == _domain_state(bulk, "d")
    off = Iommu("off")
    assert off.map_sg("d", [5, 7], [1, 1]).tolist() == [5, 7]
    off.unmap_many("d", [(5, 1)])


def test_map_sg_below_the_array_base_takes_the_per_range_path() -> None:
    io = Iommu("translated")
    d = io.domain("d")
    d.next_iova = IOVA_BASE - 2 * PAGE_SIZE
    ref = Iommu("translated")
    ref.domain("d").next_iova = d.next_iova
    phys, sizes = [0x10000, 0x20000, 0x30000], [PAGE_SIZE, 2 * PAGE_SIZE, PAGE_SIZE]
    want = [ref.map("d", a, n) for a, n in zip(phys, sizes, strict=True)]
    assert io.map_sg("d", phys, sizes).tolist() == want
    assert _domain_state(io, "d") == _domain_state(ref, "d")


# ----------------------------------------------------------------------------- __finalise_sg
@pytest.mark.parametrize("seed", range(300))
def test_finalise_sg_runs_is_the_entry_walk(seed: int) -> None:
    """The vectorised merge gives the segments of the entry-by-entry walk: entries laid out
    as ``iommu_dma_map_sg`` lays them (each from a fresh page plus its offset), with gaps,
    unaligned ends, entries larger than a segment, segment and boundary limits a byte
    either side of where entries end."""
    rng = random.Random(seed)
    n = rng.choice([2, 3, 16, 100, 700])
    window = rng.choice([1 << 32, 1 << 16, 1 << 17, 1 << rng.randrange(12, 16)])
    bmask = rng.choice([window - 1, (1 << 62) - 1])
    cursor = IOVA_BASE + window * rng.randrange(1, 4) - PAGE_SIZE * rng.randrange(0, 20)
    iovas, lengths, offsets = [], [], []
    for _ in range(n):
        offset = 0 if rng.random() < 0.85 else rng.choice([1, 512, PAGE_SIZE - 1])
        length = rng.choice([PAGE_SIZE] * 6 + [2 * PAGE_SIZE, 1 << 21, PAGE_SIZE + 1,
                                               PAGE_SIZE - 1, 1, PAGE_SIZE - offset])
        iovas.append(cursor + offset)
        lengths.append(length)
        offsets.append(offset)
        cursor = -(-(cursor + offset + length) // PAGE_SIZE) * PAGE_SIZE
        if rng.random() < 0.05:
            cursor += rng.choice([PAGE_SIZE, 3 * PAGE_SIZE])
    if rng.random() < 0.2:  # offsets unrelated to the IOVAs: the offset test alone decides
        offsets = [rng.choice([0, 0, 0, 512]) for _ in range(n)]
    args = (np.array(iovas), np.array(lengths), np.array(offsets))
    max_len = rng.choice([65536, 1 << 20]) + rng.choice([-1, 0, 1, 0, 0])
    if rng.random() < 0.5:
        max_len = PAGE_SIZE * rng.randrange(1, 18) + rng.choice([-1, 0, 1])
    ends = args[0] + args[1]
    want = dm._finalise_sg_walk(*args, max_len, bmask)
    assert dm._finalise_sg_runs(args[0], ends, args[2], max_len, bmask) == want
    assert _finalise_sg(*args, max_len, bmask) == want


def test_finalise_sg_walks_inputs_outside_the_vectorised_form() -> None:
    """Zero lengths, descending IOVAs or a boundary mask that is not 2^n - 1 walk."""
    for iovas, lengths, bmask in (([0, 4096, 4096], [4096, 0, 4096], 0xFFFF_FFFF),
                                  ([8192, 0], [4096, 4096], 0xFFFF_FFFF),
                                  ([0, 4096, 8192], [4096] * 3, 0b1010_0000_0000_0000),
                                  ([0, 4096], [4096, 4096], (1 << 64) - 1)):
        args = (np.array(iovas), np.array(lengths), np.zeros(len(iovas), np.int64))
        assert _finalise_sg(*args, 65536, bmask) == dm._finalise_sg_walk(*args, 65536, bmask)


# ----------------------------------------------------------------------------- dma_map_sg
def _reference_map_sg(dev: Device, sgt: SgTable, direction: int) -> int:
    """``dma_map_sgtable`` as it was written per entry (Scatterlist objects, one
    ``Iommu.map`` per entry, the merge loop), the reference of the table-at-once form."""
    kernel = dev.kernel
    if sgt.orig_nents <= 0:
        return -dm.EINVAL
    nents = sgt.orig_nents
    dm.charge_ns(kernel, kernel.platform.preset.host.dma_map_ns, "dma_map_sg")
    dm.charge_op(kernel, "dma_map_sg_entry", nents)
    dev.map_calls += 1
    entries = sgt.entries[:nents]
    iommu = kernel.platform.iommu
    if not iommu.translating:
        for i, sg in enumerate(entries):
            addr = _map_one(dev, sg.phys(), sg.length, direction)
            if addr == DMA_MAPPING_ERROR:
                for prev in entries[:i]:
                    _unmap_one(dev, prev.dma_address, prev.dma_length, direction)
                return -dm.ENOMEM
            sg.dma_address, sg.dma_length = addr, sg.length
        sgt.nents = len(entries)
        return 0
    iovas = [iommu.map(dev.name, sg.phys(), sg.length, writable=direction != DMA_TO_DEVICE)
             for sg in entries]
    segs: list[tuple[int, int]] = []
    cur_iova, cur_len = iovas[0], entries[0].length
    for sg, iova in zip(entries[1:], iovas[1:], strict=True):
        end = cur_iova + cur_len
        if (iova == end and end % PAGE_SIZE == 0 and sg.offset % PAGE_SIZE == 0
                and cur_len + sg.length <= dev.max_segment_size
                and (cur_iova | dev.seg_boundary_mask)
                == ((end + sg.length - 1) | dev.seg_boundary_mask)):
            cur_len += sg.length
        else:
            segs.append((cur_iova, cur_len))
            cur_iova, cur_len = iova, sg.length
    segs.append((cur_iova, cur_len))
    for sg in entries:
        sg.dma_address, sg.dma_length = 0, 0
    for sg, (iova, length) in zip(entries, segs, strict=False):
        sg.dma_address, sg.dma_length = iova, length
        dev.mappings[iova] = (-1, length, direction)
    sgt.nents = len(segs)
    return 0


def _reference_unmap_sg(dev: Device, sgt: SgTable, direction: int) -> None:
    kernel = dev.kernel
    dm.charge_ns(kernel, kernel.platform.preset.host.dma_map_ns, "dma_unmap_sg")
    dm.charge_op(kernel, "dma_map_sg_entry", sgt.orig_nents)
    dev.unmap_calls += 1
    for sg in sgt.entries[: sgt.orig_nents]:
        if sg.dma_length:
            _unmap_one(dev, sg.dma_address, sg.dma_length, direction)


@pytest.mark.parametrize("mode", ["off", "translated"])
@pytest.mark.parametrize("seed", range(5))
def test_dma_map_sgtable_matches_the_per_entry_port(mode: str, seed: int) -> None:
    """Mapping and unmapping whole tables (one vectorised IOMMU update, merged segments)
    leaves the entries, segments, dma-debug records, IOMMU domain, CPU charges and
    simulated time of the per-entry code; so do a table with mismatched nents at unmap,
    a double unmap and an address beyond the DMA mask."""
    results = []
    for reference in (True, False):
        rng = random.Random(seed)
        p = Platform(seed=0, iommu_mode=mode)
        k = Kernel(p)
        dev = Device(k, "ptdma9", 0)
        dev.max_segment_size = rng.choice([65536, 1 << 20])
        orders = [rng.choice([0, 0, 0, 0, 1, 4, 9]) for _ in range(rng.choice([1, 5, 200]))]
        folios = _folios(p, orders)
        out: list[Any] = []

        def job(dev: Device = dev, folios: list[Folio] = folios, out: list[Any] = out,
                reference: bool = reference, rng: random.Random = rng) -> None:
            tables = []
            for direction in (DMA_TO_DEVICE, DMA_FROM_DEVICE):
                t = SgTable()
                sg_alloc_table(t, len(folios), dev.kernel)
                sg_set_folios(t, folios, dev.kernel)
                if rng.random() < 0.3:  # an entry starting inside its page
                    t.offset[0] = 512
                    t.length[0] -= 512
                mapper = _reference_map_sg if reference else dma_map_sgtable
                out.append(mapper(dev, t, direction))
                out.append((*_fields(t), t.nents))
                out.append(sorted(dev.mappings.items()))
                tables.append((t, direction))
            tables[1][0].nents = max(1, tables[1][0].nents - 1)
            unmapper = _reference_unmap_sg if reference else dma_unmap_sgtable
            for t, direction in tables:
                unmapper(dev, t, direction)
            unmapper(dev, tables[0][0], DMA_TO_DEVICE)  # twice: dma-debug complains
            t = SgTable()  # unmapped with a wrong size and direction: so does it
            sg_alloc_table(t, len(folios), dev.kernel)
            sg_set_folios(t, folios, dev.kernel)
            mapper = _reference_map_sg if reference else dma_map_sgtable
            out.append(mapper(dev, t, DMA_TO_DEVICE))
            t.dma_length[0] += 1
            unmapper(dev, t, DMA_FROM_DEVICE)
            out.append(sorted(dev.mappings.items()))
            out.append(list(dev.debug_errors))
            if mode == "off":  # beyond the mask: nothing stays mapped
                dev.dma_mask = folios[len(folios) // 2].phys
                t = SgTable()
                sg_alloc_table(t, len(folios), dev.kernel)
                sg_set_folios(t, folios, dev.kernel)
                mapper = _reference_map_sg if reference else dma_map_sgtable
                out.append(mapper(dev, t, DMA_TO_DEVICE))
                out.append(sorted(dev.mappings.items()))

        p.call(job)
        d = p.iommu.domain("ptdma9")
        results.append((out, _state(p), _domain_state(p.iommu, "ptdma9"), d.faults,
                        dev.map_calls, dev.unmap_calls))
    assert results[0] == results[1]
