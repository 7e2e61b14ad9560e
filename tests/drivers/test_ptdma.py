"""PTDMA driver on the engine model: init sequence on the bus, per-descriptor MMIO, IRQ
handler, polled status, int_en quirk, errors and recovery, terminate and the late
completion, pause/resume, teardown."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from drivers.dmaengine.dmaengine import (
    DMA_COMPLETE,
    DMA_CTRL_ACK,
    DMA_ERROR,
    DMA_INTERRUPT,
    DMA_MEMCPY,
    DMA_PREP_INTERRUPT,
    DMA_TRANS_READ_FAILED,
    DmaCapMask,
    DmaChan,
    DmaEngine,
    DmaengineResult,
    KernelOops,
    dma_async_is_tx_complete,
    dma_async_issue_pending,
    dma_release_channel,
    dma_request_channel,
    dma_sync_wait,
    dmaengine_pause,
    dmaengine_prep_dma_memcpy,
    dmaengine_resume,
    dmaengine_submit,
    dmaengine_terminate_sync,
)
from drivers.kernel import Kernel
from drivers.ptdma.ptdma import PtdmaDriverConfig, pt_error_string
from drivers.ptdma.ptdma_pci import pt_pci_remove, ptdma_probe_all
from drivers.ptdma.ptdma_regs import (
    CMD_DESC_DW0_VAL,
    PT_ERR_IDMA0_AXI_SLVERR,
    PT_ERROR_CODES,
)
from emulator.bus import MmioAccess
from emulator.event_kernel import MS, NS, US
from emulator.platform import Platform
from emulator.sync import Completion
from hdl_model.ptdma_engine import attach_ptdma
from tests.drivers.conftest import Stack, make_stack

Q = 0x1000


def record(s: Stack | Platform, base: int) -> list[tuple[str, int, int]]:
    """Attach a bus observer; returns the live list of (kind, offset, value)."""
    p = s.platform if isinstance(s, Stack) else s
    log: list[tuple[str, int, int]] = []

    def obs(a: MmioAccess) -> None:
        if base <= a.addr < base + 0x10000:
            log.append((a.kind, a.addr - base, a.value))

    p.bus.observers.append(obs)
    return log


@pytest.mark.pure_python
@pytest.mark.parametrize("iommu", ["off", "translated"])
def test_pt_core_init_sequence_on_the_bus(iommu: str) -> None:
    p = Platform(seed=1, iommu_mode=iommu)
    k = Kernel(p)
    eng = attach_ptdma(p, 1)[0]
    log = record(p, eng.pci.bar_base)
    orig = p.irq.request_irq

    def spy(*a: Any, **kw: Any) -> int:
        log.append(("request_irq", a[0], 0))
        return orig(*a, **kw)

    p.irq.request_irq = spy  # type: ignore[method-assign]
    t0 = p.sim.now
    pt = p.call(ptdma_probe_all, k)[0]
    ring = pt.cmd_q.qbase_dma
    lo, hi = ring & 0xFFFF_FFFF, ring >> 32
    assert ring % 4096 == 0 and pt.cmd_q.qbase % 4096 == 0
    if iommu == "translated":
        assert hi == 1  # IOVAs start at 4 GiB: CONTROL carries the upper bits
    assert log == [
        ("W", 0x1120, 1),  # CONFIG <- VHB_EN
        ("W", 0x000, 6),  # QUEUE_PRIO
        ("W", 0x008, 0),  # TIMEOUT
        ("W", 0x6004, 0x1001),  # CLK_GATE
        ("W", 0x004, 0),  # REQID
        ("W", Q + 0x0C, 0),  # INT_ENABLE <- 0
        ("W", Q + 0x00, 0),  # CONTROL <- 0
        ("R", Q + 0x104, 0),  # Q_INT_STATUS
        ("R", Q + 0x100, 0x200),  # Q_STATUS (EMPTY)
        ("W", Q + 0x10, 3),  # INT_STATUS <- 0x3
        ("request_irq", pt.pt_irq, 0),
        ("W", Q + 0x04, lo),  # TAIL
        ("W", Q + 0x08, lo),  # HEAD
        ("W", Q + 0x00, (4 << 3) | (hi << 16)),  # CONTROL: Q_SIZE 4, ring hi, RUN 0
        ("W", Q + 0x0C, 3),  # INT_ENABLE <- 0x3
    ]
    # 12 posted writes and 2 reads, in simulated time
    mm = p.preset.mmio
    assert p.sim.now - t0 == int((12 * mm.posted_write_ns + 2 * mm.read_round_trip_ns) * NS)
    assert p.irq.lines[pt.pt_irq].handler is not None
    assert pt.dma_dev.registered and pt.dma_dev.channels[0].name == "dma0chan0"


def _chan(s: Stack) -> DmaChan:
    c = dma_request_channel(s.kernel, DmaCapMask(DMA_MEMCPY))
    assert c is not None
    return c


def test_polled_descriptor_mmio_and_ring_slot() -> None:
    s = make_stack(1)
    p, pt = s.platform, s.pts[0]
    src, dst = p.alloc_pages(1), p.alloc_pages(0)
    p.mem.write(src, np.arange(4096, dtype=np.uint16).view(np.uint8)[:4096])
    log = record(s, s.engines[0].pci.bar_base)
    ring = pt.cmd_q.qbase_dma

    def job() -> int:
        chan = _chan(s)
        tx = dmaengine_prep_dma_memcpy(chan, dst, src, 4096, DMA_CTRL_ACK)
        assert tx is not None
        st = dma_sync_wait(chan, dmaengine_submit(tx))
        dmaengine_terminate_sync(chan)
        dma_release_channel(chan)
        return int(st)

    assert s.call(job) == DMA_COMPLETE
    assert np.array_equal(p.mem.read(dst, 4096), p.mem.read(src, 4096))
    # submit: exactly 3 writes: INT_ENABLE (0: no DMA_PREP_INTERRUPT), TAIL, CONTROL|RUN
    assert log[:3] == [("W", Q + 0x0C, 0), ("W", Q + 0x04, (ring + 32) & 0xFFFFFFFF),
                       ("W", Q + 0x00, pt.cmd_q.qcontrol | 1)]
    # polling: every poll is an INT_STATUS read; then Q_STATUS, Q_INT_STATUS, W1C ack
    polls = [e for e in log[3:] if e[:2] == ("R", Q + 0x10)]
    assert len(polls) >= 2 and all(v == 0 for _, _, v in polls[:-1]) and polls[-1][2] & 1
    i = log.index(polls[-1])
    assert [e[:2] for e in log[i + 1 : i + 4]] == [("R", Q + 0x100), ("R", Q + 0x104),
                                                  ("W", Q + 0x10)]
    assert log[i + 3][2] == polls[-1][2]  # the ack writes back what was read
    assert log[-1] == ("W", Q + 0x10, 3)  # terminate_sync: INT_STATUS <- 0x3
    # the 32-byte descriptor in ring slot 0
    d = p.mem.read(pt.cmd_q.qbase, 32).view("<u4")
    assert int(d[0]) == CMD_DESC_DW0_VAL and int(d[1]) == 4096
    assert int(d[2]) == src & 0xFFFFFFFF and int(d[3]) == src >> 32
    assert int(d[4]) == dst & 0xFFFFFFFF and int(d[5]) == dst >> 32
    assert int(d[6]) == 0 and int(d[7]) == 0


def test_irq_handler_sequence_and_one_descriptor_in_flight() -> None:
    s = make_stack(1)
    p, pt = s.platform, s.pts[0]
    n = 4
    srcs = [p.alloc_pages(1) for _ in range(n)]
    dsts = [p.alloc_pages(0) for _ in range(n)]
    log = record(s, s.engines[0].pci.bar_base)
    msis: list[int] = []
    p.irq.observers.append(lambda ev, v, t: msis.append(t) if ev == "msi" else None)

    def job() -> list[int]:
        chan = _chan(s)
        done = Completion(p.sim)
        order: list[int] = []
        for i in range(n):
            tx = dmaengine_prep_dma_memcpy(chan, dsts[i], srcs[i], 4096,
                                           DMA_CTRL_ACK | DMA_PREP_INTERRUPT)
            assert tx is not None

            def cb(a: Any) -> None:
                order.append(a)
                done.complete()

            tx.callback = cb
            tx.callback_param = i
            dmaengine_submit(tx)
        dma_async_issue_pending(chan)
        for _ in range(n):
            done.wait_for_completion_timeout(MS)
        dma_release_channel(chan)
        return order

    assert s.call(job) == [0, 1, 2, 3]
    assert len(msis) == n and pt.total_interrupts == n
    # only one descriptor was ever in the ring at a time: TAIL advanced by 32 per start,
    # and each start (after the first) happened inside the IRQ handler
    tails = [v for k, o, v in log if (k, o) == ("W", Q + 0x04)]
    ring = pt.cmd_q.qbase_dma & 0xFFFFFFFF
    assert tails == [ring + 32 * (i + 1) for i in range(n)]
    # handler: INT_ENABLE<-0, R INT_STATUS, R Q_STATUS, R Q_INT_STATUS, W1C, [next submit:
    # INT_ENABLE<-3, TAIL, CONTROL], INT_ENABLE<-3
    first = log.index(("W", Q + 0x0C, 0))
    seq = [e[:2] for e in log[first : first + 9]]
    assert seq == [("W", Q + 0x0C), ("R", Q + 0x10), ("R", Q + 0x100), ("R", Q + 0x104),
                   ("W", Q + 0x10), ("W", Q + 0x0C), ("W", Q + 0x04), ("W", Q + 0x00),
                   ("W", Q + 0x0C)]


@pytest.mark.parametrize("mode", ["last_prep", "per_desc"])
def test_int_en_last_prep_wins(mode: str) -> None:
    """A asks for an interrupt, B (prepared after A) does not: with the driver's device-wide
    int_en, A runs with interrupts off and its callback waits for a poller."""
    s = make_stack(1, int_en=mode)
    p = s.platform
    src, dst = p.alloc_pages(1), p.alloc_pages(0)

    def job() -> tuple[bool, int, int]:
        chan = _chan(s)
        done = Completion(p.sim)
        a = dmaengine_prep_dma_memcpy(chan, dst, src, 4096, DMA_CTRL_ACK | DMA_PREP_INTERRUPT)
        b = dmaengine_prep_dma_memcpy(chan, dst, src, 64, DMA_CTRL_ACK)
        assert a is not None and b is not None
        a.callback = lambda _p: done.complete()
        ca = dmaengine_submit(a)
        cb = dmaengine_submit(b)
        dma_async_issue_pending(chan)
        got_irq = done.wait_for_completion_timeout(1 * MS) > 0
        raised = p.irq.lines[s.pts[0].pt_irq].raised
        # a poller completes what the interrupt did not
        st = dma_sync_wait(chan, cb)
        st_a = dma_async_is_tx_complete(chan, ca)
        dma_release_channel(chan)
        return got_irq, raised, int(st) + int(st_a)

    got_irq, raised, st = s.call(job)
    assert st == DMA_COMPLETE
    if mode == "last_prep":
        assert not got_irq and raised == 0
    else:
        assert got_irq and raised == 1


def test_int_en_quirk_gives_every_descriptor_an_irq() -> None:
    """v3's pattern: only the last descriptor asks for an interrupt, but since it is the
    last one prepared, every descriptor of the batch raises an MSI."""
    s = make_stack(1)
    p = s.platform
    src, dst = p.alloc_pages(1), p.alloc_pages(0)

    def job() -> None:
        chan = _chan(s)
        done = Completion(p.sim)
        for i in range(5):
            flags = DMA_CTRL_ACK | (DMA_PREP_INTERRUPT if i == 4 else 0)
            tx = dmaengine_prep_dma_memcpy(chan, dst, src, 512, flags)
            assert tx is not None
            if i == 4:
                tx.callback = lambda _p: done.complete()
            dmaengine_submit(tx)
        dma_async_issue_pending(chan)
        assert done.wait_for_completion_timeout(MS)
        dma_release_channel(chan)

    s.call(job)
    assert p.irq.lines[s.pts[0].pt_irq].raised == 5


def test_error_strings_are_safe_for_every_code() -> None:
    for code in range(256):
        text = pt_error_string(code)
        assert isinstance(text, str)
        if code in PT_ERROR_CODES:
            assert text == f"ERR {code:02d}: {PT_ERROR_CODES[code]}"
        elif code:
            assert "Reserved" in text
    # the C array would print index 38's neighbour; the dict gives the right name
    assert pt_error_string(0x26) == "ERR 38: ODMA0_AXI_SLVERR"
    assert pt_error_string(0x0B) == "ERR 11: ILLEGAL_MEM_ADDR"


@pytest.mark.parametrize("reporting", ["faithful", "strict"])
def test_hw_error_latch_head_flush_and_recovery(reporting: str) -> None:
    s = make_stack(1, error_reporting=reporting)
    p, pt = s.platform, s.pts[0]
    src, dst = p.alloc_pages(1), p.alloc_pages(0)
    p.mem.write(src, np.full(4096, 7, np.uint8))
    p.mem.fill(dst, 4096, 0xAA)
    s.engines[0].faults.inject("read", "SLVERR")
    log = record(s, s.engines[0].pci.bar_base)
    results: list[DmaengineResult | None] = []

    def job() -> tuple[int, int, int]:
        chan = _chan(s)
        tx = dmaengine_prep_dma_memcpy(chan, dst, src, 4096, DMA_CTRL_ACK)
        assert tx is not None
        tx.callback_result = lambda _p, r: results.append(r)
        c1 = dmaengine_submit(tx)
        st1 = dma_sync_wait(chan, c1)
        err = pt.cmd_q.cmd_error
        tx2 = dmaengine_prep_dma_memcpy(chan, dst, src, 4096, DMA_CTRL_ACK)
        assert tx2 is not None
        st2 = dma_sync_wait(chan, dmaengine_submit(tx2))
        dma_release_channel(chan)
        return int(st1), err, int(st2)

    st1, err, st2 = s.call(job)
    assert err == PT_ERR_IDMA0_AXI_SLVERR
    assert pt.errors_logged[0][2] == "ERR 19: IDMA0_AXI_SLVERR"
    assert any("PTDMA error: ERR 19: IDMA0_AXI_SLVERR (0x13)" in m for _, m in s.kernel.log)
    # recovery: HEAD <- TAIL (the slot after the failed one)
    ring = pt.cmd_q.qbase_dma & 0xFFFFFFFF
    assert ("W", Q + 0x08, ring + 32) in log
    assert results[0] is not None
    if reporting == "faithful":
        assert st1 == DMA_COMPLETE and results[0].result == 0  # invisible to the client
    else:
        assert st1 == DMA_ERROR and results[0].result == DMA_TRANS_READ_FAILED
    assert st2 == DMA_COMPLETE
    assert np.all(p.mem.read(dst, 4096) == 7)


def test_terminate_with_descriptor_in_flight_reports_late_completion() -> None:
    """terminate_all does not stop the engine: the 2 MiB copy still lands, and its later
    completion reaches a freed descriptor through tdata.cmd (reported, callback not run)."""
    s = make_stack(1)
    p, pt = s.platform, s.pts[0]
    src, dst = p.alloc_pages(1, 9), p.alloc_pages(0, 9)
    p.mem.write(src, np.full(2 << 20, 3, np.uint8))
    called: list[int] = []

    def job() -> None:
        chan = _chan(s)
        tx = dmaengine_prep_dma_memcpy(chan, dst, src, 2 << 20, DMA_CTRL_ACK | DMA_PREP_INTERRUPT)
        assert tx is not None
        tx.callback = lambda _p: called.append(1)
        dmaengine_submit(tx)
        dma_async_issue_pending(chan)
        p.sim.sleep(20 * US)
        dmaengine_terminate_sync(chan)
        assert tx.freed and pt.terminated_inflight == 1
        p.sim.sleep(400 * US)
        dma_release_channel(chan)

    s.call(job)
    assert not called
    assert len(pt.late_completions) == 1 and pt.late_completions[0].cmd_desc_freed
    assert any("use after free" in m for _, m in s.kernel.log)
    assert np.all(p.mem.read(dst, 2 << 20) == 3)  # the engine finished the copy anyway


def test_late_completion_is_attributed_to_the_next_live_descriptor() -> None:
    """After terminate, a new descriptor B is started behind the still-running A: A's
    completion is reported for B, whose callback runs before its data is there."""
    s = make_stack(1)
    p, pt = s.platform, s.pts[0]
    a_src, a_dst = p.alloc_pages(1, 9), p.alloc_pages(0, 9)
    nb = 64 << 10  # B still runs when the IRQ for A is handled
    b_src, b_dst = p.alloc_pages(1, 4), p.alloc_pages(0, 4)
    p.mem.write(b_src, np.full(nb, 9, np.uint8))
    seen: list[bool] = []

    def job() -> None:
        chan = _chan(s)
        a = dmaengine_prep_dma_memcpy(chan, a_dst, a_src, 2 << 20,
                                      DMA_CTRL_ACK | DMA_PREP_INTERRUPT)
        assert a is not None
        dmaengine_submit(a)
        dma_async_issue_pending(chan)
        p.sim.sleep(20 * US)
        dmaengine_terminate_sync(chan)
        b = dmaengine_prep_dma_memcpy(chan, b_dst, b_src, nb, DMA_CTRL_ACK | DMA_PREP_INTERRUPT)
        assert b is not None
        b.callback = lambda _p: seen.append(bool(np.all(p.mem.read(b_dst, nb) == 9)))
        dmaengine_submit(b)
        dma_async_issue_pending(chan)
        p.sim.sleep(400 * US)
        dma_release_channel(chan)

    s.call(job)
    assert seen == [False]  # B "completed" before its bytes landed
    assert len(pt.late_completions) == 2
    assert not pt.late_completions[0].cmd_desc_freed  # A's completion, attributed to B
    assert pt.late_completions[1].cmd_desc_freed  # B's own completion, B already freed
    assert np.all(p.mem.read(b_dst, nb) == 9)  # the engine did copy B in the end


def test_pause_resume_follow_the_driver() -> None:
    """pt_pause clears RUN; pt_resume sets RUN and 'restarts' the head of the issued list,
    which is the descriptor already running: it completes before the engine is done
    (faithful to pt_resume/pt_cmd_callback)."""
    s = make_stack(1)
    p = s.platform
    log = record(s, s.engines[0].pci.bar_base)
    src, dst = p.alloc_pages(1, 9), p.alloc_pages(0, 9)
    p.mem.write(src, np.full(2 << 20, 5, np.uint8))
    seen: list[bool] = []

    def job() -> None:
        chan = _chan(s)
        tx = dmaengine_prep_dma_memcpy(chan, dst, src, 2 << 20, DMA_CTRL_ACK | DMA_PREP_INTERRUPT)
        assert tx is not None
        tx.callback = lambda _p: seen.append(bool(np.all(p.mem.read(dst, 2 << 20) == 5)))
        dmaengine_submit(tx)
        dma_async_issue_pending(chan)
        p.sim.sleep(10 * US)
        assert dmaengine_pause(chan) == 0
        assert dmaengine_resume(chan) == 0
        p.sim.sleep(400 * US)
        dma_release_channel(chan)

    s.call(job)
    qc = s.pts[0].cmd_q.qcontrol
    assert ("W", Q + 0x00, qc & ~1) in log and log.count(("W", Q + 0x00, qc | 1)) >= 2
    assert seen == [False]
    assert np.all(p.mem.read(dst, 2 << 20) == 5)


def test_dma_interrupt_descriptor_oopses_like_the_driver() -> None:
    s = make_stack(1)

    def job() -> None:
        chan = _chan(s)
        dev = chan.device
        assert dev is not None and dev.device_prep_dma_interrupt is not None
        tx = dev.device_prep_dma_interrupt(chan, DMA_PREP_INTERRUPT)
        assert tx is not None
        dmaengine_submit(tx)
        dma_async_issue_pending(chan)

    with pytest.raises(KernelOops, match="pt_cmd->pt is NULL"):
        s.call(job)


def test_teardown_sequence_and_unregister() -> None:
    s = make_stack(2, iommu="translated")
    p, pt = s.platform, s.pts[0]
    log = record(s, s.engines[0].pci.bar_base)
    dom = p.iommu.domain(s.engines[0].pci.dma_name)
    assert dom.mapped_pages == 1  # the ring
    s.call(pt_pci_remove, pt)
    qc = pt.cmd_q.qcontrol
    assert log == [("W", Q + 0x0C, 0), ("W", Q + 0x00, qc & ~1), ("W", Q + 0x10, 3),
                   ("R", Q + 0x104, 0), ("R", Q + 0x100, 0x200)]
    assert p.irq.lines[pt.pt_irq].handler is None
    assert dom.mapped_pages == 0
    eng = s.kernel.subsystem(DmaEngine)
    assert pt.dma_dev not in eng.dma_device_list
    # only the second engine's channel is left
    c = dma_request_channel(s.kernel, DmaCapMask(DMA_MEMCPY))
    assert c is not None and c.device is s.pts[1].dma_dev
    assert dma_request_channel(s.kernel, DmaCapMask(DMA_MEMCPY)) is None


def test_caps_are_memcpy_interrupt_private() -> None:
    s = make_stack(1)
    from drivers.dmaengine.dmaengine import DMA_MEMCPY_SG, DMA_PRIVATE, dma_has_cap
    caps = s.pts[0].dma_dev.cap_mask
    assert dma_has_cap(DMA_MEMCPY, caps) and dma_has_cap(DMA_INTERRUPT, caps)
    assert dma_has_cap(DMA_PRIVATE, caps) and not dma_has_cap(DMA_MEMCPY_SG, caps)
    assert len(s.pts[0].dma_dev.channels) == 1


def test_probe_binds_only_ptdma_functions_once() -> None:
    s = make_stack(3)
    again = s.call(ptdma_probe_all, s.kernel, PtdmaDriverConfig())
    assert again == []
    s.platform.devices.append(object())  # something that is not a PCI PTDMA function
    assert s.call(ptdma_probe_all, s.kernel) == []
    assert [pt.dev.node for pt in s.pts] == [0, 0, 0]


