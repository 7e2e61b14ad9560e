"""Every error code path, ERR_INFO and address capture, halt, recovery, abort (§5; §9 E)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from drivers.ptdma import ptdma_regs as R
from emulator.event_kernel import US
from emulator.platform import Platform
from hdl_model import descriptor as D
from hdl_model.ptdma_engine import PtdmaEngine, attach_ptdma
from tests.hdl_model.ptsw import PtSoftware

N = 1 << 16


def _setup(plat: Platform, **cfg: object) -> tuple[PtdmaEngine, PtSoftware, int, int]:
    eng = attach_ptdma(plat, 1, trace=True, **cfg)[0]
    sw = PtSoftware(plat, eng.pci)
    sw.init()
    src = plat.frames[0].alloc_contig(N)
    dst = plat.frames[1].alloc_contig(N)
    plat.mem.write(src, np.random.default_rng(5).integers(0, 256, N, dtype=np.uint8))
    plat.mem.write(dst, np.full(N, 0xEE, np.uint8))
    return eng, sw, src, dst


def _err_info(sw: PtSoftware) -> dict[str, int]:
    v = sw.qrd(R.CMD_Q_ERR_INFO_BASE)
    return {
        "code": v & R.Q_ERR_INFO_CODE_MASK,
        "side": (v & R.Q_ERR_INFO_SIDE_MASK) >> R.Q_ERR_INFO_SIDE_SHIFT,
        "index": (v & R.Q_ERR_INFO_RING_INDEX_MASK) >> R.Q_ERR_INFO_RING_INDEX_SHIFT,
        "count": (v & R.Q_ERR_INFO_ERR_COUNT_MASK) >> R.Q_ERR_INFO_ERR_COUNT_SHIFT,
        "desc": sw.qrd(R.CMD_Q_ERR_DESC_ADDR_LO_BASE) | sw.qrd(R.CMD_Q_ERR_DESC_ADDR_HI_BASE) << 32,
        "data": sw.qrd(R.CMD_Q_ERR_DATA_ADDR_LO_BASE) | sw.qrd(R.CMD_Q_ERR_DATA_ADDR_HI_BASE) << 32,
    }


def _assert_halted_on(
    sw: PtSoftware, eng: PtdmaEngine, desc_addr: int, code: int, irqs: int = 1
) -> None:
    st = sw.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE)
    assert st & R.INT_ERROR and st & R.INT_QUEUE_STOPPED and not st & R.INT_COMPLETION
    qs = sw.qrd(R.CMD_Q_STATUS_BASE)
    assert R.CMD_Q_ERROR(qs) == code and qs & R.Q_STATUS_HALTED_MASK
    ctl = sw.qrd(R.CMD_Q_CONTROL_BASE)
    assert ctl & R.CMD_Q_HALT and not ctl & R.CMD_Q_RUN
    assert eng.head == desc_addr  # HEAD stays on the failing descriptor
    assert len(sw.irqs) == irqs  # ERROR is enabled by the driver's INT_ENABLE = 3


Mutator = Callable[[D.Descriptor, int, int], None]


def _engine(d: D.Descriptor, s: int, t: int) -> None:
    d.engine = 4


def _function(d: D.Descriptor, s: int, t: int) -> None:
    d.function = 1


def _zero(d: D.Descriptor, s: int, t: int) -> None:
    d.length = 0


def _memsel(d: D.Descriptor, s: int, t: int) -> None:
    d.dst_mem = 1


def _unmapped_dst(d: D.Descriptor, s: int, t: int) -> None:
    d.dst = 0xFD_0000_0000  # between RAM and the MMIO windows: nothing there


@pytest.mark.parametrize(
    ("mutate", "code", "side"),
    [
        (_engine, 0x01, 0),
        (_function, 0x03, 0),
        (_zero, 0x09, 0),
        (_memsel, 0x0C, 0),
        (_unmapped_dst, 0x0B, 2),
    ],
)
def test_validation_errors(plat: Platform, mutate: Mutator, code: int, side: int) -> None:
    eng, sw, src, dst = _setup(plat)
    good = sw.memcpy(src, dst, 256)
    plat.run()
    sw.check_status()
    d = D.memcpy_descriptor(src, dst + 512, 4096)
    mutate(d, src, dst)
    bad = sw.submit(d)
    sw.put(D.memcpy_descriptor(src, dst + 8192, 4096))  # later descriptor: must not run
    sw.doorbell()
    plat.run()
    _assert_halted_on(sw, eng, bad, code, irqs=2)
    info = _err_info(sw)
    assert info["code"] == code and info["side"] == side and info["count"] == 1
    assert info["index"] == (bad - sw.ring) // 32 == 1 and info["desc"] == bad
    assert info["data"] == (0xFD_0000_0000 if code == 0x0B else 0)
    assert eng.counters.descriptors == 1 and good == sw.ring
    assert np.all(plat.mem.read(dst + 512, N - 512) == 0xEE)  # nothing written
    assert eng.trace is not None and eng.trace.of("error")[0].details["code"] == code


def test_strict_reserved_max_xfer_zero_len_nop(plat: Platform) -> None:
    _eng, sw, src, dst = _setup(plat, max_xfer=8192)
    ext = R.Q_EXT_CTRL_STOP_ON_ERROR_MASK  # reset value
    sw.qwr(R.CMD_Q_EXT_CTRL_BASE, 0)  # skip-and-continue mode: every descriptor reports
    d = D.memcpy_descriptor(src, dst, 64)
    d.dw7 = 1  # reserved: ignored unless STRICT_RESERVED
    sw.submit(d)
    plat.run()
    assert sw.check_status()[3] == 0
    sw.qwr(R.CMD_Q_EXT_CTRL_BASE, R.Q_EXT_CTRL_STRICT_RESERVED_MASK)
    sw.submit(d)
    plat.run()
    assert sw.check_status()[3] == 0x08
    sw.submit(D.memcpy_descriptor(src, src + 32, 64))  # overlap is flagged under STRICT
    plat.run()
    assert sw.check_status()[3] == 0x08
    sw.qwr(R.CMD_Q_EXT_CTRL_BASE, 0)
    sw.submit(D.memcpy_descriptor(src, dst, 8193))  # above MAX_XFER
    plat.run()
    assert sw.check_status()[3] == 0x09
    sw.qwr(R.CMD_Q_EXT_CTRL_BASE, R.Q_EXT_CTRL_ZERO_LEN_NOP_MASK)
    sw.submit(D.memcpy_descriptor(src, dst, 0))
    plat.run()
    status, _, _, err = sw.check_status()
    assert err == 0 and status & R.INT_COMPLETION
    assert ext == 0x8


@pytest.mark.parametrize(
    ("side", "resp", "code"),
    [("read", "SLVERR", 0x13), ("read", "DECERR", 0x14),
     ("write", "SLVERR", 0x26), ("write", "DECERR", 0x27)],
)  # fmt: skip
def test_bus_errors_mid_transfer(plat: Platform, side: str, resp: str, code: int) -> None:
    eng, sw, src, dst = _setup(plat)
    base = src if side == "read" else dst
    fault_at = base + 10000  # line 156 of the transfer (src is 64 B aligned)
    eng.faults.inject(side=side, resp=resp, addr_range=(fault_at, fault_at + 1))
    a = sw.memcpy(src, dst, 32768)
    plat.run()
    _assert_halted_on(sw, eng, a, code)
    info = _err_info(sw)
    assert info["code"] == code and info["side"] == (1 if side == "read" else 2)
    assert info["data"] == fault_at and info["desc"] == a
    out = plat.mem.read(dst, 32768)
    line_start = 10000 // 64 * 64
    assert np.array_equal(out[:line_start], plat.mem.read(src, line_start))  # before: written
    assert np.all(out[line_start:] == 0xEE)  # the failing line and after: not written
    reg = R.CMD_Q_DMA_READ_STATUS_BASE if side == "read" else R.CMD_Q_DMA_WRITE_STATUS_BASE
    st = sw.qrd(reg)
    assert st & 3 == (2 if resp == "SLVERR" else 3) and st >> 2 == 1
    assert not eng.faults.armed  # count = 1 consumed


def test_fetch_error(plat: Platform) -> None:
    eng, sw, src, dst = _setup(plat)
    eng.faults.inject(side="fetch", resp="DECERR")
    a = sw.memcpy(src, dst, 64)
    plat.run()
    _assert_halted_on(sw, eng, a, 0x14)
    info = _err_info(sw)
    assert info["side"] == 3 and info["data"] == a


def test_iommu_refusal_is_illegal_mem_addr(plat: Platform) -> None:
    p = Platform("zen3-epyc-2s", seed=3, iommu_mode="translated")
    eng = attach_ptdma(p, 1)[0]
    ring = p.alloc_pages(0, 0)
    src, dst = p.alloc_pages(0, 1), p.alloc_pages(1, 1)
    p.mem.write(src, np.arange(8192, dtype=np.uint32).view(np.uint8)[:8192])
    p.mem.write(dst, np.full(8192, 0xEE, np.uint8))
    dev = eng.pci.dma_name
    ring_iova = p.iommu.map(dev, ring, 4096)
    s_iova = p.iommu.map(dev, src, 8192, writable=False)
    d_iova = p.iommu.map(dev, dst, 4096)  # only the first page is mapped
    sw = PtSoftware(p, eng.pci, ring_addr=ring_iova)
    sw.init()  # the device sees the ring at its IOVA; the CPU writes it physically
    desc = D.memcpy_descriptor(s_iova, d_iova, 4096)
    p.mem.write(ring, desc.pack())
    sw.qidx = 1
    sw.qwr(R.CMD_Q_INT_ENABLE_BASE, 3)
    sw.doorbell()
    sw.start()
    p.run()
    assert sw.check_status()[3] == 0
    assert np.array_equal(p.mem.read(dst, 4096), p.mem.read(src, 4096))
    # 8 KiB into a 4 KiB mapping: refused by the IOMMU, nothing written
    p.mem.write(dst, np.full(8192, 0xEE, np.uint8))
    p.mem.write(ring + 32, D.memcpy_descriptor(s_iova, d_iova, 8192).pack())
    sw.qidx = 2
    sw.doorbell()
    sw.start()
    p.run()
    assert sw.qrd(R.CMD_Q_STATUS_BASE) & 0x3F == 0x0B
    assert _err_info(sw)["data"] == d_iova + 4096 and _err_info(sw)["side"] == 2
    assert np.all(p.mem.read(dst, 8192) == 0xEE)
    # writing into a read-only mapping is refused too
    sw.check_status()
    p.mem.write(ring + 64, D.memcpy_descriptor(d_iova, s_iova, 64).pack())
    sw.qidx = 3
    sw.doorbell()
    sw.start()
    p.run()
    assert sw.check_status()[3] == 0x0B


def test_recovery_like_the_driver(plat: Platform) -> None:
    _eng, sw, src, dst = _setup(plat)
    d = D.memcpy_descriptor(src, dst, 64)
    d.engine = 1
    sw.submit(d)
    plat.run()
    status, _, _, err = sw.check_status()  # reads, W1C, HEAD <- TAIL (allowed: halted)
    assert err == 0x01 and status & R.INT_ERROR
    assert sw.head == sw.tail_value()
    assert R.CMD_Q_ERROR(sw.qrd(R.CMD_Q_STATUS_BASE)) == 0  # latch released by the W1C
    sw.memcpy(src, dst, 4096)  # next submit sets RUN: runs
    plat.run()
    status, _, _, err = sw.check_status()
    assert err == 0 and status & R.INT_COMPLETION
    assert np.array_equal(plat.mem.read(dst, 4096), plat.mem.read(src, 4096))


def test_only_first_error_latched_and_skip_mode(plat: Platform) -> None:
    eng, sw, src, dst = _setup(plat)
    sw.qwr(R.CMD_Q_EXT_CTRL_BASE, 0)  # STOP_ON_ERROR = 0: skip and continue
    d1 = D.memcpy_descriptor(src, dst, 64)
    d1.engine = 2
    d2 = D.memcpy_descriptor(src, dst, 64)
    d2.function = 7
    sw.stop()
    sw.put(d1)
    sw.put(d2)
    sw.put(D.memcpy_descriptor(src, dst, 4096))
    sw.doorbell()
    sw.start()
    plat.run()
    assert R.CMD_Q_ERROR(sw.qrd(R.CMD_Q_STATUS_BASE)) == 0x01  # the first
    info = _err_info(sw)
    assert info["code"] == 0x03 and info["count"] == 2  # ERR_INFO: the last, and a count
    assert eng.counters.descriptors == 1 and sw.head == sw.tail_value()
    assert not sw.qrd(R.CMD_Q_CONTROL_BASE) & R.CMD_Q_HALT
    sw.qwr(R.CMD_Q_INTERRUPT_STATUS_BASE, R.INT_ERROR)
    sw.submit(d2)
    plat.run()
    assert R.CMD_Q_ERROR(sw.qrd(R.CMD_Q_STATUS_BASE)) == 0x03


def test_cmd_timeout(plat: Platform) -> None:
    eng, sw, src, dst = _setup(plat)
    sw.wr(R.CMD_TIMEOUT_OFFSET, 2000)  # 2 us at 1 GHz
    a = sw.memcpy(src, dst, N)
    t0 = plat.sim.now
    plat.run()
    _assert_halted_on(sw, eng, a, 0x12)
    assert eng.trace is not None
    err_t = eng.trace.of("error")[0].time
    assert err_t == t0 + 2 * US + plat.preset.dma.completion_cycles * 1000
    written = eng.counters.bytes_written
    assert 0 < written < N and written % 64 == 0
    out = plat.mem.read(dst, N)
    assert np.array_equal(out[:written], plat.mem.read(src, written))
    assert np.all(out[written:] == 0xEE)


def test_hang_then_timeout_or_abort(plat: Platform) -> None:
    eng, sw, src, dst = _setup(plat)
    eng.faults.hang(side="read", addr_range=(src + 4096, src + 4097))
    sw.memcpy(src, dst, 16384)
    plat.run(until=plat.sim.now + 1000 * US)
    assert eng.busy and eng.counters.descriptors == 0 and not sw.irqs
    assert sw.qrd(R.CMD_Q_STATUS_BASE) & R.Q_STATUS_BUSY_MASK
    sw.qwr(R.CMD_Q_ABORT_BASE, 1)
    plat.run()
    assert not eng.busy and eng.counters.aborted == 1
    st = sw.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE)
    assert st & R.INT_QUEUE_STOPPED and not st & (R.INT_COMPLETION | R.INT_ERROR)
    assert np.array_equal(plat.mem.read(dst, 4096), plat.mem.read(src, 4096))
    assert np.all(plat.mem.read(dst + 4096, 4096) == 0xEE)
    # hang with CMD_TIMEOUT set ends in error 0x12
    sw.check_status()
    sw.qwr(R.CMD_Q_HEAD_LO_BASE, sw.tail_value())
    sw.wr(R.CMD_TIMEOUT_OFFSET, 50_000)
    eng.faults.hang(side="write")
    sw.memcpy(src, dst, 64)
    plat.run()
    assert R.CMD_Q_ERROR(sw.qrd(R.CMD_Q_STATUS_BASE)) == 0x12 and not eng.busy


def test_abort_mid_transfer(plat: Platform) -> None:
    eng, sw, src, dst = _setup(plat)
    sw.qwr(R.CMD_Q_EXT_CTRL_BASE, R.Q_EXT_CTRL_STOP_ON_ERROR_MASK | R.Q_EXT_CTRL_DESC_WB_EN_MASK)
    sw.stop()
    a = sw.put(D.memcpy_descriptor(src, dst, N))
    sw.put(D.memcpy_descriptor(src, dst + N // 2, 1024))
    sw.doorbell()
    sw.start()
    plat.run(until=plat.sim.now + 2 * US)
    sw.qwr(R.CMD_Q_ABORT_BASE, 1)
    plat.run()
    assert eng.counters.aborted == 1 and eng.counters.descriptors == 0
    n = eng.counters.bytes_written
    assert 0 < n < N // 2
    out = plat.mem.read(dst, N)
    assert np.array_equal(out[:n], plat.mem.read(src, n)) and np.all(out[n:] == 0xEE)
    ctl = sw.qrd(R.CMD_Q_CONTROL_BASE)
    assert ctl & R.CMD_Q_HALT and not ctl & R.CMD_Q_RUN and eng.head == a
    dw6 = plat.mem.read_u32(a + 24)
    assert dw6 & 0xFF == R.PT_DESC_STATUS_ABORTED
    st = sw.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE)
    assert st == R.INT_QUEUE_STOPPED  # no IOC for the aborted descriptor
