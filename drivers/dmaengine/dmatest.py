"""dmatest: the kernel's DMA engine self test, run through the whole emulated stack.

Port of the memcpy part of ``drivers/dma/dmatest.c`` (ptdma-model §9 A): per-channel test
threads (processes) that fill a source and a destination buffer with the dmatest patterns,
map them, prep/submit/issue a memcpy of a random (or fixed) length at random (or zero)
offsets, wait for it (callback + ``wait_event_timeout``, or ``dma_sync_wait`` in polled
mode), and verify *both whole buffers*, counting the same failure classes and printing the
same messages (at most 32 mismatches per region, then "N errors suppressed"). The summary
line per thread has tests, failures, iops and KB/s over simulated time, fill and compare
time excluded as in the C code.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from drivers.dmaengine.dma_mapping import (
    DMA_BIDIRECTIONAL,
    DMA_TO_DEVICE,
    dma_map_page,
    dma_mapping_error,
    get_order,
)
from drivers.dmaengine.dmaengine import (
    DMA_COMPLETE,
    DMA_COMPLETION_NO_ORDER,
    DMA_CTRL_ACK,
    DMA_ERROR,
    DMA_MEMCPY,
    DMA_OUT_OF_ORDER,
    DMA_PREP_INTERRUPT,
    DmaCapMask,
    DmaChan,
    DmaStatus,
    dma_async_is_tx_complete,
    dma_async_issue_pending,
    dma_cap_set,
    dma_cap_zero,
    dma_chan_name,
    dma_has_cap,
    dma_release_channel,
    dma_request_channel,
    dma_submit_error,
    dma_sync_wait,
    dmaengine_get_unmap_data,
    dmaengine_terminate_sync,
    dmaengine_unmap_put,
)
from drivers.mm.errno import ENOMEM
from emulator.event_kernel import MS
from emulator.sync import WaitQueue

if TYPE_CHECKING:
    from drivers.kernel import Kernel
    from emulator.event_kernel import Process

# Initialization patterns (dmatest.c)
PATTERN_SRC = 0x80
PATTERN_DST = 0x00
PATTERN_COPY = 0x40
PATTERN_OVERWRITE = 0x20
PATTERN_COUNT_MASK = 0x1F
MAX_ERROR_COUNT = 32

FAILURE_CLASSES = (
    "src mapping error",
    "dst mapping error",
    "prep error",
    "submit error",
    "test timed out",
    "completion error status",
    "completion busy status",
    "data error",
)


@dataclass
class DmatestParams:
    """``struct dmatest_params`` (module parameters), plus simulation-only placement knobs."""

    buf_size: int = 16384  # test_buf_size
    channel: str = ""  # bus ID of the channel to test (default: any)
    device: str = ""  # DMA engine (device name) to test (default: any)
    threads_per_chan: int = 1
    max_channels: int = 0  # 0 = all
    iterations: int = 1  # 0 = run until ``run_for_ps`` (the C default is infinite)
    timeout_ms: int = 3000  # -1 = infinite
    noverify: bool = False
    norandom: bool = False
    alignment: int = -1  # -1 = the device's copy_align
    transfer_size: int = 0  # 0 = random (or buf_size with norandom)
    polled: bool = False
    verbose: bool = False
    run_for_ps: int = 0  # with iterations == 0: stop the threads after this simulated time
    src_node: int | None = None  # port knob: node of the source buffers (None: thread's)
    dst_node: int | None = None  # port knob: node of the destination buffers


@dataclass
class DmatestThread:
    """One test thread's state and result (``struct dmatest_thread`` + its summary)."""

    name: str
    chan: DmaChan
    core: int
    total_tests: int = 0
    failed_tests: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    total_len: int = 0
    runtime_ps: int = 0
    ret: int = 0
    done: bool = False
    late_callbacks: int = 0  # callbacks after a timed-out test gave up (WARN in dmatest.c)
    messages: list[str] = field(default_factory=list)
    proc: Process | None = None

    @property
    def iops(self) -> float:
        """Tests per simulated second (``dmatest_persec``)."""
        return self.total_tests * 1e12 / self.runtime_ps if self.runtime_ps > 0 else 0.0

    @property
    def kbs(self) -> float:
        """KB per simulated second (``dmatest_KBs``)."""
        return (self.total_len >> 10) * 1e12 / self.runtime_ps if self.runtime_ps > 0 else 0.0

    def summary(self) -> str:
        """The ``summary %u tests, %u failures %llu iops %llu KB/s (%d)`` line."""
        return (f"{self.name}: summary {self.total_tests} tests, {self.failed_tests} failures "
                f"{self.iops:.2f} iops {self.kbs:.0f} KB/s ({self.ret})")


