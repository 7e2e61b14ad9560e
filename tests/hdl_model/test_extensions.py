"""Extensions: coalescing, CMPL_WB, DESC_WB, PERF counters, OOO_COMPLETE (§3, §6, §9)."""

from __future__ import annotations

import numpy as np

from drivers.ptdma import ptdma_regs as R
from emulator.event_kernel import US
from emulator.platform import Platform
from hdl_model import descriptor as D
from hdl_model.ptdma_engine import PtdmaEngine, attach_ptdma
from tests.hdl_model.ptsw import PtSoftware

COAL = R.Q_EXT_CTRL_STOP_ON_ERROR_MASK | R.Q_EXT_CTRL_COAL_EN_MASK


def _setup(plat: Platform, ext: int = COAL) -> tuple[PtdmaEngine, PtSoftware, int, int]:
    eng = attach_ptdma(plat, 1, trace=True)[0]
    sw = PtSoftware(plat, eng.pci, entries=64)
    sw.init()
    sw.qwr(R.CMD_Q_EXT_CTRL_BASE, ext)
    src = plat.frames[0].alloc_contig(4 << 20)
    dst = plat.frames[0].alloc_contig(4 << 20)
    plat.mem.write(src, np.random.default_rng(2).integers(0, 256, 4 << 20, dtype=np.uint8))
    return eng, sw, src, dst


def _queue(sw: PtSoftware, descs: list[D.Descriptor]) -> None:
    sw.stop()
    for d in descs:
        sw.put(d)
    sw.doorbell()
    sw.start()


def _fires(eng: PtdmaEngine) -> list[str]:
    assert eng.trace is not None
    return [e.details["why"] for e in eng.trace.of("coalesced_irq")]


def test_coalescing_count_threshold(plat: Platform) -> None:
    eng, sw, src, dst = _setup(plat)
    sw.qwr(R.CMD_Q_COAL_COUNT_BASE, 4)
    _queue(sw, [D.memcpy_descriptor(src + 64 * i, dst + 64 * i, 64) for i in range(10)])
    plat.run()
    assert _fires(eng) == ["count", "count", "empty"]  # 4, 8, then the 2 left at empty
    assert eng.counters.descriptors == 10


def test_coalescing_timer_and_pending_clear_on_read(plat: Platform) -> None:
    eng, sw, src, dst = _setup(plat)
    sw.qwr(R.CMD_Q_COAL_COUNT_BASE, 100)
    sw.qwr(R.CMD_Q_COAL_TIMER_BASE, 5000)  # 5 us
    big = D.memcpy_descriptor(src, dst, 2 << 20, ioc=False)  # keeps the queue busy ~170 us
    _queue(sw, [D.memcpy_descriptor(src, dst, 64), big])
    plat.run(until=plat.sim.now + 3 * US)
    assert sw.qrd(R.CMD_Q_COAL_PENDING_BASE) == 1
    assert sw.qrd(R.CMD_Q_COAL_PENDING_BASE) == 0  # clear-on-read
    assert not sw.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE) & R.INT_COMPLETION
    assert sw.qrd(R.CMD_Q_INT_STATUS_BASE) & R.INT_COMPLETION  # raw event is visible
    plat.run()
    assert eng.trace is not None
    first_done = eng.trace.of("complete")[0].time
    fire = eng.trace.of("coalesced_irq")[0]
    assert fire.details["why"] == "timer" and fire.time == first_done + 5 * US
    assert _fires(eng) == ["timer"]
    assert len(sw.irqs) == 1


def test_coalescing_flush_on_empty_and_errors_bypass(plat: Platform) -> None:
    eng, sw, src, dst = _setup(plat)
    sw.qwr(R.CMD_Q_COAL_COUNT_BASE, 100)
    _queue(sw, [D.memcpy_descriptor(src + 64 * i, dst, 64) for i in range(3)])
    plat.run()
    assert _fires(eng) == ["empty"] and len(sw.irqs) == 1
    sw.check_status()
    bad = D.memcpy_descriptor(src, dst, 64)
    bad.engine = 3
    _queue(sw, [D.memcpy_descriptor(src, dst, 64), bad])
    plat.run()
    st = sw.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE)
    assert st & R.INT_ERROR and not st & R.INT_COMPLETION  # error raised, IOC still folded
    assert sw.qrd(R.CMD_Q_COAL_PENDING_BASE) == 1
    assert len(sw.irqs) == 2


def test_coalescing_off_is_ptdma_behaviour(plat: Platform) -> None:
    eng, sw, src, dst = _setup(plat, ext=R.Q_EXT_CTRL_STOP_ON_ERROR_MASK)
    sw.qwr(R.CMD_Q_COAL_COUNT_BASE, 4)  # ignored without COAL_EN
    sw.memcpy(src, dst, 64)
    plat.run()
    assert sw.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE) & R.INT_COMPLETION and not _fires(eng)


