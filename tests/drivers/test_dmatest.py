"""dmatest through the whole stack (dmatest.c semantics) on one and several channels, polled
and interrupt modes, and its failure classes under injected faults."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.dmaengine.dmatest import (
    PATTERN_COPY,
    PATTERN_DST,
    PATTERN_SRC,
    DmatestParams,
    dmatest_run,
    dmatest_verify,
    gen_inv_idx,
)
from tests.drivers.conftest import make_stack


@pytest.mark.parametrize("polled", [False, True])
def test_dmatest_one_channel(polled: bool) -> None:
    s = make_stack(1)
    rep = s.call(dmatest_run, s.kernel, DmatestParams(iterations=40, polled=polled))
    assert rep.channels == ["dma0chan0"]
    (t,) = rep.threads
    assert t.total_tests == 40 and t.failed_tests == 0, t.messages
    assert t.iops > 0 and t.kbs > 0
    assert "summary 40 tests, 0 failures" in t.summary()
    assert any("dma0chan0-copy0: summary 40 tests, 0 failures" in m for _, m in s.kernel.log)
    assert not s.pts[0].late_completions


def test_dmatest_several_channels_and_threads() -> None:
    s = make_stack(4)
    params = DmatestParams(iterations=12, threads_per_chan=2, max_channels=3,
                           src_node=1, dst_node=0)
    rep = s.call(dmatest_run, s.kernel, params)
    assert rep.channels == ["dma0chan0", "dma1chan0", "dma2chan0"]
    assert len(rep.threads) == 6
    assert rep.total_tests == 72 and rep.failed_tests == 0
    # channels are released afterwards
    assert all(pt.dma_dev.channels[0].client_count == 0 for pt in s.pts)


def test_dmatest_noverify_throughput_rises_with_size() -> None:
    kbs = []
    for size in (4096, 1 << 20):
        s = make_stack(1)
        p = DmatestParams(iterations=4, noverify=True, norandom=True, buf_size=size)
        rep = s.call(dmatest_run, s.kernel, p)
        assert rep.failed_tests == 0
        kbs.append(rep.threads[0].kbs)
    assert kbs[1] > 3 * kbs[0]
    assert kbs[1] < 12.5e9 / 1024  # never above the engine cap


def test_dmatest_channel_filter() -> None:
    s = make_stack(3)
    rep = s.call(dmatest_run, s.kernel, DmatestParams(iterations=2, channel="dma1chan0"))
    assert rep.channels == ["dma1chan0"]
    rep = s.call(dmatest_run, s.kernel, DmatestParams(iterations=2, device="ptdma2"))
    assert rep.channels == ["dma2chan0"]


@pytest.mark.parametrize(("reporting", "expected"), [
    ("faithful", "data error"),  # the hardware error completes as NOERROR: only the data says
    ("strict", "completion error status"),
])
def test_dmatest_read_error_failure_class(reporting: str, expected: str) -> None:
    s = make_stack(1, error_reporting=reporting)
    s.engines[0].faults.inject("read", "SLVERR")
    rep = s.call(dmatest_run, s.kernel, DmatestParams(iterations=5, norandom=True))
    t = rep.threads[0]
    assert t.failed_tests == 1 and t.failures == {expected: 1}, t.messages
    if expected == "data error":
        assert any("not copied!" in m for m in t.messages)
        assert any("errors suppressed" in m for m in t.messages)


@pytest.mark.parametrize("polled", [False, True])
def test_dmatest_hang_times_out(polled: bool) -> None:
    s = make_stack(1)
    s.engines[0].faults.hang("read")
    rep = s.call(dmatest_run, s.kernel,
                 DmatestParams(iterations=2, timeout_ms=50, polled=polled))
    t = rep.threads[0]
    # the engine stays stuck on the first descriptor: every test times out
    assert t.failures == {"test timed out": 2}
    assert any("'test timed out'" in m for m in t.messages)


def test_dmatest_verify_messages() -> None:
    n = 64
    idx = np.arange(n)
    src = (PATTERN_SRC | gen_inv_idx(idx)).astype(np.uint8)
    src[10:20] |= PATTERN_COPY
    log: list[str] = []
    assert dmatest_verify(src, 0, 10, 0, PATTERN_SRC, True, "t", log) == 0
    bad = src.copy()
    bad[3] ^= 1
    assert dmatest_verify(bad, 0, 10, 0, PATTERN_SRC, True, "t", log) == 1
    assert "srcbuf[0x3] overwritten!" in log[-1]
    dst = (PATTERN_DST | gen_inv_idx(idx)).astype(np.uint8)
    # window not copied (still the destination pattern)
    assert dmatest_verify(dst, 10, 20, 10, PATTERN_SRC | PATTERN_COPY, False, "t", log) == 10
    assert "not copied!" in log[-1]
    # source bytes leaked outside the window: "was copied"
    leak = dst.copy()
    leak[30] = src[30] | 0
    assert dmatest_verify(leak, 20, n, 20, PATTERN_DST, False, "t", log) == 1
    assert "dstbuf[0x1e] was copied!" in log[-1]
    # more than 32 errors: 32 messages then "N errors suppressed"
    log2: list[str] = []
    assert dmatest_verify(dst, 0, n, 0, PATTERN_SRC | PATTERN_COPY, False, "t", log2) == n
    assert len(log2) == 33 and log2[-1] == f"t: {n - 32} errors suppressed"
