"""Ring, doorbell, queue state and interrupts (ptdma-model §6; §9 C, D, F)."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.ptdma import ptdma_regs as R
from emulator.event_kernel import NS, US
from emulator.platform import Platform
from hdl_model import descriptor as D
from hdl_model.ptdma_engine import PtdmaEngine, SoftwareViolation, attach_ptdma
from tests.hdl_model.ptsw import PtSoftware


def _bufs(plat: Platform, n: int = 1 << 16) -> tuple[int, int]:
    src = plat.frames[0].alloc_contig(n)
    dst = plat.frames[0].alloc_contig(n)
    plat.mem.write(src, np.random.default_rng(1).integers(0, 256, n, dtype=np.uint8))
    return src, dst


def test_linux_init_sequence(plat: Platform) -> None:
    """pt_core_init, timed as the driver runs it: 12 posted writes, 2 reads."""
    eng = attach_ptdma(plat, 1)[0]
    sw = PtSoftware(plat, eng.pci)
    t0 = plat.sim.now
    writes0 = plat.bus.writes
    plat.call(sw.init)
    mmio = plat.preset.mmio
    assert plat.sim.now - t0 == int(
        12 * mmio.posted_write_ns * NS + 2 * mmio.read_round_trip_ns * NS
    )
    assert plat.bus.writes - writes0 == 12
    lo, hi = sw.ring & 0xFFFF_FFFF, sw.ring >> 32
    regs = eng.regs
    assert regs.get("CONFIG") == 1 and regs.get("QUEUE_PRIO") == 6
    assert regs.get("CLK_GATE_CTL") == 0x1001 and regs.get("CMD_TIMEOUT") == 0
    assert regs.get("Q_CONTROL") == (4 << 3) | (hi << 16)
    assert regs.get("Q_HEAD_LO") == regs.get("Q_TAIL_LO") == lo
    assert regs.get("Q_INT_ENABLE") == 3
    assert sw.qrd(R.CMD_Q_STATUS_BASE) == R.Q_STATUS_EMPTY_MASK  # idle, empty, no error
    assert eng.head == sw.ring and not eng.busy and plat.irq.lines[eng.pci.msi_vector].raised == 0


def test_one_descriptor_head_advances_32(plat: Platform, eng: PtdmaEngine, sw: PtSoftware) -> None:
    src, dst = _bufs(plat)
    h0 = sw.head
    sw.memcpy(src, dst, 4096)
    assert sw.qrd(R.CMD_Q_STATUS_BASE) & R.Q_STATUS_BUSY_MASK
    plat.run()
    assert sw.head == h0 + 32 == sw.tail_value()
    qs = sw.qrd(R.CMD_Q_STATUS_BASE)
    assert qs & R.Q_STATUS_EMPTY_MASK and not qs & R.Q_STATUS_BUSY_MASK
    assert qs >> 16 == 1  # completed count
    assert sw.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE) == R.INT_COMPLETION | R.INT_EMPTY_QUEUE
    assert np.array_equal(plat.mem.read(dst, 4096), plat.mem.read(src, 4096))
    assert len(sw.irqs) == 1


def test_ring_wraps_and_base_is_found_by_masking(plat: Platform) -> None:
    eng = attach_ptdma(plat, 1)[0]
    ring = plat.alloc_pages(1, 0) + 0x400  # node 1: CONTROL carries ring bits [47:32]
    sw = PtSoftware(plat, eng.pci, ring_addr=ring)
    sw.init()
    assert ring >> 32 and eng.regs.get_field("Q_CONTROL", "BASE_HI") == ring >> 32
    src, dst = _bufs(plat)
    for i in range(45):
        sw.memcpy(src + 64 * i, dst + 64 * i, 64)
        plat.run()
        sw.check_status()
        assert sw.head == (ring + ((i + 1) % 32) * 32) & 0xFFFF_FFFF
    assert np.array_equal(plat.mem.read(dst, 45 * 64), plat.mem.read(src, 45 * 64))
    assert eng.counters.descriptors == 45


def test_batched_ring_and_ring_full(plat: Platform, eng: PtdmaEngine, sw: PtSoftware) -> None:
    """31 outstanding are accepted and run; a 32nd is flagged (ERR_INFO[24]) and nothing hangs."""
    src, dst = _bufs(plat)
    sw.stop()
    for i in range(31):
        sw.put(D.memcpy_descriptor(src + 128 * i, dst + 128 * i, 128, ioc=False))
        sw.doorbell()
    assert not eng.busy and not sw.qrd(R.CMD_Q_ERR_INFO_BASE) & R.Q_ERR_INFO_SW_TAIL_OVERRUN_MASK
    sw.put(D.memcpy_descriptor(src, dst, 128))
    sw.doorbell()  # TAIL == HEAD again: the ring looks empty to the engine
    assert sw.qrd(R.CMD_Q_ERR_INFO_BASE) & R.Q_ERR_INFO_SW_TAIL_OVERRUN_MASK
    sw.start()
    plat.run()
    assert not eng.busy and eng.counters.descriptors == 0
    # Fresh ring: 31 outstanding with RUN set run to completion, in order.
    sw.qwr(R.CMD_Q_HEAD_LO_BASE, sw.tail_value())
    sw.start()
    for i in range(31):
        sw.put(D.memcpy_descriptor(src + 128 * i, dst + 128 * i, 128, ioc=i == 30))
    sw.doorbell()
    plat.run()
    assert eng.counters.descriptors == 31 and sw.head == sw.tail_value()
    assert np.array_equal(plat.mem.read(dst, 31 * 128), plat.mem.read(src, 31 * 128))
    completes = [e.details["slot"] for e in eng.trace.of("complete")] if eng.trace else []
    assert completes == sorted(completes, key=lambda s: (s - completes[0]) % 32)  # in order


def test_tail_overrun_asserts_in_test_mode(plat: Platform) -> None:
    eng = attach_ptdma(plat, 1, assert_sw_violations=True)[0]
    sw = PtSoftware(plat, eng.pci)
    sw.init()
    for _ in range(31):
        sw.put([0] * 8)
    sw.doorbell()
    sw.put([0] * 8)
    with pytest.raises(SoftwareViolation):
        sw.doorbell()


def test_run_gates_execution_pause_resume(plat: Platform, eng: PtdmaEngine, sw: PtSoftware) -> None:
    src, dst = _bufs(plat, 1 << 20)
    for i in range(4):  # queued with RUN = 0: nothing happens
        sw.put(D.memcpy_descriptor(src + i * 65536, dst + i * 65536, 65536, ioc=False))
    sw.doorbell()
    plat.run()
    assert eng.counters.descriptors == 0 and not eng.busy
    sw.start()  # RUN 0 -> 1 with HEAD != TAIL starts it
    plat.run(until=plat.sim.now + 2 * US)
    assert eng.busy
    sw.stop()  # RUN 1 -> 0 mid-stream: the current descriptor finishes, then the queue stops
    plat.run()
    assert eng.counters.descriptors == 1 and not eng.busy
    assert not sw.qrd(R.CMD_Q_CONTROL_BASE) & R.CMD_Q_HALT  # a stop is not a halt
    assert not sw.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE) & R.INT_QUEUE_STOPPED
    sw.start()
    plat.run()
    assert eng.counters.descriptors == 4
    assert np.array_equal(plat.mem.read(dst, 1 << 18), plat.mem.read(src, 1 << 18))


def test_soc_stops_queue_and_empty_queue(plat: Platform, eng: PtdmaEngine, sw: PtSoftware) -> None:
    src, dst = _bufs(plat)
    d0 = D.memcpy_descriptor(src, dst, 256, ioc=False)
    d0.soc = True
    sw.put(d0)
    sw.put(D.memcpy_descriptor(src + 256, dst + 256, 256))
    sw.doorbell()
    sw.start()
    plat.run()
    assert eng.counters.descriptors == 1
    ctl = sw.qrd(R.CMD_Q_CONTROL_BASE)
    assert ctl & R.CMD_Q_HALT and not ctl & R.CMD_Q_RUN
    st = sw.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE)
    assert st & R.INT_QUEUE_STOPPED and not st & R.INT_EMPTY_QUEUE
    sw.qwr(R.CMD_Q_INTERRUPT_STATUS_BASE, 0xF)
    sw.start()  # RUN = 1 clears HALTED and restarts
    plat.run()
    assert eng.counters.descriptors == 2
    assert sw.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE) == R.INT_COMPLETION | R.INT_EMPTY_QUEUE
    assert not sw.qrd(R.CMD_Q_STATUS_BASE) & R.Q_STATUS_HALTED_MASK


def test_head_write_while_running_is_ignored(sw: PtSoftware) -> None:
    h0 = sw.head
    sw.start()
    sw.qwr(R.CMD_Q_HEAD_LO_BASE, h0 + 64)
    assert sw.head == h0
    assert sw.qrd(R.CMD_Q_ERR_INFO_BASE) & R.Q_ERR_INFO_SW_HEAD_WRITE_MASK
    sw.stop()
    sw.qwr(R.CMD_Q_HEAD_LO_BASE, h0 + 64)
    assert sw.head == h0 + 64


def test_status_latches_with_interrupts_disabled(
    plat: Platform, eng: PtdmaEngine, sw: PtSoftware
) -> None:
    """The polled path (dma_sync_wait): INT_STATUS latches although INT_ENABLE = 0."""
    src, dst = _bufs(plat)
    sw.submit(D.memcpy_descriptor(src, dst, 4096), int_en=False)
    plat.run()
    assert sw.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE) & R.INT_COMPLETION
    assert not sw.irqs and plat.irq.lines[eng.pci.msi_vector].raised == 0
    assert sw.rd(R.IRQ_STATUS_REG) == 0
    # enabling with a latched status is a 0 -> 1 edge: exactly one MSI
    sw.qwr(R.CMD_Q_INT_ENABLE_BASE, R.SUPPORTED_INTERRUPTS)
    assert sw.rd(R.IRQ_STATUS_REG) == 1
    sw.qwr(R.CMD_Q_INT_ENABLE_BASE, R.SUPPORTED_INTERRUPTS)
    plat.run()
    assert len(sw.irqs) == 1


def test_one_msi_per_edge_and_mask(plat: Platform, eng: PtdmaEngine, sw: PtSoftware) -> None:
    src, dst = _bufs(plat)
    vec = plat.irq.lines[eng.pci.msi_vector]
    for i in range(3):  # three completions, status never acknowledged: one edge
        sw.memcpy(src + 64 * i, dst + 64 * i, 64)
        plat.run()
    assert vec.raised == 1
    sw.qwr(R.CMD_Q_INTERRUPT_STATUS_BASE, R.INT_EMPTY_QUEUE)  # COMPLETION still set: line high
    sw.memcpy(src, dst, 64)
    plat.run()
    assert vec.raised == 1
    sw.qwr(R.CMD_Q_INTERRUPT_STATUS_BASE, 0xF)
    sw.wr(R.IRQ_MASK_REG, 1)  # masked: status latches, no MSI
    sw.memcpy(src, dst, 64)
    plat.run()
    assert vec.raised == 1 and sw.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE) & R.INT_COMPLETION
    sw.wr(R.IRQ_MASK_REG, 0)  # unmasking raises the line: one MSI
    assert vec.raised == 2
    assert sw.perf("IRQS_RAISED") == 2 and eng.counters.irqs == 2


def test_driver_irq_handler_loses_no_completion(plat: Platform) -> None:
    """pt_core_irq_handler: disable, check_status (read, ack), next submit, enable."""
    eng = attach_ptdma(plat, 1)[0]
    sw = PtSoftware(plat, eng.pci)
    sw.init(request_irq=False)
    src, dst = _bufs(plat)
    n = 25
    done: list[int] = []

    def handler(vector: int, dev: object) -> None:
        sw.qwr(R.CMD_Q_INT_ENABLE_BASE, 0)
        status, _, _, _err = sw.check_status()
        if status & R.INT_COMPLETION:
            done.append(plat.sim.now)
            if len(done) < n:  # pt_cmd_callback starts the next descriptor from the handler
                k = len(done)
                sw.memcpy(src + 64 * k, dst + 64 * k, 64)
        sw.qwr(R.CMD_Q_INT_ENABLE_BASE, R.SUPPORTED_INTERRUPTS)

    plat.irq.request_irq(eng.pci.msi_vector, handler, "pt", None)
    plat.call(sw.memcpy, src, dst, 64)
    plat.run()
    assert len(done) == n and eng.counters.descriptors == n
    assert np.array_equal(plat.mem.read(dst, 64 * n), plat.mem.read(src, 64 * n))


def test_dma_status_while_streaming(plat: Platform, eng: PtdmaEngine, sw: PtSoftware) -> None:
    src, dst = _bufs(plat, 1 << 20)
    sw.memcpy(src, dst, 1 << 20)
    plat.run(until=plat.sim.now + 20 * US)
    st = sw.qrd(R.CMD_Q_DMA_STATUS_BASE)
    assert st & R.Q_DMA_STATUS_RD_BUSY_MASK and st & R.Q_DMA_STATUS_WR_BUSY_MASK
    assert 0 < st & 0xFF <= plat.preset.dma.rd_slots
    plat.run()
    assert sw.qrd(R.CMD_Q_DMA_STATUS_BASE) == 0


@pytest.mark.parametrize("entries", [2, 4, 256])
def test_ring_sizes(plat: Platform, entries: int) -> None:
    """Q_SIZE = log2(N) - 1 for N = 2..256: wrap after N slots, at most N - 1 outstanding."""
    eng = attach_ptdma(plat, 1)[0]
    sw = PtSoftware(plat, eng.pci, entries=entries)
    sw.init()
    assert eng.regs.get_field("Q_CONTROL", "Q_SIZE") == entries.bit_length() - 2
    src, dst = _bufs(plat)
    sw.stop()
    for i in range(entries - 1):
        sw.put(D.memcpy_descriptor(src + 64 * i, dst + 64 * i, 64, ioc=False))
    sw.doorbell()
    sw.start()
    plat.run()
    assert eng.counters.descriptors == entries - 1 and sw.head == sw.tail_value()
    for _ in range(entries + 1):  # keeps wrapping
        sw.memcpy(src, dst, 64)
        plat.run()
        assert sw.head == sw.tail_value()
    assert not sw.qrd(R.CMD_Q_ERR_INFO_BASE) & R.Q_ERR_INFO_SW_TAIL_OVERRUN_MASK


def test_reset_drops_in_flight_work(plat: Platform, eng: PtdmaEngine, sw: PtSoftware) -> None:
    src, dst = _bufs(plat, 1 << 20)
    plat.mem.write(dst, np.zeros(1 << 20, np.uint8))
    sw.memcpy(src, dst, 1 << 20)
    plat.run(until=plat.sim.now + 10 * US)
    assert eng.busy
    eng.reset()
    plat.run()
    assert not eng.busy and eng.counters.descriptors == 0 and not sw.irqs
    assert sw.qrd(R.CMD_Q_CONTROL_BASE) == 0 and sw.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE) == 0
    out = plat.mem.read(dst, 1 << 20)
    n = int(np.flatnonzero(out != plat.mem.read(src, 1 << 20))[0])  # acknowledged lines stay
    assert 0 < n < 1 << 20 and n % 64 == 0 and not out[n:].any()  # the rest is dropped
    sw.init()  # the device works again after a reset
    sw.memcpy(src, dst, 4096)
    plat.run()
    assert np.array_equal(plat.mem.read(dst, 4096), plat.mem.read(src, 4096))


def test_terminate_all_does_not_stop_the_engine(
    plat: Platform, eng: PtdmaEngine, sw: PtSoftware
) -> None:
    """pt_terminate_all writes 0x3 to INT_STATUS; the descriptor in flight still completes."""
    src, dst = _bufs(plat, 1 << 20)
    sw.memcpy(src, dst, 1 << 18)
    plat.run(until=plat.sim.now + 5 * US)
    sw.qwr(R.CMD_Q_INTERRUPT_STATUS_BASE, R.SUPPORTED_INTERRUPTS)
    assert eng.busy
    plat.run()
    assert eng.counters.descriptors == 1 and len(sw.irqs) == 1  # the late completion
    assert sw.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE) & R.INT_COMPLETION
