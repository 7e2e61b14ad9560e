"""The fault-injection hooks of the platform: lost and spurious MSIs, IOMMU faults on mapped
pages (emulator/interrupts.py, emulator/iommu.py)."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.ptdma import ptdma_regs as R
from emulator.event_kernel import NS, US
from emulator.iommu import Iommu, IommuFault
from emulator.platform import Platform
from hdl_model import descriptor as D
from hdl_model.ptdma_engine import attach_ptdma
from tests.hdl_model.ptsw import PtSoftware
from tests.reliability.ptsw_iommu import IommuPtSoftware


def test_lost_msi_never_reaches_the_handler(platform: Platform) -> None:
    irq = platform.irq
    v = irq.allocate_vector("dev")
    hits: list[int] = []
    events: list[str] = []
    irq.request_irq(v, lambda vec, d: hits.append(platform.sim.now))
    irq.observers.append(lambda ev, vec, t: events.append(ev))
    irq.lose_msi(v, 2)
    for t in (0, 10 * US, 20 * US):
        platform.sim.schedule(t, irq.raise_msi, v)
    platform.run()
    line = irq.lines[v]
    assert hits == [21 * US]  # only the third edge was delivered, 1 µs after it
    assert (line.raised, line.lost, line.delivered) == (3, 2, 1)
    assert events.count("msi_lost") == 2 and events.count("msi") == 1
    irq.lose_msi(v, 3)
    irq.raise_msi(v)
    assert irq.clear_lost(v) == 2 and irq.clear_lost() == 0
    platform.run()
    assert len(hits) == 1  # the armed edge was still eaten before the clear
    with pytest.raises(ValueError):
        irq.lose_msi(v, 0)


def test_spurious_msi_runs_the_handler_without_an_edge(platform: Platform) -> None:
    irq = platform.irq
    v = irq.allocate_vector("dev")
    seen: list[tuple[int, bool]] = []

    def handler(vec: int, dev: object) -> None:
        proc = platform.sim.current
        assert proc is not None
        seen.append((platform.sim.now, bool(proc.data.get("in_irq"))))
        platform.sim.sleep(5 * US)

    irq.request_irq(v, handler)
    platform.sim.schedule(0, irq.inject_spurious_msi, v)
    platform.sim.schedule(2 * US, irq.inject_spurious_msi, v)  # during the handler: coalesced
    platform.run()
    line = irq.lines[v]
    assert [t for t, _ in seen] == [1 * US, 1 * US + 5 * US + 200 * NS + 1 * US]
    assert all(ctx for _, ctx in seen)
    assert (line.raised, line.spurious_injected, line.delivered) == (0, 2, 2)


def test_ptdma_completion_whose_msi_is_lost_waits_for_the_next_handler_run() -> None:
    """A lost MSI leaves the completion latched in INT_STATUS (the line stays high, so no new
    edge); a later spurious interrupt runs the handler, which finds and acks it."""
    plat = Platform(seed=3)
    eng = attach_ptdma(plat, 1)[0]
    sw = PtSoftware(plat, eng.pci)
    sw.init()
    handled: list[int] = []

    def handler(vec: int, dev: object) -> None:  # pt_core_irq_handler's register sequence
        sw.qwr(R.CMD_Q_INT_ENABLE_BASE, 0)
        handled.append(sw.check_status()[0])
        sw.qwr(R.CMD_Q_INT_ENABLE_BASE, R.SUPPORTED_INTERRUPTS)

    plat.irq.free_irq(eng.vector)
    plat.irq.request_irq(eng.vector, handler)
    src, dst = plat.alloc_pages(1), plat.alloc_pages(0)
    plat.mem.write(src, np.arange(4096, dtype=np.uint32).view(np.uint8)[:4096])
    plat.irq.lose_msi(eng.vector)
    sw.memcpy(src, dst, 4096)
    plat.run()
    assert handled == [] and plat.irq.lines[eng.vector].lost == 1
    assert sw.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE) & R.INT_COMPLETION  # still latched
    assert np.array_equal(plat.mem.read(dst, 4096), plat.mem.read(src, 4096))
    plat.irq.inject_spurious_msi(eng.vector)
    plat.run()
    assert len(handled) == 1 and handled[0] & R.INT_COMPLETION
    assert sw.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE) == 0


def test_injected_iommu_fault_on_a_mapped_page() -> None:
    iommu = Iommu("translated")
    phys = 0x4000_0000
    iova = iommu.map("dev", phys, 3 * 4096, writable=True)
    assert iommu.translate("dev", iova, 3 * 4096, write=True) == [(phys, 3 * 4096)]
    f = iommu.inject_fault(phys + 4096, 4096, write=True, count=2)
    assert iommu.translate("dev", iova, 4096, write=True) == [(phys, 4096)]  # other page
    assert iommu.translate("dev", iova + 4096, 100, write=False) == [(phys + 4096, 100)]
    with pytest.raises(IommuFault, match="injected") as e:
        iommu.translate("dev", iova, 3 * 4096, write=True)
    assert e.value.iova == iova + 4096  # the first byte of the faulting page
    with pytest.raises(IommuFault, match="injected"):
        iommu.translate("dev", iova + 4096 + 8, 8, write=True)
    assert f.hits == 2 and f.count == 0 and not iommu.injected  # consumed
    assert iommu.translate("dev", iova, 3 * 4096, write=True) == [(phys, 3 * 4096)]
    g = iommu.inject_fault(phys, 4096, device="other")
    assert iommu.translate("dev", iova, 4096, write=False) == [(phys, 4096)]
    assert iommu.clear_injected() == [g] and g.hits == 0
    assert iommu.domain("dev").faults == 2
    with pytest.raises(ValueError):
        Iommu("passthrough").inject_fault(phys)
    with pytest.raises(ValueError):
        iommu.inject_fault(phys, count=0)


def test_engine_reports_an_injected_iommu_fault_as_illegal_mem_addr() -> None:
    plat = Platform(seed=3, iommu_mode="translated")
    eng = attach_ptdma(plat, 1)[0]
    sw = IommuPtSoftware(plat, eng.pci)
    sw.init()
    src, dst = plat.alloc_pages(1, 1), plat.alloc_pages(0, 1)
    plat.mem.write(src, np.full(8192, 0x5A, np.uint8))
    s = plat.iommu.map(eng.pci.dma_name, src, 8192, writable=False)
    d = plat.iommu.map(eng.pci.dma_name, dst, 8192, writable=True)
    plat.iommu.inject_fault(dst + 4096, 4096, write=True)
    slot = sw.memcpy(s, d, 8192)
    plat.run()
    st, _qs, _, err = sw.check_status()
    assert st & R.INT_ERROR and err == D.ILLEGAL_MEM_ADDR
    info = sw.qrd(R.CMD_Q_ERR_INFO_BASE)
    assert (info & R.Q_ERR_INFO_SIDE_MASK) >> R.Q_ERR_INFO_SIDE_SHIFT == 2  # write side
    assert sw.qrd(R.CMD_Q_ERR_DATA_ADDR_LO_BASE) == (d + 4096) & 0xFFFF_FFFF
    assert sw.qrd(R.CMD_Q_ERR_DESC_ADDR_LO_BASE) == slot & 0xFFFF_FFFF
    assert not plat.mem.read(dst, 8192).any()  # nothing moved
    # the fault was consumed: the same copy, resubmitted, goes through
    sw.memcpy(s, d, 8192)
    plat.run()
    assert sw.check_status()[3] == 0
    assert np.array_equal(plat.mem.read(dst, 8192), plat.mem.read(src, 8192))


@pytest.mark.parametrize("detailed", [False, True])
def test_unmap_while_the_engine_streams_is_an_error_not_an_exception(detailed: bool) -> None:
    """Software unmapping a buffer mid-descriptor (validated at decode) used to raise
    IommuFault out of the event loop; the descriptor now ends in ILLEGAL_MEM_ADDR."""
    plat = Platform(seed=3, iommu_mode="translated")
    eng = attach_ptdma(plat, 1, detailed=detailed)[0]
    sw = IommuPtSoftware(plat, eng.pci)
    sw.init()
    n = 2 << 20
    src, dst = plat.alloc_pages(1, 9), plat.alloc_pages(0, 9)
    plat.mem.write(src, np.full(n, 0x77, np.uint8))
    s = plat.iommu.map(eng.pci.dma_name, src, n, writable=False)
    d = plat.iommu.map(eng.pci.dma_name, dst, n, writable=True)
    sw.memcpy(s, d, n)
    plat.sim.schedule(50 * US, plat.iommu.unmap, eng.pci.dma_name, d + n // 2, n // 2)
    plat.run()
    st, _qs, _, err = sw.check_status()
    assert st & R.INT_ERROR and err == D.ILLEGAL_MEM_ADDR
    data_addr = sw.qrd(R.CMD_Q_ERR_DATA_ADDR_LO_BASE) | sw.qrd(R.CMD_Q_ERR_DATA_ADDR_HI_BASE) << 32
    assert data_addr == d + n // 2  # the first byte that no longer translates
    written = plat.mem.read(dst, n)
    assert not written[n // 2 :].any()  # nothing past the fault
    assert (written[: n // 2] == 0x77).all()  # the lines before it landed, in both modes
    assert eng.counters.errors == 1 and eng.counters.bytes_written == n // 2


def test_cmd_timeout_shorter_than_fetch_and_decode_is_an_error_not_an_exception() -> None:
    """CMD_TIMEOUT = 1 cycle used to schedule the descriptor's end in the past (found by the
    MMIO fuzzer): it now times out as soon as it is decoded."""
    plat = Platform(seed=3)
    eng = attach_ptdma(plat, 1)[0]
    sw = PtSoftware(plat, eng.pci)
    sw.init()
    sw.wr(R.CMD_TIMEOUT_OFFSET, 1)
    src, dst = plat.alloc_pages(1), plat.alloc_pages(0)
    sw.memcpy(src, dst, 4096)
    plat.run()
    st, _qs, _, err = sw.check_status()
    assert st & R.INT_ERROR and err == D.CMD_TIMEOUT
    assert eng.counters.errors == 1 and eng.counters.bytes_written == 0
