"""dmaengine core: caps, cookies, callbacks, channel request/contention/release, find_channel,
dma_sync_wait (incl. its idle-poll fast-forward and the 5 s timeout), terminate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from drivers.dmaengine.dma_mapping import DMA_BIDIRECTIONAL, Device, dma_map_page
from drivers.dmaengine.dmaengine import (
    DMA_COMPLETE,
    DMA_CTRL_ACK,
    DMA_ERROR,
    DMA_IN_PROGRESS,
    DMA_INTERRUPT,
    DMA_MEMCPY,
    DMA_PREP_INTERRUPT,
    DMA_PRIVATE,
    DMA_TRANS_NOERROR,
    DMA_TRANS_READ_FAILED,
    EPROBE_DEFER,
    IS_ERR,
    DmaAsyncTxDescriptor,
    DmaCapMask,
    DmaChan,
    DmaDevice,
    DmaEngine,
    DmaengineDescCallback,
    DmaengineResult,
    DmaTxState,
    ErrPtr,
    dma_async_device_register,
    dma_async_is_complete,
    dma_async_is_tx_complete,
    dma_async_issue_pending,
    dma_cap_clear,
    dma_cap_set,
    dma_cap_zero,
    dma_cookie_assign,
    dma_cookie_complete,
    dma_cookie_init,
    dma_find_channel,
    dma_has_cap,
    dma_release_channel,
    dma_request_chan_by_mask,
    dma_request_channel,
    dma_sync_wait,
    dmaengine_desc_callback_invoke,
    dmaengine_get,
    dmaengine_get_dma_device,
    dmaengine_prep_dma_memcpy,
    dmaengine_put,
    dmaengine_submit,
    dmaengine_terminate_sync,
)
from drivers.dmaengine.virt_dma import (
    VirtDmaChan,
    VirtDmaDesc,
    to_virt_chan,
    vchan_cookie_complete,
    vchan_init,
    vchan_issue_pending,
    vchan_next_desc,
    vchan_tx_prep,
)
from drivers.kernel import Kernel
from drivers.mm.errno import ENODEV
from emulator.event_kernel import NS, US, S
from emulator.platform import Platform
from emulator.sync import Completion
from tests.drivers.conftest import make_stack

# --------------------------------------------------------------------------- unit level


def test_cap_mask_helpers() -> None:
    m = DmaCapMask()
    dma_cap_zero(m)
    assert not dma_has_cap(DMA_MEMCPY, m)
    dma_cap_set(DMA_MEMCPY, m)
    dma_cap_set(DMA_PRIVATE, m)
    assert dma_has_cap(DMA_MEMCPY, m) and dma_has_cap(DMA_PRIVATE, m)
    assert not dma_has_cap(DMA_INTERRUPT, m)
    dma_cap_clear(DMA_PRIVATE, m)
    assert not dma_has_cap(DMA_PRIVATE, m)


def test_cookie_arithmetic_and_wrap() -> None:
    chan = DmaChan()
    dma_cookie_init(chan)
    tx = DmaAsyncTxDescriptor(chan)
    c1 = dma_cookie_assign(tx)
    assert c1 == 2 and chan.cookie == 2
    assert dma_async_is_complete(c1, chan.completed_cookie, chan.cookie) == DMA_IN_PROGRESS
    dma_cookie_complete(tx)
    assert tx.cookie == 0 and chan.completed_cookie == c1
    assert dma_async_is_complete(c1, chan.completed_cookie, chan.cookie) == DMA_COMPLETE
    # wrap: the s32 cookie restarts at DMA_MIN_COOKIE
    chan.cookie = 0x7FFF_FFFF
    tx2 = DmaAsyncTxDescriptor(chan)
    assert dma_cookie_assign(tx2) == 1
    # after the wrap, completed (0x7fffffff) > used (1): cookie 1 in progress
    chan.completed_cookie = 0x7FFF_FFFF
    assert dma_async_is_complete(1, chan.completed_cookie, chan.cookie) == DMA_IN_PROGRESS
    assert dma_async_is_complete(0x7FFF_FFF0, chan.completed_cookie, chan.cookie) == DMA_COMPLETE


def test_callback_result_gets_dummy_noerror_when_driver_passes_null() -> None:
    seen: list[Any] = []
    cb = DmaengineDescCallback(callback_result=lambda p, r: seen.append((p, r)),
                               callback_param="x")
    dmaengine_desc_callback_invoke(cb, None)
    assert seen[0][0] == "x" and seen[0][1].result == DMA_TRANS_NOERROR
    dmaengine_desc_callback_invoke(cb, DmaengineResult(DMA_TRANS_READ_FAILED, 7))
    assert seen[1][1].result == DMA_TRANS_READ_FAILED and seen[1][1].residue == 7
    # a plain callback is used only when there is no callback_result
    plain: list[Any] = []
    cb2 = DmaengineDescCallback(callback=plain.append, callback_param=3)
    dmaengine_desc_callback_invoke(cb2, DmaengineResult(DMA_TRANS_READ_FAILED, 0))
    assert plain == [3]


# --------------------------------------------------------------------------- a public device
class SwDmaDesc(VirtDmaDesc):
    def __init__(self, dst: int, src: int, n: int) -> None:
        super().__init__()
        self.dst, self.src, self.n = dst, src, n


def register_sw_dma(k: Kernel, name: str = "swdma0", nchan: int = 2) -> DmaDevice:
    """A tiny *public* memcpy driver (no DMA_PRIVATE) on virt-dma: completes after 1 µs."""
    dd = DmaDevice(k, Device(k, name, 0))
    dma_cap_set(DMA_MEMCPY, dd.cap_mask)

    def prep(chan: DmaChan, dst: int, src: int, n: int, flags: int) -> DmaAsyncTxDescriptor:
        d = SwDmaDesc(dst, src, n)
        return vchan_tx_prep(to_virt_chan(chan), d, flags)

    def issue(chan: DmaChan) -> None:
        vc = to_virt_chan(chan)
        vchan_issue_pending(vc)
        while (vd := vchan_next_desc(vc)) is not None:
            assert isinstance(vd, SwDmaDesc)
            k.mem.copy(vd.dst, vd.src, vd.n)
            k.sim.schedule(US, vchan_cookie_complete, vd)
            vc.desc_issued.remove(vd)
            vd.node = None

    def status(chan: DmaChan, cookie: int, st: DmaTxState | None) -> Any:
        from drivers.dmaengine.dmaengine import dma_cookie_status
        return dma_cookie_status(chan, cookie, st)

    dd.device_prep_dma_memcpy = prep
    dd.device_issue_pending = issue
    dd.device_tx_status = status
    for _ in range(nchan):
        vc = VirtDmaChan()
        vc.desc_free = lambda vd: None
        vchan_init(vc, dd)
    assert dma_async_device_register(dd) == 0
    return dd


def test_public_channels_are_found_private_ptdma_never() -> None:
    s = make_stack(2)
    k = s.kernel
    # PTDMA is DMA_PRIVATE: dma_find_channel never returns it, even with a client
    dmaengine_get(k)
    assert dma_find_channel(k, DMA_MEMCPY) is None
    sw = register_sw_dma(k)
    chan = dma_find_channel(k, DMA_MEMCPY)
    assert chan is not None and chan.device is sw
    assert all(c.device is sw for c in k.subsystem(DmaEngine).channel_table[DMA_MEMCPY].values())
    dmaengine_put(k)
    assert dma_find_channel(k, DMA_MEMCPY) is None


def test_public_device_copies_and_wakes_callback() -> None:
    p = Platform(seed=3)
    k = Kernel(p)
    register_sw_dma(k)
    src, dst = p.alloc_pages(0), p.alloc_pages(0)
    p.mem.write(src, np.arange(4096, dtype=np.uint32).view(np.uint8)[:4096])

    def job() -> int:
        chan = dma_request_channel(k, DmaCapMask(DMA_MEMCPY))
        assert chan is not None
        c = Completion(p.sim)
        tx = dmaengine_prep_dma_memcpy(chan, dst, src, 4096, DMA_PREP_INTERRUPT)
        assert tx is not None
        tx.callback = lambda _a: c.complete()
        cookie = dmaengine_submit(tx)
        dma_async_issue_pending(chan)
        assert c.wait_for_completion_timeout(10 * US) > 0
        st = dma_async_is_tx_complete(chan, cookie)
        dma_release_channel(chan)
        return int(st)

    assert p.call(job) == DMA_COMPLETE
    assert np.array_equal(p.mem.read(dst, 4096), p.mem.read(src, 4096))


# --------------------------------------------------------------------------- request / release
def test_private_channels_exclusive_contention_and_release() -> None:
    s = make_stack(2)
    k = s.kernel
    mask = DmaCapMask(DMA_MEMCPY)

    def job() -> None:
        a = dma_request_channel(k, mask)
        b = dma_request_channel(k, mask)
        assert a is not None and b is not None and a is not b
        assert a.client_count == 1 and b.client_count == 1
        # all taken: NULL / ERR_PTR(-ENODEV)
        assert dma_request_channel(k, mask) is None
        e = dma_request_chan_by_mask(k, mask)
        assert isinstance(e, ErrPtr) and IS_ERR(e) and e.err == -ENODEV
        dma_release_channel(a)
        assert a.client_count == 0
        # DMA_PRIVATE is a permanent cap of PTDMA: it survives the release
        assert a.device is not None and dma_has_cap(DMA_PRIVATE, a.device.cap_mask)
        c = dma_request_chan_by_mask(k, mask)
        assert isinstance(c, DmaChan) and c is a
        # a filter picks the channel by name
        dma_release_channel(b)
        d = dma_request_channel(k, mask, lambda ch, want: ch.name == want, b.name)
        assert d is b
        dma_release_channel(c)
        dma_release_channel(d)
        # capability not offered: nobody has DMA_XOR
        from drivers.dmaengine.dmaengine import DMA_XOR
        assert dma_request_channel(k, DmaCapMask(DMA_XOR)) is None

    s.call(job)


def test_request_without_devices_is_probe_defer() -> None:
    k = Kernel(Platform(seed=0))
    e = dma_request_chan_by_mask(k, DmaCapMask(DMA_MEMCPY))
    assert isinstance(e, ErrPtr) and e.err == -EPROBE_DEFER


# --------------------------------------------------------------------------- sync wait
def _polled_copy(s: Any, n: int, fast_forward: bool) -> tuple[int, int, int, float, int]:
    p, k = s.platform, s.kernel
    k.subsystem(DmaEngine).poll_fast_forward = fast_forward
    src, dst = p.alloc_pages(1, 9), p.alloc_pages(0, 9)

    def job() -> tuple[int, int, int, float, int]:
        chan = dma_request_channel(k, DmaCapMask(DMA_MEMCPY))
        assert chan is not None
        dev = dmaengine_get_dma_device(chan)
        sa = dma_map_page(dev, src, 0, n, DMA_BIDIRECTIONAL)
        da = dma_map_page(dev, dst, 0, n, DMA_BIDIRECTIONAL)
        tx = dmaengine_prep_dma_memcpy(chan, da, sa, n, DMA_CTRL_ACK)
        assert tx is not None
        cookie = dmaengine_submit(tx)
        reads0 = k.bus.reads
        busy0 = p.cpu.cores[0].busy_cycles
        relax0 = p.cpu.op_counts["cpu_relax"]
        t0 = p.sim.now
        st = dma_sync_wait(chan, cookie)
        dt = p.sim.now - t0
        busy = p.cpu.cores[0].busy_cycles - busy0
        relax = p.cpu.op_counts["cpu_relax"] - relax0
        dmaengine_terminate_sync(chan)
        dma_release_channel(chan)
        return int(st), dt, k.bus.reads - reads0, busy, relax

    return p.call(job)


def test_sync_wait_fast_forward_is_exact() -> None:
    """The idle-poll fast-forward gives exactly the same status, time, MMIO read count, CPU
    cycles and cpu_relax count as polling every iteration (2 MiB polled copy: ~200 polls)."""
    s_on = make_stack(1)
    on = _polled_copy(s_on, 2 << 20, True)
    off = _polled_copy(make_stack(1), 2 << 20, False)
    assert on[0] == off[0] == DMA_COMPLETE
    assert on[1] == off[1]
    assert on[2] == off[2] > 100
    assert on[3] == pytest.approx(off[3]) and on[4] == off[4]
    assert s_on.kernel.subsystem(DmaEngine).polls_skipped > 100


def test_sync_wait_times_out_after_5s_with_dma_error() -> None:
    s = make_stack(1)
    s.engines[0].faults.hang("read")
    st, dt, reads, _, _ = _polled_copy(s, 4096, True)
    assert st == DMA_ERROR
    assert 5 * S <= dt < 5 * S + 10 * US
    assert reads > 5 * S // (900 * NS)  # one INT_STATUS read per ~0.82 µs iteration
    assert any("dma_sync_wait: timeout" in m for _, m in s.kernel.log)
    assert s.kernel.subsystem(DmaEngine).polls_skipped > 0


@pytest.mark.parametrize("use_terminate", [True, False])
def test_terminate_frees_descriptors_queued_on_channel(use_terminate: bool) -> None:
    s = make_stack(1)
    k, p = s.kernel, s.platform

    def job() -> int:
        chan = dma_request_channel(k, DmaCapMask(DMA_MEMCPY))
        assert chan is not None
        src, dst = p.alloc_pages(0), p.alloc_pages(0)
        txs = [dmaengine_prep_dma_memcpy(chan, dst, src, 64, DMA_CTRL_ACK) for _ in range(3)]
        for tx in txs:
            assert tx is not None
            dmaengine_submit(tx)
        vc = to_virt_chan(chan)
        assert len(vc.desc_submitted) == 3
        if use_terminate:
            dmaengine_terminate_sync(chan)
        dma_release_channel(chan)  # the last put frees the channel's resources anyway
        assert not vc.desc_submitted and not vc.desc_issued
        return sum(1 for tx in txs if tx is not None and tx.freed)

    assert s.call(job) == 3
