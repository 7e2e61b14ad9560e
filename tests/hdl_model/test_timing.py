"""Timing properties, fast vs detailed equality, speed, trace and VCD (§8; §9 G)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drivers.ptdma import ptdma_regs as R
from emulator.event_kernel import NS, US
from emulator.numa_timing import bytes_time_ps
from emulator.platform import Platform
from hdl_model import descriptor as D
from hdl_model.ptdma_engine import PtdmaEngine, attach_ptdma
from tests.hdl_model.ptsw import PtSoftware

MiB = 1 << 20


def _copy_time(plat: Platform, eng: PtdmaEngine, src: int, dst: int, n: int) -> int:
    """Doorbell (TAIL write landing) to the completion event, in ps."""
    sw = PtSoftware(plat, eng.pci)
    sw.init()
    t0 = plat.sim.now
    sw.memcpy(src, dst, n)
    plat.run()
    assert eng.trace is not None
    return eng.trace.of("complete")[-1].time - t0


def test_2mib_local_approaches_engine_cap(plat: Platform) -> None:
    eng = attach_ptdma(plat, 1, trace=True)[0]
    src, dst = plat.frames[0].alloc_contig(2 * MiB), plat.frames[0].alloc_contig(2 * MiB)
    t = _copy_time(plat, eng, src, dst, 2 * MiB)
    gbps = 2 * MiB * 1000 / t
    cap = plat.preset.dma.engine_cap_gbps
    assert 0.99 * cap < gbps < cap


def test_4kib_is_latency_dominated_and_exact(plat: Platform) -> None:
    eng = attach_ptdma(plat, 1, trace=True)[0]
    src, dst = plat.alloc_pages(0, 0), plat.alloc_pages(0, 0)
    t = _copy_time(plat, eng, src, dst, 4096)
    d, m = plat.preset.dma, plat.preset.memory
    expect = (
        int((m.read_latency_local_ns + d.desc_fetch_extra_ns) * NS)  # fetch
        + d.decode_cycles * 1000
        + int((m.read_latency_local_ns + m.write_latency_local_ns) * NS)  # first line
        + bytes_time_ps(4096, d.engine_cap_gbps)  # streaming at the cap
        + d.completion_cycles * 1000
    )
    assert t == expect
    assert 4096 * 1000 / t < 0.5 * d.engine_cap_gbps  # latency dominated


def test_remote_reads_slower_than_local() -> None:
    # With RD_SLOTS = 32 the remote read latency, not the cap, limits the stream.
    plat = Platform(seed=1, dma__rd_slots=32, dma__clock_ungate_ns=0.0)
    engs = attach_ptdma(plat, 2, trace=True)
    f0, f1 = plat.frames
    local = _copy_time(plat, engs[0], f0.alloc_contig(MiB), f0.alloc_contig(MiB), MiB)
    remote = _copy_time(plat, engs[1], f1.alloc_contig(MiB), f0.alloc_contig(MiB), MiB)
    assert remote > 1.15 * local
    d, m = plat.preset.dma, plat.preset.memory
    slots_gbps = d.rd_slots * 64 / m.read_latency_remote_ns  # RD_SLOTS x 64 B / latency
    assert MiB * 1000 / remote == pytest.approx(slots_gbps, rel=0.03)


def test_clock_gating_wakeup_after_idle() -> None:
    """CLK_GATE_CTL[0] (set by the driver's init): an idle engine first waits for its clock."""
    d = Platform().preset.dma
    idle = int(d.clock_gate_idle_ns * NS) + 1

    def copy_after_idle(gating: bool, wait: int) -> tuple[int, int]:
        plat = Platform(seed=1)
        eng = attach_ptdma(plat, 1, trace=True)[0]
        src, dst = plat.alloc_pages(0, 0), plat.alloc_pages(0, 0)
        sw = PtSoftware(plat, eng.pci)
        sw.init()
        if not gating:
            sw.wr(R.CMD_CLK_GATE_CTL_OFFSET, 0)
        plat.run(until=plat.sim.now + wait)
        t0 = plat.sim.now
        sw.memcpy(src, dst, 4096)
        plat.run()
        assert eng.trace is not None
        return eng.trace.of("complete")[-1].time - t0, eng.counters.ungates

    busy, n0 = copy_after_idle(True, 0)  # right after init: the clock is still running
    gated, n1 = copy_after_idle(True, idle)
    off, n2 = copy_after_idle(False, idle)
    assert (n0, n1, n2) == (0, 1, 0)
    assert gated - busy == int(d.clock_ungate_ns * NS)
    assert off == busy


def _parallel(plat: Platform, engs: list[PtdmaEngine], n: int, src_node: int) -> list[int]:
    sws = []
    for e in engs:
        s = PtSoftware(plat, e.pci)
        s.init()
        sws.append(s)
    t0 = plat.sim.now
    for s, e in zip(sws, engs, strict=True):
        s.memcpy(plat.frames[src_node].alloc_contig(n), plat.frames[e.node].alloc_contig(n), n)
    plat.run()
    return [e.trace.of("complete")[-1].time - t0 for e in engs if e.trace is not None]


def test_engines_sharing_the_link_slow_each_other() -> None:
    n = 2 * MiB
    p1 = Platform(seed=1, memory__link_bandwidth_gbps=15.0)
    t1 = _parallel(p1, attach_ptdma(p1, 1, trace=True), n, 1)[0]
    p2 = Platform(seed=1, memory__link_bandwidth_gbps=15.0)
    t2 = _parallel(p2, attach_ptdma(p2, 2, trace=True), n, 1)
    assert min(t2) > 1.3 * t1  # each alone runs at ~10 GB/s; two share 15 GB/s
    assert 2 * n * 1000 / max(t2) == pytest.approx(15.0, rel=0.05)
    # default 70 GB/s link: eight remote-reading engines saturate it (8 x 10.24 > 70)
    p8 = Platform(seed=1)
    t8 = _parallel(p8, attach_ptdma(p8, 8, trace=True), n, 1)
    assert 8 * n * 1000 / max(t8) == pytest.approx(70.0, rel=0.05)
    assert p8.timing.link[(1, 0)].bytes_carried == 8 * n


# ---------------------------------------------------------------- fast vs detailed mode
def _scenario(detailed: bool) -> dict[str, Any]:
    """Several engines, mixed sizes and alignments, a bus error, a timeout, an abort, a reset."""
    p = Platform(seed=9)
    engs = attach_ptdma(p, 10, trace=True, detailed=detailed)
    used = [engs[0], engs[1], engs[8], engs[9], engs[2]]
    rng = np.random.default_rng(3)
    bufs = []
    for k, e in enumerate(used):
        sw = PtSoftware(p, e.pci, entries=64)
        sw.init()
        src = p.frames[(k + 1) % 2].alloc_contig(4 * MiB)
        dst = p.frames[e.node].alloc_contig(4 * MiB)
        p.mem.write(src, rng.integers(0, 256, 4 * MiB, dtype=np.uint8))
        p.mem.write(dst, np.full(4 * MiB, 0xEE, np.uint8))
        bufs.append((dst, 4 * MiB))
        sw.qwr(R.CMD_Q_EXT_CTRL_BASE, 0x3 if k == 2 else 0)  # CMPL/DESC WB on one, skip errors
        if k == 2:
            sw.qwr(R.CMD_Q_CMPL_WB_LO_BASE, (dst + 3 * MiB) & 0xFFFF_FFFF)
            sw.qwr(R.CMD_Q_CMPL_WB_HI_BASE, (dst + 3 * MiB) >> 32)
        if k == 1:
            e.faults.inject("write", "DECERR", addr_range=(dst + 70_000, dst + 70_001))
        if k == 3:
            sw.wr(R.CMD_TIMEOUT_OFFSET, 30_000)
        sw.stop()
        off = 0
        for n in (4096, 100, 65536 + 3, 1 << 20, 777, 2 * MiB - 4096):
            so, do = int(rng.integers(0, 64)), int(rng.integers(0, 64))
            sw.put(D.memcpy_descriptor(src + off + so, dst + off + do, n))
            off += n + 128
        sw.doorbell()
        sw.start()
    abort_sw = PtSoftware(p, used[0].pci)
    p.sim.schedule(150 * US, lambda: abort_sw.qwr(R.CMD_Q_ABORT_BASE, 1))
    p.sim.schedule(120 * US, used[4].reset)  # FLR in the middle of a descriptor
    p.run()
    trace = used[0].trace
    assert trace is not None
    return {
        "now": p.sim.now,
        "mem": [p.mem.read(a, n).tobytes() for a, n in bufs],
        "regs": [e.regs.dump() for e in used],
        "counters": [e.counters.as_dict() for e in used],
        "trace": [
            (ev.time, ev.engine, ev.event, tuple(sorted(ev.details.items())))
            for ev in trace.events
        ],
        "irqs": [p.irq.lines[e.pci.msi_vector].raised for e in used],
    }


def test_fast_and_detailed_modes_are_identical() -> None:
    fast = _scenario(False)
    slow = _scenario(True)
    for key in ("regs", "counters", "trace", "irqs", "now"):
        assert fast[key] == slow[key], key
    assert fast["mem"] == slow["mem"]
    evs = {e for _, _, e, _ in fast["trace"]}
    assert {"complete", "error", "abort", "aborted", "halt", "msi", "reset"} <= evs
    codes = {dict(d)["code"] for _, _, e, d in fast["trace"] if e == "error"}
    assert codes == {0x27, 0x12}


def test_speed_fast_mode_4k(capsys: pytest.CaptureFixture[str]) -> None:
    """Wall-clock rate of the fast mode (printed, not asserted): 4 KiB copies, 255 per batch."""
    p = Platform(seed=1)
    eng = attach_ptdma(p, 1)[0]
    sw = PtSoftware(p, eng.pci, entries=256)
    sw.init()
    src, dst = p.frames[1].alloc_contig(2 * MiB), p.frames[0].alloc_contig(2 * MiB)
    p.mem.write(src, np.ones(2 * MiB, np.uint8))
    p.mem.write(dst, np.zeros(2 * MiB, np.uint8))
    descs = [
        D.memcpy_descriptor(src + (i % 512) * 4096, dst + (i % 512) * 4096, 4096, ioc=False)
        for i in range(255)
    ]
    raw = D.pack_many(descs).view(np.uint8)
    sw.start()

    def batch() -> None:
        head = sw.head
        slot = (head - (sw.ring & 0xFFFF_FFFF)) // 32
        first = min(255, 256 - slot) * 32
        p.mem.write(sw.ring + slot * 32, raw[:first])
        if first < raw.size:
            p.mem.write(sw.ring, raw[first:])
        sw.qidx = (slot + 255) % 256
        sw.doorbell()
        p.run()

    batch()
    rounds = 12
    t = time.perf_counter()
    for _ in range(rounds):
        batch()
    wall = time.perf_counter() - t
    n = 255 * rounds
    assert eng.counters.descriptors == 255 * (rounds + 1)
    x, t2 = 0, time.perf_counter()
    for i in range(1_000_000):
        x += i
    loop_ns = (time.perf_counter() - t2) * 1000
    with capsys.disabled():
        print(
            f"\n[ptdma fast mode] {n / wall:,.0f} descriptors/s wall (4 KiB copies); "
            f"host Python loop {loop_ns:.0f} ns/iteration"
        )


def test_trace_and_vcd(tmp_path: Path) -> None:
    p = Platform(seed=1)
    path = tmp_path / "pt.vcd"
    engs = attach_ptdma(p, 2, trace=True, vcd_path=path)
    assert engs[0].trace is engs[1].trace
    sws = []
    for e in engs:
        s = PtSoftware(p, e.pci)
        s.init()
        sws.append(s)
    src, dst = p.alloc_pages(0, 0), p.alloc_pages(0, 0)
    for s in sws:
        p.call(s.memcpy, src, dst, 4096)  # timed MMIO: the doorbells land at different times
    p.run()
    engs[0].close()
    text = path.read_text()
    for sig in ("run", "busy", "head", "tail", "int_status", "irq", "bytes_moved"):
        assert f" {sig} $end" in text
    assert "$scope module ptdma0" in text and "$scope module ptdma1" in text
    stamps = [int(line[1:]) for line in text.splitlines() if line.startswith("#")]
    assert stamps == sorted(stamps) and len(stamps) > 5
    trace = engs[0].trace
    assert trace is not None
    out = trace.format()
    assert "pt0  complete" in out and "pt1  msi" in out
    assert [e.time for e in trace.events] == sorted(e.time for e in trace.events)


def test_tracing_off_by_default(plat: Platform) -> None:
    eng = attach_ptdma(plat, 1)[0]
    assert eng.trace is None and eng.vcd is None and not eng.detailed


def test_an_aborted_stream_gives_back_its_bandwidth() -> None:
    """After ABORT mid-copy, the next copy runs at full speed (no wait for unsent bytes)."""
    plat = Platform(seed=1, dma__clock_ungate_ns=0.0)
    eng = attach_ptdma(plat, 1, trace=True)[0]
    f0 = plat.frames[0]
    big_src, big_dst = f0.alloc_contig(2 * MiB), f0.alloc_contig(2 * MiB)
    src, dst = plat.alloc_pages(0, 0), plat.alloc_pages(0, 0)
    fresh = _copy_time(plat, eng, src, dst, 4096)
    sw = PtSoftware(plat, eng.pci)
    sw.init()
    sw.memcpy(big_src, big_dst, 2 * MiB)
    plat.run(until=plat.sim.now + 20 * US)  # ~1/8 of the 2 MiB stream
    plat.bus.dispatch_write(eng.pci.bar_base + R.CMD_Q_STATUS_INCR + R.CMD_Q_ABORT_BASE, 4, 1)
    plat.run()
    assert eng.counters.aborted == 1
    after = _copy_time(plat, eng, src, dst, 4096)
    assert after == fresh
