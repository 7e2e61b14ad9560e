"""DMA mapping over the IOMMU: dma_map_page, sg tables and their merging, coherent memory,
dma-debug checks, and the IOMMU stopping a device access end to end (ILLEGAL_MEM_ADDR)."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.dmaengine.dma_mapping import (
    DMA_BIDIRECTIONAL,
    DMA_FROM_DEVICE,
    DMA_TO_DEVICE,
    Device,
    dma_alloc_coherent,
    dma_map_page,
    dma_map_sgtable,
    dma_unmap_page,
    dma_unmap_sgtable,
)
from drivers.dmaengine.dmaengine import (
    DMA_COMPLETE,
    DMA_CTRL_ACK,
    DMA_ERROR,
    DMA_MEMCPY,
    DMA_PREP_INTERRUPT,
    DMA_TRANS_NOERROR,
    DMA_TRANS_WRITE_FAILED,
    DmaCapMask,
    DmaengineResult,
    dma_async_is_tx_complete,
    dma_async_issue_pending,
    dma_release_channel,
    dma_request_channel,
    dmaengine_get_dma_device,
    dmaengine_prep_dma_memcpy,
    dmaengine_submit,
)
from drivers.dmaengine.scatterlist import (
    SgTable,
    for_each_sgtable_dma_sg,
    sg_alloc_table,
    sg_set_folio,
)
from drivers.kernel import Kernel
from drivers.mm.folio import Folio
from drivers.ptdma.ptdma_regs import PT_ERR_ILLEGAL_MEM_ADDR
from emulator.event_kernel import MS, NS
from emulator.iommu import IOVA_BASE
from emulator.platform import Platform
from emulator.sync import Completion
from tests.drivers.conftest import make_stack


def _dev(mode: str) -> tuple[Platform, Kernel, Device]:
    p = Platform(seed=0, iommu_mode=mode)
    k = Kernel(p)
    return p, k, Device(k, "ptdma9", 0)


def test_map_page_passthrough_is_phys_and_costs_dma_map_ns() -> None:
    p, _k, dev = _dev("off")
    page = p.alloc_pages(0)

    def job() -> tuple[int, int]:
        t0 = p.sim.now
        a = dma_map_page(dev, page, 128, 4096 - 128, DMA_TO_DEVICE)
        dma_unmap_page(dev, a, 4096 - 128, DMA_TO_DEVICE)
        return a, p.sim.now - t0

    a, dt = p.call(job)
    assert a == page + 128
    assert dt == 2 * int(p.preset.host.dma_map_ns * NS)
    assert not dev.mappings and not dev.debug_errors


def test_map_page_translated_gives_iova_in_the_device_domain() -> None:
    p, _k, dev = _dev("translated")
    page = p.alloc_pages(1)
    a = dma_map_page(dev, page, 0, 4096, DMA_FROM_DEVICE)
    assert a >= IOVA_BASE and a != page
    assert p.iommu.translate("ptdma9", a, 4096, write=True) == [(page, 4096)]
    dma_unmap_page(dev, a, 4096, DMA_FROM_DEVICE)
    assert p.iommu.domain("ptdma9").mapped_pages == 0


def test_dma_debug_catches_bad_unmaps() -> None:
    p, _k, dev = _dev("translated")
    page = p.alloc_pages(0)
    a = dma_map_page(dev, page, 0, 4096, DMA_TO_DEVICE)
    dma_unmap_page(dev, a + 4096 * 7, 4096, DMA_TO_DEVICE)
    dma_unmap_page(dev, a, 4096, DMA_BIDIRECTIONAL)
    assert len(dev.debug_errors) == 2
    assert "has not allocated" in dev.debug_errors[0]
    assert "different direction" in dev.debug_errors[1]


def _table(p: Platform, k: Kernel, orders: list[int]) -> SgTable:
    sgt = SgTable()
    assert sg_alloc_table(sgt, len(orders), k) == 0
    for sg, o in zip(sgt.entries, orders, strict=True):
        f = Folio(p.alloc_pages(0, o), o, 0)
        sg_set_folio(sg, f, f.size, 0, k)
    return sgt


@pytest.mark.parametrize(("mode", "orders", "nents"), [
    ("off", [0] * 32, 32),
    ("passthrough", [0] * 32, 32),
    ("translated", [0] * 32, 2),  # 16 pages of 4 KiB per 64 KiB segment
    ("translated", [0] * 20, 2),
    ("translated", [9, 9, 0, 0], 3),  # a 2 MiB entry is never split nor merged beyond 64 KiB
    ("translated", [4, 4, 0], 3),  # 64 KiB + 64 KiB + 4 KiB: full segments stay apart
    ("translated", [0, 0, 3, 0], 1),  # 4 + 4 + 32 + 4 KiB = 44 KiB: one segment
])
def test_map_sgtable_merges_only_with_a_translating_iommu(
    mode: str, orders: list[int], nents: int
) -> None:
    p, k, dev = _dev(mode)
    sgt = _table(p, k, orders)
    assert dma_map_sgtable(dev, sgt, DMA_TO_DEVICE) == 0
    assert sgt.orig_nents == len(orders)
    assert sgt.nents == nents
    total = sum(sg.dma_length for _, sg in for_each_sgtable_dma_sg(sgt))
    assert total == sum(4096 << o for o in orders)
    for _, sg in for_each_sgtable_dma_sg(sgt):
        assert sg.dma_length <= 65536 or mode != "translated" or sg.dma_length == (4096 << 9)
    dma_unmap_sgtable(dev, sgt, DMA_TO_DEVICE)
    assert not dev.mappings and not dev.debug_errors
    if mode == "translated":
        assert p.iommu.domain("ptdma9").mapped_pages == 0


def test_coherent_ring_is_page_aligned_zeroed_and_on_the_device_node() -> None:
    p, _k, dev = _dev("translated")
    dev.node = 1
    cpu, handle = dma_alloc_coherent(dev, 1024)
    assert cpu is not None and cpu % 4096 == 0 and handle % 4096 == 0
    assert p.mem.node_of(cpu) == 1
    assert not p.mem.read(cpu, 4096).any()
    assert p.iommu.translate("ptdma9", handle, 1024, write=True) == [(cpu, 1024)]


@pytest.mark.parametrize("reporting", ["faithful", "strict"])
def test_iommu_stops_device_write_to_unmapped_page(reporting: str) -> None:
    """Translated IOMMU: only mapped pages are reachable. A memcpy whose destination is a
    raw physical address (never mapped for the device) fails with ILLEGAL_MEM_ADDR and
    writes nothing; faithful reporting still completes it as NOERROR, strict as an error."""
    s = make_stack(1, iommu="translated", error_reporting=reporting)
    p, k = s.platform, s.kernel
    src, dst = p.alloc_pages(1), p.alloc_pages(0)
    p.mem.write(src, np.full(4096, 0x5C, np.uint8))
    p.mem.fill(dst, 4096, 0xAA)
    results: list[DmaengineResult | None] = []

    def job() -> tuple[int, int]:
        chan = dma_request_channel(k, DmaCapMask(DMA_MEMCPY))
        assert chan is not None
        dev = dmaengine_get_dma_device(chan)
        sa = dma_map_page(dev, src, 0, 4096, DMA_TO_DEVICE)
        done = Completion(p.sim)
        tx = dmaengine_prep_dma_memcpy(chan, dst, sa, 4096, DMA_CTRL_ACK | DMA_PREP_INTERRUPT)
        assert tx is not None

        def cb(_param: object, res: DmaengineResult | None) -> None:
            results.append(res)
            done.complete()

        tx.callback_result = cb
        cookie = dmaengine_submit(tx)
        dma_async_issue_pending(chan)
        assert done.wait_for_completion_timeout(10 * MS)
        st = dma_async_is_tx_complete(chan, cookie)
        # the channel recovers: a correct copy afterwards works
        da = dma_map_page(dev, dst, 0, 4096, DMA_FROM_DEVICE)
        done2 = Completion(p.sim)
        tx2 = dmaengine_prep_dma_memcpy(chan, da, sa, 4096, DMA_CTRL_ACK | DMA_PREP_INTERRUPT)
        assert tx2 is not None
        tx2.callback = lambda _p: done2.complete()
        c2 = dmaengine_submit(tx2)
        dma_async_issue_pending(chan)
        assert done2.wait_for_completion_timeout(10 * MS)
        st2 = dma_async_is_tx_complete(chan, c2)
        dma_release_channel(chan)
        return int(st), int(st2)

    dst_before = p.mem.read(dst, 4096).copy()
    assert np.all(dst_before == 0xAA)
    # snapshot after the failing descriptor: run the job and look at the log
    st, st2 = s.call(job)
    pt = s.pts[0]
    assert [c for _, c, _ in pt.errors_logged] == [PT_ERR_ILLEGAL_MEM_ADDR]
    assert any("ERR 11: ILLEGAL_MEM_ADDR (0xb)" in m for _, m in k.log)
    assert p.iommu.domain(s.engines[0].pci.dma_name).faults >= 1
    if reporting == "faithful":
        assert st == DMA_COMPLETE and results[0] is not None
        assert results[0].result == DMA_TRANS_NOERROR
    else:
        assert st == DMA_ERROR and results[0] is not None
        assert results[0].result == DMA_TRANS_WRITE_FAILED
    assert st2 == DMA_COMPLETE
    assert np.all(p.mem.read(dst, 4096) == 0x5C)  # written only by the second, mapped copy


def test_iommu_fault_writes_nothing() -> None:
    """The failing access touches nothing: check the destination right after the error."""
    s = make_stack(1, iommu="translated")
    p, k = s.platform, s.kernel
    src, dst = p.alloc_pages(1), p.alloc_pages(0)
    p.mem.write(src, np.full(4096, 0x11, np.uint8))
    p.mem.fill(dst, 4096, 0xAA)

    def job() -> None:
        chan = dma_request_channel(k, DmaCapMask(DMA_MEMCPY))
        assert chan is not None
        dev = dmaengine_get_dma_device(chan)
        sa = dma_map_page(dev, src, 0, 4096, DMA_TO_DEVICE)
        tx = dmaengine_prep_dma_memcpy(chan, dst, sa, 4096, DMA_CTRL_ACK)
        assert tx is not None
        cookie = dmaengine_submit(tx)
        from drivers.dmaengine.dmaengine import dma_sync_wait
        dma_sync_wait(chan, cookie)
        dma_release_channel(chan)

    s.call(job)
    assert np.all(p.mem.read(dst, 4096) == 0xAA)
    assert s.pts[0].errors_logged[0][1] == PT_ERR_ILLEGAL_MEM_ADDR
