"""Property-based fuzzing of the PTDMA model behind a translating IOMMU.

1. Random sequences of MMIO writes and reads, random descriptor contents, injected bus
   faults, hangs, FLRs and unmaps of the destination while the engine runs: no Python
   exception escapes the device, and the device writes only into the pages mapped writable
   for it (the destination buffer, the completion-record page, its ring).
2. One random descriptor at a time, programmed as the driver does: a bad descriptor is
   reported in the registers exactly as the register map says (Q_STATUS, INT_STATUS,
   CONTROL.HALTED, ERR_INFO code/side/index/count, ERR_DESC_ADDR, ERR_DATA_ADDR, HEAD),
   with no byte written past the failing line; a good one copies and completes. The
   expected outcome comes from a reference written here from ptdma-model §3-§6, not from
   the model's own validation code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.ptdma import ptdma_regs as R
from emulator.event_kernel import MS, US
from emulator.platform import Platform
from hdl_model.generated.regmap import REGISTERS
from hdl_model.ptdma_engine import PtdmaEngine, attach_ptdma
from tests.reliability.profiles import FUZZ, FUZZ_SLOW
from tests.reliability.ptsw_iommu import IommuPtSoftware

PAGE = 4096
NPAGES = 4  # source and destination buffers
LINE = 64
DRIVER_DW0 = 0x0050_0012  # CMD_DESC_DW0_VAL: IOC + EOM, FUNCTION 0, ENGINE 5 (PASSTHRU)
EXT_STOP_ON_ERROR = R.Q_EXT_CTRL_STOP_ON_ERROR_MASK
EXT_ZERO_LEN_NOP = R.Q_EXT_CTRL_ZERO_LEN_NOP_MASK
EXT_STRICT = R.Q_EXT_CTRL_STRICT_RESERVED_MASK


@dataclass
class Rig:
    """One engine behind the IOMMU, its software, its buffers and a log of device writes."""

    p: Platform
    eng: PtdmaEngine
    sw: IommuPtSoftware
    src: int  # physical
    dst: int
    cmpl: int
    s_iova: int  # the device's view
    d_iova: int
    c_iova: int
    src_data: np.ndarray
    guards: tuple[int, ...]
    writes: list[tuple[int, int]] = field(default_factory=list)  # (phys, n) by the device
    harness: bool = False  # True while the test itself writes memory

    def writable(self) -> list[tuple[int, int]]:
        """Physical ranges the IOMMU lets the engine write."""
        return [(self.dst, NPAGES * PAGE), (self.cmpl, PAGE), (self.sw.ring_phys, PAGE)]


def make_rig(detailed: bool = False, seed: int = 5) -> Rig:
    p = Platform(seed=seed, iommu_mode="translated")
    eng = attach_ptdma(p, 1, detailed=detailed)[0]
    sw = IommuPtSoftware(p, eng.pci)
    sw.init()
    name = eng.pci.dma_name
    src = p.alloc_pages(1, 2)  # 4 pages
    guards = (p.alloc_pages(0, 0), p.alloc_pages(1, 0))  # frames nobody maps
    dst = p.alloc_pages(0, 2)
    cmpl = p.alloc_pages(0, 0)
    for g in guards:
        p.mem.fill(g, PAGE, 0x5A)
    data = np.random.default_rng(seed).integers(0, 256, NPAGES * PAGE, dtype=np.uint8)
    p.mem.write(src, data)
    p.mem.fill(dst, NPAGES * PAGE, 0xEE)
    rig = Rig(p, eng, sw, src, dst, cmpl,
              p.iommu.map(name, src, NPAGES * PAGE, writable=False),
              p.iommu.map(name, dst, NPAGES * PAGE, writable=True),
              p.iommu.map(name, cmpl, PAGE, writable=True), data, guards)
    mem = p.mem
    write, copy, fill = mem.write, mem.copy, mem.fill

    def log(addr: int, n: int) -> None:
        if not rig.harness and n:
            rig.writes.append((addr, n))

    def t_write(addr: int, data: np.ndarray | bytes | bytearray) -> None:
        log(addr, data.size if isinstance(data, np.ndarray) else len(data))
        write(addr, data)

    def t_copy(dst: int, src: int, n: int) -> None:
        log(dst, n)
        copy(dst, src, n)

    def t_fill(addr: int, n: int, value: int = 0) -> None:
        log(addr, n)
        fill(addr, n, value)

    mem.write = t_write  # type: ignore[method-assign]
    mem.copy = t_copy  # type: ignore[method-assign]
    mem.fill = t_fill  # type: ignore[method-assign]
    return rig


def snapshot(rig: Rig) -> dict[str, np.ndarray]:
    """Frames the engine must not write: the source (mapped read-only) and two guards."""
    m = rig.p.mem
    out = {"src": m.read(rig.src, NPAGES * PAGE)}
    for i, g in enumerate(rig.guards):
        out[f"guard{i}"] = m.read(g, PAGE)
    return out


def assert_contained(rig: Rig, before: dict[str, np.ndarray]) -> None:
    ok = rig.writable()
    for a, n in rig.writes:
        assert any(lo <= a and a + n <= lo + size for lo, size in ok), (
            f"device wrote {n} B at {a:#x}, outside its writable mappings")
    after = snapshot(rig)
    for k, v in before.items():
        assert np.array_equal(after[k], v), f"{k} changed"


# ============================================================== 1. random sequences
ADDR = st.sampled_from(["src", "dst", "cmpl", "ring", "unmapped", "random"])
LENGTHS = st.one_of(st.sampled_from([0, 1, 63, 64, 65, 4095, 4096, 4097, NPAGES * PAGE,
                                     NPAGES * PAGE + 1, 1 << 20, 0xFFFF_FFFF]),
                    st.integers(0, NPAGES * PAGE))


@st.composite
def descriptors(draw: st.DrawFn) -> list[Any]:
    """Driver-shaped memcpy descriptors with random fields, or eight random dwords."""
    roll = draw(st.integers(0, 9))
    if roll == 0:
        return draw(st.lists(st.integers(0, 0xFFFF_FFFF), min_size=8, max_size=8))
    if roll >= 6:  # a valid copy inside the buffers, as the driver would build it
        n = draw(st.integers(1, NPAGES * PAGE))
        so = draw(st.integers(0, NPAGES * PAGE - n))
        do = draw(st.integers(0, NPAGES * PAGE - n))
        valid: list[Any] = [DRIVER_DW0, n, *[0] * 6, 0, ("src", so), ("dst", do)]
        return valid
    dw0 = draw(st.sampled_from([DRIVER_DW0, DRIVER_DW0 | 1, DRIVER_DW0 & ~2]))
    if draw(st.integers(0, 5)) == 0:
        dw0 = draw(st.integers(0, 0xFFFF_FFFF))
    src = (draw(ADDR), draw(st.integers(0, NPAGES * PAGE)))
    dst = (draw(ADDR), draw(st.integers(0, NPAGES * PAGE)))
    hi_bits = draw(st.sampled_from([0, 0, 0, 1 << 16, 1 << 26, 1 << 31]))
    out: list[Any] = [dw0, draw(LENGTHS), *[0] * 6, hi_bits, src, dst]  # resolved by the rig
    return out


def resolve(rig: Rig, where: tuple[str, int]) -> int:
    kind, off = where
    base = {"src": rig.s_iova, "dst": rig.d_iova, "cmpl": rig.c_iova, "ring": rig.sw.ring,
            "unmapped": rig.d_iova + 64 * PAGE, "random": 0x1234_5678_9ABC}[kind]
    return (base + off) & ((1 << 48) - 1)


def desc_dwords(rig: Rig, d: list[Any]) -> list[int]:
    if len(d) == 8:
        return [int(x) for x in d]
    dw0, length, *_, hi_bits, src, dst = d
    s, t = resolve(rig, src), resolve(rig, dst)
    return [dw0, length, s & 0xFFFF_FFFF, ((s >> 32) & 0xFFFF) | hi_bits, t & 0xFFFF_FFFF,
            ((t >> 32) & 0xFFFF) | hi_bits, 0, 0]


OFFSETS = sorted({r.offset for r in REGISTERS})
Q = R.CMD_Q_STATUS_INCR
# Registers whose random values leave the ring usable (most random writes go here; the rest
# go anywhere, CONTROL, HEAD and TAIL included).
GENTLE = sorted({r.offset for r in REGISTERS if r.name.split("_")[0] != "Q"} - {
    Q + R.CMD_Q_CONTROL_BASE} | {Q + o for o in (
        R.CMD_Q_INT_ENABLE_BASE, R.CMD_Q_INTERRUPT_STATUS_BASE, R.CMD_Q_EXT_CTRL_BASE,
        R.CMD_Q_CMPL_WB_LO_BASE, R.CMD_Q_CMPL_WB_LO_BASE + 4, R.CMD_Q_COAL_COUNT_BASE,
        R.CMD_Q_COAL_TIMER_BASE, R.CMD_Q_PERF_CTRL_BASE, R.CMD_Q_ABORT_BASE)})


@st.composite
def actions(draw: st.DrawFn) -> tuple[Any, ...]:
    k = draw(st.sampled_from(["desc", "desc", "desc", "mmio", "mmio", "read", "wait", "fault",
                              "recover", "recover", "flr", "unmap"]))
    if k == "desc":
        return ("desc", draw(descriptors()))
    if k == "mmio":
        off = draw(st.sampled_from(OFFSETS if draw(st.integers(0, 3)) == 0 else GENTLE))
        value = draw(st.one_of(st.integers(0, 0xFFFF_FFFF),
                               st.sampled_from([0, 1, 2, 3, 0xF, 0x3F, 0x7F])))
        if off == Q + R.CMD_Q_CMPL_WB_LO_BASE and draw(st.booleans()):
            value = -1  # point the completion record at its page
        return ("mmio", off, value)
    if k == "read":
        return ("read", draw(st.sampled_from(OFFSETS)))
    if k == "wait":
        return ("wait", draw(st.sampled_from([0, 100, 1_000, 10_000, 200_000])) * 1000)
    if k == "fault":
        return ("fault", draw(st.sampled_from(["read", "write", "fetch"])),
                draw(st.sampled_from(["SLVERR", "DECERR", "HANG"])))
    return (k,)


def play(rig: Rig, seq: list[tuple[Any, ...]]) -> None:
    p, sw, eng = rig.p, rig.sw, rig.eng
    for a in seq:
        kind = a[0]
        if kind == "desc":
            rig.harness = True
            sw.put(desc_dwords(rig, a[1]))
            rig.harness = False
            sw.doorbell()
            sw.start()
        elif kind == "mmio":
            _, off, value = a
            if value == -1:
                value = rig.c_iova & 0xFFFF_FFFF
                sw.wr(off + 4, rig.c_iova >> 32)  # CMPL_WB_HI
            sw.wr(off, value)
        elif kind == "read":
            sw.rd(a[1])
        elif kind == "wait":
            p.run(until=p.sim.now + a[1])
        elif kind == "fault":
            eng.faults.inject(a[1], a[2])
        elif kind == "recover":  # the driver's status check: W1C, and HEAD <- TAIL on error
            sw.check_status()
        elif kind == "flr":  # function-level reset, then the driver's init again
            eng.reset()
            sw.init(request_irq=False)
        elif kind == "unmap":  # software tears down the destination while it may be in use
            p.iommu.unmap(eng.pci.dma_name, rig.d_iova + PAGE, PAGE)
        p.run(until=p.sim.now + 2 * US)
    p.run(until=p.sim.now + 50 * MS)


def check_sequence(seq: list[tuple[Any, ...]], detailed: bool) -> None:
    rig = make_rig(detailed)
    before = snapshot(rig)
    play(rig, seq)  # an exception escaping the device fails the test here
    assert_contained(rig, before)
    eng = rig.eng
    assert eng.counters.descriptors + eng.counters.errors + eng.counters.aborted >= 0
    for r in REGISTERS:  # every register still reads (no exception, 32-bit values)
        assert 0 <= rig.sw.rd(r.offset) <= 0xFFFF_FFFF


@FUZZ
@given(st.lists(actions(), min_size=1, max_size=25), st.booleans())
@pytest.mark.pure_python
def test_random_mmio_and_descriptors_stay_inside_the_device(
        seq: list[tuple[Any, ...]], detailed: bool) -> None:
    check_sequence(seq, detailed)


@pytest.mark.slow
@FUZZ_SLOW
@given(st.lists(actions(), min_size=1, max_size=60), st.booleans())
@pytest.mark.pure_python
def test_random_mmio_and_descriptors_stay_inside_the_device_long(
        seq: list[tuple[Any, ...]], detailed: bool) -> None:
    check_sequence(seq, detailed)


# ============================================================== 2. error reporting
@dataclass(frozen=True)
class Expected:
    """What the register map says one descriptor does."""

    code: int  # 0 = completes
    side: int = 0  # ERR_INFO.SIDE: 0 descriptor, 1 read, 2 write, 3 fetch
    data_addr: int = 0
    written: int = 0  # bytes of the destination written (error: before the failing line)


def first_unmapped(rig: Rig, start: int, n: int, write: bool) -> int | None:
    """First byte of [start, start+n) whose page the device may not access (reference)."""
    spans = [(rig.s_iova, NPAGES * PAGE, False), (rig.d_iova, NPAGES * PAGE, True),
             (rig.c_iova, PAGE, True), (rig.sw.ring, PAGE, True)]
    a = start
    end = start + n
    while a < end:
        ok = any(lo <= a < lo + size and (w or not write) for lo, size, w in spans)
        if not ok:
            return a
        a = (a // PAGE + 1) * PAGE
    return None


def line_start(src: int, offset: int) -> int:
    """Bytes before the 64 B line (aligned to the source) that holds byte ``offset``."""
    first = LINE - src % LINE
    return 0 if offset < first else first + (offset - first) // LINE * LINE


def reference(rig: Rig, dws: list[int], ext: int, fault: tuple[str, str, int] | None
              ) -> Expected:
    """ptdma-model §5: the first failing check sets the code."""
    dw0, length = dws[0], dws[1]
    src = ((dws[3] & 0xFFFF) << 32) | dws[2]
    dst = ((dws[5] & 0xFFFF) << 32) | dws[4]
    if (dw0 >> 20) & 0xF != 5:
        return Expected(0x01)
    if (dw0 >> 5) & 0x7FFF:
        return Expected(0x03)
    reserved = (dw0 & (1 << 2 | 0x7F << 25)) or dws[3] & (0x1F << 26) or dws[5] & (
        0x1FFF << 18) or dws[6] or dws[7]
    overlap = length and src < dst + length and dst < src + length
    if ext & EXT_STRICT and (reserved or overlap):
        return Expected(0x08)
    if length == 0:
        return Expected(0 if ext & EXT_ZERO_LEN_NOP else 0x09)
    bad = first_unmapped(rig, src, length, False)
    if bad is not None:
        return Expected(0x0B, 1, bad)
    bad = first_unmapped(rig, dst, length, True)
    if bad is not None:
        return Expected(0x0B, 2, bad)
    if (dws[3] >> 16) & 3 or (dws[5] >> 16) & 3:
        return Expected(0x0C)
    if fault is not None:
        side, resp, off = fault
        off = min(off, length - 1)
        code = {("read", "SLVERR"): 0x13, ("read", "DECERR"): 0x14,
                ("write", "SLVERR"): 0x26, ("write", "DECERR"): 0x27}[(side, resp)]
        return Expected(code, 1 if side == "read" else 2,
                        (src if side == "read" else dst) + off, line_start(src, off))
    return Expected(0, written=length)


@st.composite
def single(draw: st.DrawFn) -> tuple[list[Any], int, tuple[str, str, int] | None, bool]:
    d = draw(descriptors())
    ext = EXT_STOP_ON_ERROR | draw(st.sampled_from([0, 0, EXT_ZERO_LEN_NOP, EXT_STRICT]))
    fault = None
    if draw(st.integers(0, 3)) == 0:
        fault = (draw(st.sampled_from(["read", "write"])),
                 draw(st.sampled_from(["SLVERR", "DECERR"])), draw(st.integers(0, 1 << 20)))
    return d, ext, fault, draw(st.booleans())


def check_single(d: list[Any], ext: int, fault: tuple[str, str, int] | None,
                 detailed: bool) -> None:
    rig = make_rig(detailed)
    p, sw, eng = rig.p, rig.sw, rig.eng
    before = snapshot(rig)
    dws = desc_dwords(rig, d)
    exp = reference(rig, dws, ext, fault)
    if fault is not None and exp.code in (0x13, 0x14, 0x26, 0x27):
        side, resp, _ = fault
        eng.faults.inject(side, resp, addr_range=(exp.data_addr, exp.data_addr + 1))
    sw.qwr(R.CMD_Q_EXT_CTRL_BASE, ext)
    rig.harness = True
    slot = sw.submit(dws)
    rig.harness = False
    p.run(until=p.sim.now + 10 * MS)
    assert_contained(rig, before)
    st_ = sw.qrd(R.CMD_Q_INTERRUPT_STATUS_BASE)
    qs = sw.qrd(R.CMD_Q_STATUS_BASE)
    ctl = sw.qrd(R.CMD_Q_CONTROL_BASE)
    info = sw.qrd(R.CMD_Q_ERR_INFO_BASE)
    src = ((dws[3] & 0xFFFF) << 32) | dws[2]
    dst = ((dws[5] & 0xFFFF) << 32) | dws[4]
    if exp.code == 0:
        assert st_ & R.INT_COMPLETION if dws[0] & 2 else True
        assert not st_ & R.INT_ERROR and R.CMD_Q_ERROR(qs) == 0
        assert qs >> 16 == 1  # one descriptor completed
        assert eng.head == (slot & ~(32 * 32 - 1)) | ((slot + 32) & (32 * 32 - 1))
        if exp.written and not overlap(src, dst, exp.written):
            assert np.array_equal(view(rig, dst, exp.written), before_src(rig, src, exp.written))
        return
    # an error: exactly what the register map (§3) and §5 say
    assert st_ & R.INT_ERROR and st_ & R.INT_QUEUE_STOPPED and not st_ & R.INT_COMPLETION
    assert R.CMD_Q_ERROR(qs) == exp.code and qs & R.Q_STATUS_HALTED_MASK and qs >> 16 == 0
    assert ctl & R.CMD_Q_HALT and not ctl & R.CMD_Q_RUN
    assert info & R.Q_ERR_INFO_CODE_MASK == exp.code
    assert (info & R.Q_ERR_INFO_SIDE_MASK) >> R.Q_ERR_INFO_SIDE_SHIFT == exp.side
    assert (info & R.Q_ERR_INFO_RING_INDEX_MASK) >> R.Q_ERR_INFO_RING_INDEX_SHIFT == 0
    assert (info & R.Q_ERR_INFO_ERR_COUNT_MASK) >> R.Q_ERR_INFO_ERR_COUNT_SHIFT == 1
    desc_addr = sw.qrd(R.CMD_Q_ERR_DESC_ADDR_LO_BASE) | sw.qrd(R.CMD_Q_ERR_DESC_ADDR_HI_BASE) << 32
    data_addr = sw.qrd(R.CMD_Q_ERR_DATA_ADDR_LO_BASE) | sw.qrd(R.CMD_Q_ERR_DATA_ADDR_HI_BASE) << 32
    assert desc_addr == slot and eng.head == slot  # HEAD stays on the failing descriptor
    assert data_addr == exp.data_addr
    if exp.code in (0x13, 0x14, 0x26, 0x27) and not overlap(src, dst, dws[1]):
        # a bus fault mid-stream: the lines before it land, nothing after it
        assert np.array_equal(view(rig, dst, exp.written), before_src(rig, src, exp.written))
        rest = min(dws[1], NPAGES * PAGE) - exp.written
        if dst_in_buffer(rig, dst + exp.written, rest):
            assert (view(rig, dst + exp.written, rest) == 0xEE).all(), "written past the fault"
    elif dst_in_buffer(rig, dst, min(dws[1], PAGE)):
        assert (view(rig, dst, min(dws[1], PAGE)) == 0xEE).all(), "written despite the error"


def view(rig: Rig, iova: int, n: int) -> np.ndarray:
    """The bytes the device sees at [iova, iova+n) (through the IOMMU, no side effect)."""
    pieces = rig.p.iommu.translate(rig.eng.pci.dma_name, iova, n, write=False)
    return np.concatenate([rig.p.mem.read(a, k) for a, k in pieces]) if n else np.zeros(0)


def before_src(rig: Rig, src_iova: int, n: int) -> np.ndarray:
    """What the source bytes were (the source is read-only to the device, so still are)."""
    return view(rig, src_iova, n)


def overlap(src: int, dst: int, n: int) -> bool:
    """Overlapping copies are undefined on PTDMA (ptdma-model §4): no data check then."""
    return src < dst + n and dst < src + n


def dst_in_buffer(rig: Rig, iova: int, n: int) -> bool:
    return n > 0 and rig.d_iova <= iova and iova + n <= rig.d_iova + NPAGES * PAGE


@FUZZ
@given(single())
@pytest.mark.pure_python
def test_every_bad_descriptor_is_reported_as_the_register_map_says(
        case: tuple[list[Any], int, tuple[str, str, int] | None, bool]) -> None:
    check_single(*case)


@pytest.mark.slow
@FUZZ_SLOW
@given(single())
@pytest.mark.pure_python
def test_every_bad_descriptor_is_reported_as_the_register_map_says_long(
        case: tuple[list[Any], int, tuple[str, str, int] | None, bool]) -> None:
    check_single(*case)