@dataclass
class DmatestReport:
    """All threads of one run."""

    threads: list[DmatestThread]
    channels: list[str]

    @property
    def total_tests(self) -> int:
        """Tests run by every thread."""
        return sum(t.total_tests for t in self.threads)

    @property
    def failed_tests(self) -> int:
        """Failed tests over every thread."""
        return sum(t.failed_tests for t in self.threads)

    def failures(self) -> Counter[str]:
        """Failure classes counted over every thread."""
        c: Counter[str] = Counter()
        for t in self.threads:
            c.update(t.failures)
        return c


def gen_inv_idx(index: np.ndarray) -> np.ndarray:
    """``gen_inv_idx``: ``~index & PATTERN_COUNT_MASK`` (vectorised)."""
    return (~index.astype(np.int64)) & PATTERN_COUNT_MASK


def _pattern(buf_size: int, start: int, length: int, base: int, window: int) -> np.ndarray:
    idx = np.arange(buf_size)
    out = (base | gen_inv_idx(idx)).astype(np.uint8)
    out[start : start + length] |= window
    return out


def dmatest_init_srcs(kernel: Kernel, buf: int, start: int, length: int, buf_size: int) -> None:
    """``dmatest_init_srcs``: bit 7 set; PATTERN_COPY inside the copy window."""
    kernel.mem.write(buf, _pattern(buf_size, start, length, PATTERN_SRC, PATTERN_COPY))


def dmatest_init_dsts(kernel: Kernel, buf: int, start: int, length: int, buf_size: int) -> None:
    """``dmatest_init_dsts``: bit 7 clear; PATTERN_OVERWRITE inside the window."""
    kernel.mem.write(buf, _pattern(buf_size, start, length, PATTERN_DST, PATTERN_OVERWRITE))


def dmatest_mismatch(
    actual: int, pattern: int, index: int, counter: int, is_srcbuf: bool, thread: str
) -> str:
    """``dmatest_mismatch``: the message for one bad byte."""
    diff = actual ^ pattern
    expected = pattern | (~counter & PATTERN_COUNT_MASK)
    if is_srcbuf:
        what = f"srcbuf[0x{index:x}] overwritten!"
    elif (pattern & PATTERN_COPY) and (diff & (PATTERN_COPY | PATTERN_OVERWRITE)):
        what = f"dstbuf[0x{index:x}] not copied!"
    elif diff & PATTERN_SRC:
        what = f"dstbuf[0x{index:x}] was copied!"
    else:
        what = f"dstbuf[0x{index:x}] mismatch!"
    return f"{thread}: {what} Expected {expected:02x}, got {actual:02x}"


def dmatest_verify(
    data: np.ndarray,
    start: int,
    end: int,
    counter: int,
    pattern: int,
    is_srcbuf: bool,
    thread: str,
    log: list[str],
) -> int:
    """``dmatest_verify``: count bytes of ``data[start:end]`` that differ from
    ``pattern | gen_inv_idx(counter...)``; log the first 32, then "N errors suppressed"."""
    if end <= start:
        return 0
    counters = np.arange(counter, counter + (end - start))
    expected = (pattern | gen_inv_idx(counters)).astype(np.uint8)
    actual = data[start:end]
    bad = np.flatnonzero(actual != expected)
    for j in bad[:MAX_ERROR_COUNT].tolist():
        log.append(dmatest_mismatch(int(actual[j]), pattern, start + j, counter + j, is_srcbuf,
                                    thread))
    if bad.size > MAX_ERROR_COUNT:
        log.append(f"{thread}: {bad.size - MAX_ERROR_COUNT} errors suppressed")
    return int(bad.size)


class _Done:
    """``struct dmatest_done``: poor man's completion."""

    def __init__(self, wait: WaitQueue) -> None:
        self.done = False
        self.wait = wait


def _result(kernel: Kernel, t: DmatestThread, err: str, n: int, src_off: int, dst_off: int,
            length: int, data: int) -> None:
    msg = (f"{t.name}: result #{n}: '{err}' with src_off=0x{src_off:x} dst_off=0x{dst_off:x} "
           f"len=0x{length:x} ({data})")
    t.messages.append(msg)
    kernel.printk(msg)


def _alloc_buf(kernel: Kernel, nbytes: int, node: int) -> tuple[int, int]:
    order = get_order(nbytes)
    return kernel.platform.alloc_pages(node, order), order


