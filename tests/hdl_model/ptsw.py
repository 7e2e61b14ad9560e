"""Test-side software for the PTDMA model: MMIO, shared memory and the MSI, nothing else.

``PtSoftware`` programs one engine exactly as the Linux driver does (``pt_core_init``,
``pt_core_perform_passthru`` / ``pt_core_execute_cmd``, ``pt_check_status_trans``), using only
the generated driver constants (``drivers/ptdma/ptdma_regs.py``) and ``engine.pci``. The
``dmatest`` helpers replicate ``drivers/dma/dmatest.c`` patterns and verification.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from drivers.ptdma import ptdma_regs as R
from emulator.platform import Platform
from hdl_model import descriptor as D


class PtSoftware:
    """One engine driven through its BAR, its ring in memory and its MSI vector."""

    def __init__(
        self,
        platform: Platform,
        pci: object,
        entries: int = R.CMD_Q_LEN,
        ring_node: int | None = None,
        ring_addr: int | None = None,
    ) -> None:
        self.p = platform
        self.pci = pci
        self.bar: int = pci.bar_base  # type: ignore[attr-defined]
        self.q = self.bar + R.CMD_Q_STATUS_INCR  # reg_control
        self.entries = entries
        ring_bytes = entries * R.Q_DESC_SIZE
        if ring_addr is None:
            node = pci.node if ring_node is None else ring_node  # type: ignore[attr-defined]
            order = max(0, (max(ring_bytes, 4096) - 1).bit_length() - 12)
            ring_addr = platform.alloc_pages(node, order)
        self.ring = ring_addr
        self.qidx = 0
        self.qcontrol = 0
        self.irqs: list[int] = []
        self.int_en = True

    # ------------------------------------------------------------ register access
    def rd(self, off: int) -> int:
        return self.p.bus.ioread32(self.bar + off)

    def wr(self, off: int, value: int) -> None:
        self.p.bus.iowrite32(value, self.bar + off)

    def qrd(self, off: int) -> int:
        return self.p.bus.ioread32(self.q + off)

    def qwr(self, off: int, value: int) -> None:
        self.p.bus.iowrite32(value, self.q + off)

    # ------------------------------------------------------------ pt_core_init
    def init(self, request_irq: bool = True) -> None:
        """``pt_core_init`` register sequence, exactly."""
        self.wr(R.CMD_CONFIG_OFFSET, R.CMD_CONFIG_VHB_EN)
        self.wr(R.CMD_QUEUE_PRIO_OFFSET, R.CMD_QUEUE_PRIO)
        self.wr(R.CMD_TIMEOUT_OFFSET, R.CMD_TIMEOUT_DISABLE)
        self.wr(R.CMD_CLK_GATE_CTL_OFFSET, R.CMD_CLK_GATE_CONFIG)
        self.wr(R.CMD_REQID_CONFIG_OFFSET, R.CMD_CONFIG_REQID)
        self.qidx = 0
        self.qwr(R.CMD_Q_INT_ENABLE_BASE, 0)  # pt_core_disable_queue_interrupts
        self.qcontrol = 0
        self.qwr(R.CMD_Q_CONTROL_BASE, self.qcontrol)
        self.qrd(R.CMD_Q_INT_STATUS_BASE)
        self.qrd(R.CMD_Q_STATUS_BASE)
        self.qwr(R.CMD_Q_INTERRUPT_STATUS_BASE, R.SUPPORTED_INTERRUPTS)
        if request_irq:
            vec = self.pci.msi_vector  # type: ignore[attr-defined]
            self.p.irq.request_irq(vec, self._irq, "pt", self)
        size_val = ((self.entries & -self.entries).bit_length() - 2) & R.CMD_Q_SIZE_MASK
        self.qcontrol &= ~R.CMD_Q_SIZE
        self.qcontrol |= size_val << R.CMD_Q_SIZE_SHIFT
        lo = self.ring & 0xFFFF_FFFF
        self.qwr(R.CMD_Q_TAIL_LO_BASE, lo)
        self.qwr(R.CMD_Q_HEAD_LO_BASE, lo)
        self.qcontrol |= (self.ring >> 32) << R.CMD_Q_BASE_HI_SHIFT
        self.qwr(R.CMD_Q_CONTROL_BASE, self.qcontrol)
        self.qwr(R.CMD_Q_INT_ENABLE_BASE, R.SUPPORTED_INTERRUPTS)

    def _irq(self, vector: int, dev: object) -> None:
        self.irqs.append(self.p.sim.now)

    # ------------------------------------------------------------ submit path
    def slot_addr(self, idx: int) -> int:
        return self.ring + (idx % self.entries) * R.Q_DESC_SIZE

    def put(self, desc: D.Descriptor | Sequence[int]) -> int:
        """Copy a descriptor into the next ring slot (no doorbell); returns its address."""
        if isinstance(desc, D.Descriptor):
            raw = desc.pack()
        else:
            raw = np.array(desc, "<u4").view(np.uint8)
        addr = self.slot_addr(self.qidx)
        self.p.mem.write(addr, raw)
        self.qidx = (self.qidx + 1) % self.entries
        return addr

    def tail_value(self) -> int:
        return (self.ring + self.qidx * R.Q_DESC_SIZE) & 0xFFFF_FFFF

    def doorbell(self) -> None:
        self.qwr(R.CMD_Q_TAIL_LO_BASE, self.tail_value())

    def start(self) -> None:
        self.qwr(R.CMD_Q_CONTROL_BASE, self.qcontrol | R.CMD_Q_RUN)  # pt_start_queue

    def stop(self) -> None:
        self.qwr(R.CMD_Q_CONTROL_BASE, self.qcontrol & ~R.CMD_Q_RUN)  # pt_stop_queue

    def submit(self, desc: D.Descriptor | Sequence[int], int_en: bool | None = None) -> int:
        """``pt_core_perform_passthru`` + ``pt_core_execute_cmd``: INT_ENABLE, copy, TAIL, RUN."""
        en = self.int_en if int_en is None else int_en
        self.qwr(R.CMD_Q_INT_ENABLE_BASE, R.SUPPORTED_INTERRUPTS if en else 0)
        addr = self.put(desc)
        self.doorbell()
        self.start()
        return addr

    def memcpy(self, src: int, dst: int, n: int, ioc: bool = True) -> int:
        return self.submit(D.memcpy_descriptor(src, dst, n, ioc))

    # ------------------------------------------------------------ completion
    def check_status(self) -> tuple[int, int, int, int]:
        """``pt_check_status_trans``: (INT_STATUS, Q_STATUS, Q_INT_STATUS, cmd_error)."""
        status = self.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE)
        if not status:
            return 0, 0, 0, 0
        q_status = self.qrd(R.CMD_Q_STATUS_BASE)
        q_int = self.qrd(R.CMD_Q_INT_STATUS_BASE)
        err = R.CMD_Q_ERROR(q_status) if status & R.INT_ERROR else 0
        self.qwr(R.CMD_Q_INTERRUPT_STATUS_BASE, status)
        if err:  # pt_do_cmd_complete: flush the queue by moving HEAD to the tail
            self.qwr(R.CMD_Q_HEAD_LO_BASE, self.tail_value())
        return status, q_status, q_int, err

    @property
    def head(self) -> int:
        return self.qrd(R.CMD_Q_HEAD_LO_BASE)

    def perf(self, stem: str) -> int:
        """A 64-bit PERF counter read as LO then HI (LO latches HI)."""
        off = getattr(R, f"CMD_Q_PERF_{stem}_LO_BASE")
        lo = self.qrd(off)
        return lo | (self.qrd(off + 4) << 32)


# ---------------------------------------------------------------- dmatest (drivers/dma/dmatest.c)
PATTERN_SRC = 0x80
PATTERN_DST = 0x00
PATTERN_COPY = 0x40
PATTERN_OVERWRITE = 0x20
PATTERN_COUNT_MASK = 0x1F
MAX_ERROR_COUNT = 32


def _inv_idx(start: int, n: int) -> np.ndarray:
    return (~np.arange(start, start + n, dtype=np.int64) & PATTERN_COUNT_MASK).astype(np.uint8)


def init_srcs(buf_size: int, start: int, length: int) -> np.ndarray:
    """``dmatest_init_srcs``: bit 7 everywhere, COPY inside the window, ~index low bits."""
    buf = PATTERN_SRC | _inv_idx(0, buf_size)
    buf[start : start + length] |= PATTERN_COPY
    return buf.astype(np.uint8)


def init_dsts(buf_size: int, start: int, length: int) -> np.ndarray:
    """``dmatest_init_dsts``: bit 7 clear, OVERWRITE inside the window, ~index low bits."""
    buf = PATTERN_DST | _inv_idx(0, buf_size)
    buf[start : start + length] |= PATTERN_OVERWRITE
    return buf.astype(np.uint8)


@dataclass
class VerifyResult:
    """Errors found by ``dmatest_verify`` calls and the messages dmatest would print."""

    errors: int = 0
    messages: list[str] = field(default_factory=list)


def _verify(
    res: VerifyResult,
    buf: np.ndarray,
    start: int,
    end: int,
    counter: int,
    pattern: int,
    is_srcbuf: bool,
) -> None:
    """``dmatest_verify`` over buf[start:end] with the counter starting at ``counter``."""
    if end <= start:
        return
    actual = buf[start:end]
    expected = (pattern | _inv_idx(counter, end - start)).astype(np.uint8)
    bad = np.nonzero(actual != expected)[0]
    for i in bad:
        if res.errors < MAX_ERROR_COUNT:
            a, e = int(actual[i]), int(expected[i])
            diff = a ^ pattern
            idx = start + int(i)
            if is_srcbuf:
                what = f"srcbuf[{idx:#x}] overwritten!"
            elif pattern & PATTERN_COPY and diff & (PATTERN_COPY | PATTERN_OVERWRITE):
                what = f"dstbuf[{idx:#x}] not copied!"
            elif diff & PATTERN_SRC:
                what = f"dstbuf[{idx:#x}] was copied!"
            else:
                what = f"dstbuf[{idx:#x}] mismatch!"
            res.messages.append(f"{what} Expected {e:02x}, got {a:02x}")
        res.errors += 1


def verify(
    src: np.ndarray, dst: np.ndarray, src_off: int, dst_off: int, length: int
) -> VerifyResult:
    """The six ``dmatest_verify`` calls of ``dmatest_func`` over the whole buffers."""
    buf_size = src.size
    res = VerifyResult()
    _verify(res, src, 0, src_off, 0, PATTERN_SRC, True)
    _verify(res, src, src_off, src_off + length, src_off, PATTERN_SRC | PATTERN_COPY, True)
    _verify(res, src, src_off + length, buf_size, src_off + length, PATTERN_SRC, True)
    _verify(res, dst, 0, dst_off, 0, PATTERN_DST, False)
    _verify(res, dst, dst_off, dst_off + length, src_off, PATTERN_SRC | PATTERN_COPY, False)
    _verify(res, dst, dst_off + length, buf_size, dst_off + length, PATTERN_DST, False)
    if res.errors > MAX_ERROR_COUNT:
        res.messages.append(f"{res.errors - MAX_ERROR_COUNT} errors suppressed")
    return res


def random_len_offsets(
    rng: np.random.Generator, buf_size: int, align: int = 0
) -> tuple[int, int, int]:
    """dmatest randomisation: len = rand % buf_size + 1 rounded down to 2^align, offsets."""
    length = int(rng.integers(0, 1 << 32)) % buf_size + 1
    length = (length >> align) << align
    if not length:
        length = 1 << align
    src_off = int(rng.integers(0, 1 << 32)) % (buf_size - length + 1)
    dst_off = int(rng.integers(0, 1 << 32)) % (buf_size - length + 1)
    return length, (src_off >> align) << align, (dst_off >> align) << align
