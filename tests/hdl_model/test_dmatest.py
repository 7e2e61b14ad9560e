"""dmatest-style data integrity, only through MMIO and memory (ptdma-model §9 A, B)."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.ptdma import ptdma_regs as R
from emulator.platform import Platform
from hdl_model.ptdma_engine import attach_ptdma
from tests.hdl_model import ptsw
from tests.hdl_model.ptsw import PtSoftware

BUF = 16384  # dmatest test_buf_size


def _one_copy(
    plat: Platform, sw: PtSoftware, src: int, dst: int, length: int, src_off: int, dst_off: int
) -> ptsw.VerifyResult:
    size = max(BUF, src_off + length, dst_off + length)
    plat.mem.write(src, ptsw.init_srcs(size, src_off, length))
    plat.mem.write(dst, ptsw.init_dsts(size, dst_off, length))
    sw.memcpy(src + src_off, dst + dst_off, length)
    plat.run()
    status, _, _, err = sw.check_status()
    assert status & R.INT_COMPLETION and not err
    return ptsw.verify(plat.mem.read(src, size), plat.mem.read(dst, size), src_off, dst_off, length)


def test_dmatest_verify_detects_each_failure_class() -> None:
    src = ptsw.init_srcs(64, 8, 16)
    dst = ptsw.init_dsts(64, 4, 16)
    assert ptsw.verify(src, dst, 8, 4, 16).messages[0].startswith("dstbuf[0x4] not copied!")
    good = dst.copy()
    good[4:20] = src[8:24]
    assert ptsw.verify(src, good, 8, 4, 16).errors == 0
    leak = good.copy()
    leak[30] = src[30]
    assert "was copied!" in ptsw.verify(src, leak, 8, 4, 16).messages[0]
    bad = good.copy()
    bad[10] ^= 0x01
    assert ptsw.verify(src, bad, 8, 4, 16).messages == ["dstbuf[0xa] mismatch! Expected d1, got d0"]
    src2 = src.copy()
    src2[0] = 0
    assert "srcbuf[0x0] overwritten!" in ptsw.verify(src2, good, 8, 4, 16).messages[0]
    many = np.zeros(64, np.uint8)
    res = ptsw.verify(src, many, 8, 4, 16)
    assert res.messages[-1] == f"{res.errors - 32} errors suppressed" and len(res.messages) == 33


@pytest.mark.parametrize(
    ("length", "src_off", "dst_off"),
    [
        (1, 0, 0), (2, 1, 3), (3, 5, 0), (4, 0, 4), (31, 7, 1), (32, 0, 0), (64, 0, 0),
        (128, 1, 63), (4095, 1, 0), (4096, 0, 0), (4097, 4095, 4090), (100, 4050, 4090),
        (8192, 3, 4093), (65536, 0, 17), (2 << 20, 0, 0),
    ],
)  # fmt: skip
def test_lengths_and_offsets(plat: Platform, length: int, src_off: int, dst_off: int) -> None:
    eng = attach_ptdma(plat, 1)[0]
    sw = PtSoftware(plat, eng.pci)
    sw.init()
    size = max(BUF, length + 8192)
    src = plat.frames[1].alloc_contig(size)
    dst = plat.frames[0].alloc_contig(size)
    res = _one_copy(plat, sw, src, dst, length, src_off, dst_off)
    assert res.errors == 0, res.messages[:5]
    assert eng.counters.bytes_written == length


def test_random_dmatest_one_engine(plat: Platform) -> None:
    eng = attach_ptdma(plat, 1)[0]
    sw = PtSoftware(plat, eng.pci)
    sw.init()
    src, dst = plat.alloc_pages(1, 2), plat.alloc_pages(0, 2)
    rng = np.random.default_rng(7)
    total = 0
    for it in range(60):  # > 32: the ring wraps too
        length, so, do = ptsw.random_len_offsets(rng, BUF, align=0 if it % 2 else 2)
        res = _one_copy(plat, sw, src, dst, length, so, do)
        assert res.errors == 0, (it, length, so, do, res.messages[:3])
        total += length
    assert eng.counters.descriptors == 60 and eng.counters.bytes_written == total
    assert sw.perf("BYTES_WRITTEN") == total and sw.perf("DESC_DONE") == 60
    assert len(sw.irqs) == 60  # one MSI per completion (INT_STATUS acked each time)


def test_random_dmatest_sixteen_engines_concurrently(plat: Platform) -> None:
    engs = attach_ptdma(plat, 16)
    rng = np.random.default_rng(11)
    sws = []
    for e in engs:
        s = PtSoftware(plat, e.pci)
        s.init()
        sws.append(s)
    bufs = [(plat.alloc_pages(1 - e.node, 2), plat.alloc_pages(e.node, 2)) for e in engs]
    for _round in range(4):
        jobs = []
        for s, (src, dst) in zip(sws, bufs, strict=True):
            length, so, do = ptsw.random_len_offsets(rng, BUF)
            plat.mem.write(src, ptsw.init_srcs(BUF, so, length))
            plat.mem.write(dst, ptsw.init_dsts(BUF, do, length))
            s.memcpy(src + so, dst + do, length)
            jobs.append((length, so, do))
        plat.run()
        for s, (src, dst), (length, so, do) in zip(sws, bufs, jobs, strict=True):
            status, _, _, err = s.check_status()
            assert status & R.INT_COMPLETION and not err
            res = ptsw.verify(plat.mem.read(src, BUF), plat.mem.read(dst, BUF), so, do, length)
            assert res.errors == 0, res.messages[:3]
    assert all(e.counters.descriptors == 4 for e in engs)
