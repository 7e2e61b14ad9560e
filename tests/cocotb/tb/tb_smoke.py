"""Directed smoke tests of the twin: reset values and one copy, no pyuvm (fast bring-up)."""

from __future__ import annotations

from typing import Any

import cocotb
import numpy as np

from hdl_model.descriptor import memcpy_descriptor
from hdl_model.generated.regmap import REGISTERS
from hdl_model.registers import RegisterFile

from .bench import PtdmaBench


@cocotb.test()
async def reset_values(dut: Any) -> None:
    """Every register reads its reset value from the generated table (live bits excepted)."""
    bench = PtdmaBench(dut)
    await bench.start()
    dma = bench.platform.preset.dma
    build = {"rd_slots": int(dut.RD_SLOTS.value), "max_ring_log2": int(dut.MAX_RING_LOG2.value),
             "timebase_ps": int(dut.TIMEBASE_PS.value)}
    assert build["rd_slots"] == dma.rd_slots and build["max_ring_log2"] == dma.max_ring_log2
    resets = RegisterFile(REGISTERS, build)
    live_ok = {("Q_STATUS", "EMPTY")}
    bad = []
    for r in REGISTERS:
        got = await bench.read(r.offset)
        exp = resets.reset_value(r.name) & r.readable_mask
        for f in r.fields:
            if f.access == "WO":
                exp = f.put(exp, 0)
            if (r.name, f.name) in live_ok:
                exp = f.put(exp, f.get(r.reset))
        if got != exp:
            bad.append(f"{r.name}: {got:#x} != {exp:#x}")
    assert not bad, "; ".join(bad)


@cocotb.test()
async def one_copy(dut: Any) -> None:
    """One unaligned 4 KiB + 13 B copy through a 32-entry ring completes with exact data."""
    bench = PtdmaBench(dut)
    await bench.start()
    p = bench.platform
    ring = p.alloc_pages(0, 0)
    src = p.alloc_pages(1, 1) + 5
    dst = p.alloc_pages(0, 1) + 1000
    n = 4096 + 13
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, n, dtype=np.uint8)
    p.mem.write(src, data)
    guard = np.full(64, 0xAA, np.uint8)
    p.mem.write(dst - 64, guard)
    p.mem.write(dst + n, guard)
    p.mem.write(ring, memcpy_descriptor(src, dst, n).pack())
    await bench.write_reg("Q_CONTROL", (4 << 3) | ((ring >> 32) << 16))
    await bench.write_reg("Q_TAIL_LO", ring & 0xFFFF_FFFF)
    await bench.write_reg("Q_HEAD_LO", ring & 0xFFFF_FFFF)
    await bench.write_reg("Q_INT_ENABLE", 0x3)
    await bench.write_reg("Q_TAIL_LO", (ring + 32) & 0xFFFF_FFFF)
    t0 = bench.now_ps()
    await bench.write_reg("Q_CONTROL", (4 << 3) | ((ring >> 32) << 16) | 1)
    assert await bench.wait_irq_or(50_000_000), "no interrupt"
    t1 = bench.now_ps()
    st = await bench.read_reg("Q_INTERRUPT_STATUS")
    assert st & 1, f"INT_STATUS {st:#x}"
    head = await bench.read_reg("Q_HEAD_LO")
    assert head == (ring + 32) & 0xFFFF_FFFF, f"HEAD {head:#x}"
    got = p.mem.read(dst, n)
    assert np.array_equal(got, data), f"{int(np.sum(got != data))} bytes differ"
    assert np.array_equal(p.mem.read(dst - 64, 64), guard)
    assert np.array_equal(p.mem.read(dst + n, 64), guard)
    qs = await bench.read_reg("Q_STATUS")
    assert qs & 0x3F == 0 and (qs >> 16) == 1, f"Q_STATUS {qs:#x}"
    dut._log.info("copy of %d B took %.1f ns", n, (t1 - t0) / 1000)