def dmatest_func(kernel: Kernel, params: DmatestParams, t: DmatestThread, stop: list[bool]) -> int:
    """``dmatest_func``: the test loop of one thread (runs as a process)."""
    sim = kernel.sim
    chan = t.chan
    dev = chan.device
    assert dev is not None
    rng = np.random.default_rng(int(sim.rng.integers(0, 2**63)))
    align = params.alignment if params.alignment >= 0 else dev.copy_align
    core_node = kernel.cpu.cores[t.core].node
    src_node = core_node if params.src_node is None else params.src_node
    dst_node = core_node if params.dst_node is None else params.dst_node
    buf_size = params.buf_size
    src_buf, src_order = _alloc_buf(kernel, buf_size + (1 << align), src_node)
    dst_buf, dst_order = _alloc_buf(kernel, buf_size + (1 << align), dst_node)
    flags = DMA_CTRL_ACK if params.polled else DMA_CTRL_ACK | DMA_PREP_INTERRUPT
    done_wait = WaitQueue(sim, f"{t.name}.done_wait")
    filltime = comparetime = 0
    start_time = sim.now
    timeout = None if params.timeout_ms < 0 else params.timeout_ms * MS

    def dmatest_callback(arg: Any) -> None:
        """``dmatest_callback``: mark done and wake the thread (WARN if it gave up)."""
        d = arg
        assert isinstance(d, _Done)
        if not t.done and not d.done:
            d.done = True
            d.wait.wake_all()
        else:
            t.late_callbacks += 1
            kernel.printk("WARNING: dmatest: Kernel memory may be corrupted!!")

    def fail(err: str, n: int, so: int, do: int, ln: int, data: int) -> None:
        """Count a failed test of class ``err`` and print its result line."""
        t.failed_tests += 1
        t.failures[err] += 1
        _result(kernel, t, err, n, so, do, ln, data)

    while not stop[0] and not (params.iterations and t.total_tests >= params.iterations):
        t.total_tests += 1
        if (1 << align) > buf_size:
            kernel.printk(f"{buf_size}-byte buffer too small for {1 << align}-byte alignment")
            break
        if params.transfer_size:
            length = params.transfer_size
        elif params.norandom:
            length = buf_size
        else:
            length = int(rng.integers(0, 2**32)) % buf_size + 1
        length = (length >> align) << align
        if not length:
            length = 1 << align
        if length > buf_size:
            kernel.printk(f"{t.name}: transfer_size {length} > buf_size {buf_size}")
            break
        t.total_len += length
        if params.norandom:
            src_off = dst_off = 0
        else:
            src_off = int(rng.integers(0, 2**32)) % (buf_size - length + 1)
            dst_off = int(rng.integers(0, 2**32)) % (buf_size - length + 1)
            src_off = (src_off >> align) << align
            dst_off = (dst_off >> align) << align
        if not params.noverify:
            t0 = sim.now
            dmatest_init_srcs(kernel, src_buf, src_off, length, buf_size)
            dmatest_init_dsts(kernel, dst_buf, dst_off, length, buf_size)
            filltime += sim.now - t0
        um = dmaengine_get_unmap_data(dev.dev, 2)
        um.len = buf_size
        um.addr[0] = dma_map_page(dev.dev, src_buf, 0, um.len, DMA_TO_DEVICE)
        srcs0 = um.addr[0] + src_off
        if dma_mapping_error(dev.dev, um.addr[0]):
            dmaengine_unmap_put(um)
            fail("src mapping error", t.total_tests, src_off, dst_off, length, -ENOMEM)
            continue
        um.to_cnt += 1
        # map with DMA_BIDIRECTIONAL to force writeback/invalidate
        um.addr[1] = dma_map_page(dev.dev, dst_buf, 0, um.len, DMA_BIDIRECTIONAL)
        if dma_mapping_error(dev.dev, um.addr[1]):
            dmaengine_unmap_put(um)
            fail("dst mapping error", t.total_tests, src_off, dst_off, length, -ENOMEM)
            continue
        um.bidi_cnt += 1
        assert dev.device_prep_dma_memcpy is not None
        tx = dev.device_prep_dma_memcpy(chan, um.addr[1] + dst_off, srcs0, length, flags)
        if tx is None:
            dmaengine_unmap_put(um)
            fail("prep error", t.total_tests, src_off, dst_off, length, 0)
            sim.sleep(100 * MS)  # msleep(100)
            continue
        done = _Done(done_wait)
        if not params.polled:
            tx.callback = dmatest_callback
            tx.callback_param = done
        assert tx.tx_submit is not None
        cookie = tx.tx_submit(tx)
        if dma_submit_error(cookie):
            dmaengine_unmap_put(um)
            fail("submit error", t.total_tests, src_off, dst_off, length, cookie)
            sim.sleep(100 * MS)
            continue
        status: DmaStatus
        if params.polled:
            status = dma_sync_wait(chan, cookie)
            dmaengine_terminate_sync(chan)
            if status == DMA_COMPLETE:
                done.done = True
        else:
            dma_async_issue_pending(chan)
            done_wait.wait_event(lambda d=done: d.done, timeout)
            status = dma_async_is_tx_complete(chan, cookie, None)
        if not done.done:
            dmaengine_unmap_put(um)
            fail("test timed out", t.total_tests, src_off, dst_off, length, 0)
            continue
        if status != DMA_COMPLETE and not (
            dma_has_cap(DMA_COMPLETION_NO_ORDER, dev.cap_mask) and status == DMA_OUT_OF_ORDER
        ):
            dmaengine_unmap_put(um)
            err = "completion error status" if status == DMA_ERROR else "completion busy status"
            fail(err, t.total_tests, src_off, dst_off, length, 0)
            continue
        dmaengine_unmap_put(um)
        if params.noverify:
            if params.verbose:
                _result(kernel, t, "test passed", t.total_tests, src_off, dst_off, length, 0)
            continue
        t0 = sim.now
        src = kernel.mem.read(src_buf, buf_size)
        dst = kernel.mem.read(dst_buf, buf_size)
        log: list[str] = []
        n = t.name
        errors = dmatest_verify(src, 0, src_off, 0, PATTERN_SRC, True, n, log)
        errors += dmatest_verify(src, src_off, src_off + length, src_off,
                                 PATTERN_SRC | PATTERN_COPY, True, n, log)
        errors += dmatest_verify(src, src_off + length, buf_size, src_off + length,
                                 PATTERN_SRC, True, n, log)
        errors += dmatest_verify(dst, 0, dst_off, 0, PATTERN_DST, False, n, log)
        errors += dmatest_verify(dst, dst_off, dst_off + length, src_off,
                                 PATTERN_SRC | PATTERN_COPY, False, n, log)
        errors += dmatest_verify(dst, dst_off + length, buf_size, dst_off + length,
                                 PATTERN_DST, False, n, log)
        for m in log:
            t.messages.append(m)
            kernel.printk(m)
        comparetime += sim.now - t0
        if errors:
            fail("data error", t.total_tests, src_off, dst_off, length, errors)
        elif params.verbose:
            _result(kernel, t, "test passed", t.total_tests, src_off, dst_off, length, 0)
    t.runtime_ps = max(0, sim.now - start_time - filltime - comparetime)
    kernel.platform.free_pages(src_buf, src_order)
    kernel.platform.free_pages(dst_buf, dst_order)
    t.ret = 0
    kernel.printk(t.summary())
    # terminate all transfers on specified channels
    if t.ret or t.failed_tests:
        dmaengine_terminate_sync(chan)
    t.done = True
    return t.ret