def test_cmpl_wb_and_desc_wb(plat: Platform) -> None:
    ext = R.Q_EXT_CTRL_STOP_ON_ERROR_MASK | R.Q_EXT_CTRL_CMPL_WB_EN_MASK
    ext |= R.Q_EXT_CTRL_DESC_WB_EN_MASK
    eng, sw, src, dst = _setup(plat, ext)
    rec = plat.alloc_pages(0, 0) + 0x40
    sw.qwr(R.CMD_Q_CMPL_WB_LO_BASE, rec & 0xFFFF_FFFF)
    sw.qwr(R.CMD_Q_CMPL_WB_HI_BASE, rec >> 32)
    sizes = [100, 4096, 7]
    addrs = [sw.put(D.memcpy_descriptor(src, dst, n)) for n in sizes]
    sw.doorbell()
    sw.start()
    plat.run()
    words = plat.mem.read(rec, 16).view("<u4")
    assert words[0] == sw.tail_value()  # HEAD after the last descriptor
    assert words[1] & 0xFFFF == 3 and (words[1] >> 16) & 0xFF == 1 and words[1] >> 24 == 0
    assert int(words[2]) | int(words[3]) << 32 == sum(sizes)
    for i, a in enumerate(addrs):
        dw6 = plat.mem.read_u32(a + 24)
        assert dw6 & 0xFF == R.PT_DESC_STATUS_COMPLETED and dw6 >> 16 == i + 1
    bad = D.memcpy_descriptor(src, dst, 0)
    a = sw.memcpy(bad.src, bad.dst, 0)
    plat.run()
    dw6 = plat.mem.read_u32(a + 24)
    assert dw6 & 0xFF == R.PT_DESC_STATUS_ERROR and (dw6 >> 8) & 0xFF == 0x09
    words = plat.mem.read(rec, 16).view("<u4")
    assert (words[1] >> 16) & 0xFF == 3 and words[1] >> 24 == 0x09  # HALTED, code
    assert eng.counters.errors == 1


def test_perf_counters_agree(plat: Platform) -> None:
    eng, sw, src, dst = _setup(plat, ext=R.Q_EXT_CTRL_STOP_ON_ERROR_MASK)
    rng = np.random.default_rng(4)
    sizes = [int(x) for x in rng.integers(1, 70000, 20)]
    for n in sizes:
        sw.memcpy(src, dst, n)
        plat.run()
        sw.check_status()
    assert sw.perf("DESC_DONE") == 20
    assert sw.perf("BYTES_WRITTEN") == sw.perf("BYTES_READ") == sum(sizes)
    assert sw.perf("DOORBELLS") == 21  # pt_core_init writes TAIL once too
    assert sw.perf("IRQS_RAISED") == len(sw.irqs) == 20
    lines = sum((n + (src % 64) + 63) // 64 for n in sizes)
    assert sw.perf("RD_REQS") == lines == eng.counters.lines
    assert sw.perf("RD_LAT_SUM_CYCLES") == lines * 120
    assert sw.perf("DESC_FETCH_CYCLES") == 20 * 220
    busy = sw.perf("BUSY_CYCLES")
    assert busy == eng.counters.busy_ps // 1000 and busy > sum(sizes) / 12.5
    sw.qwr(R.CMD_Q_PERF_CTRL_BASE, R.Q_PERF_CTRL_FREEZE_MASK)
    sw.memcpy(src, dst, 64)
    plat.run()
    assert sw.perf("DESC_DONE") == 20 and eng.counters.descriptors == 21
    sw.qwr(R.CMD_Q_PERF_CTRL_BASE, R.Q_PERF_CTRL_RESET_MASK)
    assert sw.perf("DESC_DONE") == 0 and sw.perf("BYTES_WRITTEN") == 0


def test_ooo_complete_mode(plat: Platform) -> None:
    ext = R.Q_EXT_CTRL_STOP_ON_ERROR_MASK | R.Q_EXT_CTRL_OOO_COMPLETE_MASK
    ext |= R.Q_EXT_CTRL_DESC_WB_EN_MASK
    eng, sw, src, dst = _setup(plat, ext)
    sizes = [1 << 20, 4096, 64, 4096]
    offs = [0, 1 << 20, (1 << 20) + 8192, (1 << 20) + 16384]
    _queue(sw, [D.memcpy_descriptor(src + o, dst + o, n) for n, o in zip(sizes, offs, strict=True)])
    plat.run(until=plat.sim.now + 20 * US)
    slots = [e.details["slot"] for e in eng.trace.of("complete")] if eng.trace else []
    assert slots and 0 not in slots  # small ones finished while the big one streams
    assert sw.head == sw.ring & 0xFFFF_FFFF  # HEAD retires in order: still on the first
    plat.run()
    slots = [e.details["slot"] for e in eng.trace.of("complete")] if eng.trace else []
    assert slots[-1] == 0 and sorted(slots) == [0, 1, 2, 3]
    assert sw.head == sw.tail_value()
    for n, o in zip(sizes, offs, strict=True):
        assert np.array_equal(plat.mem.read(dst + o, n), plat.mem.read(src + o, n))