def dmatest_run(kernel: Kernel, params: DmatestParams) -> DmatestReport:
    """``run_threaded_test`` + wait + ``stop_threaded_test``: request every matching
    DMA_MEMCPY channel (``dma_request_channel`` with the channel/device filter, up to
    ``max_channels``), run ``threads_per_chan`` threads on each, wait for them, terminate
    and release the channels. Must run inside a process."""
    sim = kernel.sim
    if params.iterations <= 0 and params.run_for_ps <= 0:
        raise ValueError("dmatest: give iterations > 0 or run_for_ps > 0 (no infinite runs)")

    def dmatest_filter(chan: DmaChan, param: Any) -> bool:
        """``filter``: match the channel and device names when given."""
        p = param
        assert isinstance(p, DmatestParams)
        if p.channel and dma_chan_name(chan) != p.channel:
            return False
        return not (p.device and chan.device is not None and chan.device.dev.name != p.device)

    mask = DmaCapMask()
    dma_cap_zero(mask)
    dma_cap_set(DMA_MEMCPY, mask)
    chans: list[DmaChan] = []
    while True:
        chan = dma_request_channel(kernel, mask, dmatest_filter, params)
        if chan is None:
            break  # no more channels available
        chans.append(chan)
        kernel.printk(f"dmatest: Added {params.threads_per_chan} threads using "
                      f"{dma_chan_name(chan)}")
        if params.max_channels and len(chans) >= params.max_channels:
            break  # we have all we need
    if not chans:
        kernel.printk("dmatest: no channels")
    threads: list[DmatestThread] = []
    stop = [False]
    ncores = len(kernel.cpu.cores)
    for ci, chan in enumerate(chans):
        for i in range(params.threads_per_chan):
            core = (ci * params.threads_per_chan + i + 1) % ncores
            t = DmatestThread(f"{dma_chan_name(chan)}-copy{i}", chan, core)
            t.proc = sim.spawn(dmatest_func, kernel, params, t, stop, name=t.name, core=core)
            threads.append(t)
    if params.iterations <= 0:
        sim.sleep(params.run_for_ps)
        stop[0] = True
    for t in threads:
        assert t.proc is not None
        t.proc.join()
    for chan in chans:
        dmaengine_terminate_sync(chan)
        dma_release_channel(chan)
    return DmatestReport(threads, [dma_chan_name(c) for c in chans])

