"""Register semantics through MMIO: reset values, RO, W1C, WO, clear-on-read, PERF latch."""

from __future__ import annotations

import pytest

from drivers.ptdma import ptdma_regs as R
from emulator.platform import Platform
from hdl_model.generated import regmap
from hdl_model.ptdma_engine import PtdmaEngine, attach_ptdma
from hdl_model.regdefs import RC, RO, RW, W1C, WO


def test_reset_value_of_every_register(plat: Platform, eng: PtdmaEngine) -> None:
    bar = eng.pci.bar_base
    expect_caps = 0x1F | (plat.preset.dma.max_ring_log2 << 8) | (plat.preset.dma.rd_slots << 16)
    for r in regmap.REGISTERS:
        got = plat.bus.read(bar + r.offset)
        if r.name == "EXT_CAPS":
            assert got == expect_caps
        elif r.name == "EXT_TIMEBASE":
            assert got == plat.device_clock.period_ps == 1000
        elif r.access == WO:
            assert got == 0, r.name
        else:
            assert got == r.reset, f"{r.name}: {got:#x} != {r.reset:#x}"
    assert plat.bus.read(bar + 0x1F0) == 0  # nothing mapped there reads 0


def test_pci_info(plat: Platform) -> None:
    engs = attach_ptdma(plat, 3)
    for i, e in enumerate(engs):
        assert (e.pci.vendor, e.pci.device) == (0x1022, 0x1498)
        assert e.pci.bar_base == plat.engine_mmio_base(i) and e.pci.bar_size == 0x1_0000
        assert e.pci.node == plat.engine_node(i) and e in plat.devices
    assert len({e.pci.msi_vector for e in engs}) == 3
    with pytest.raises(AttributeError):
        engs[0].pci.node = 1  # type: ignore[misc]
    with pytest.raises(ValueError):
        attach_ptdma(plat, 14)  # 3 + 14 > 16 slots


def test_ro_registers_ignore_writes(plat: Platform, eng: PtdmaEngine) -> None:
    bar = eng.pci.bar_base
    for r in regmap.REGISTERS:
        if r.access not in (RO, RC) or r.name.startswith("Q_PERF"):
            continue
        before = plat.bus.read(bar + r.offset)
        plat.bus.write(bar + r.offset, 0xFFFF_FFFF)
        assert plat.bus.read(bar + r.offset) == before, r.name


def test_rw_registers_store_their_fields(plat: Platform, eng: PtdmaEngine) -> None:
    bar = eng.pci.bar_base
    for name in ("QUEUE_PRIO", "REQID_CONFIG", "CONFIG", "CLK_GATE_CTL", "Q_AX_CACHE",
                 "Q_COAL_COUNT", "Q_COAL_TIMER", "Q_CMPL_WB_LO", "Q_CMPL_WB_HI", "Q_INT_ENABLE"):
        r = regmap.REG_BY_NAME[name]
        plat.bus.write(bar + r.offset, 0xFFFF_FFFF)
        assert plat.bus.read(bar + r.offset) == r.sw_write_mask, name
    # CONTROL: HALTED (bit 1) is RO inside the RW register; writing it does nothing
    plat.bus.write(bar + 0x1000, 0x0000_00FE)
    assert plat.bus.read(bar + 0x1000) == 0xFC
    # byte and 8-byte accesses
    plat.bus.write(bar + R.CMD_Q_STATUS_INCR + R.CMD_Q_COAL_COUNT_BASE + 1, 0x12, size=1)
    assert plat.bus.read(bar + 0x1200) == 0x12FF
    plat.bus.write(bar + 0x1218, 0x1234_5678_9ABC_DEF0, size=8)
    assert plat.bus.read(bar + 0x1218, size=8) == 0x1234_5678_9ABC_DEF0


def test_int_status_w1c_and_latching(plat: Platform, eng: PtdmaEngine, sw: object) -> None:
    bar = eng.pci.bar_base + R.CMD_Q_STATUS_INCR
    eng.regs.set("Q_INTERRUPT_STATUS", 0xF)  # hardware sets every event bit
    plat.bus.write(bar + R.CMD_Q_INTERRUPT_STATUS_BASE, 0x5)  # W1C clears only bits written as 1
    assert plat.bus.read(bar + R.CMD_Q_INTERRUPT_STATUS_BASE) == 0xA
    plat.bus.write(bar + R.CMD_Q_INTERRUPT_STATUS_BASE, 0x0)
    assert plat.bus.read(bar + R.CMD_Q_INTERRUPT_STATUS_BASE) == 0xA
    plat.bus.write(bar + R.CMD_Q_INTERRUPT_STATUS_BASE, 0xF)
    assert plat.bus.read(bar + R.CMD_Q_INTERRUPT_STATUS_BASE) == 0


def test_wo_and_clear_on_read(plat: Platform, eng: PtdmaEngine) -> None:
    q = eng.pci.bar_base + R.CMD_Q_STATUS_INCR
    assert regmap.REG_BY_NAME["Q_ABORT"].access == WO
    plat.bus.write(q + R.CMD_Q_ABORT_BASE, 0)  # 0 does nothing
    assert plat.bus.read(q + R.CMD_Q_ABORT_BASE) == 0
    assert not plat.bus.read(q + R.CMD_Q_CONTROL_BASE) & R.CMD_Q_HALT
    eng.regs.set("Q_COAL_PENDING", 7)
    assert plat.bus.read(q + R.CMD_Q_COAL_PENDING_BASE) == 7
    assert plat.bus.read(q + R.CMD_Q_COAL_PENDING_BASE) == 0  # cleared by the read
    # PERF_CTRL.RESET is write-only inside an RW register
    plat.bus.write(q + R.CMD_Q_PERF_CTRL_BASE, 0x3)
    assert plat.bus.read(q + R.CMD_Q_PERF_CTRL_BASE) == 0x1
    assert regmap.REG_BY_NAME["Q_INTERRUPT_STATUS"].access == W1C
    assert regmap.REG_BY_NAME["Q_CONTROL"].access == RW


def test_perf_lo_read_latches_hi(plat: Platform, eng: PtdmaEngine) -> None:
    q = eng.pci.bar_base + R.CMD_Q_STATUS_INCR
    eng.perf["bytes_written"] = 0x1_FFFF_FFFF
    lo = plat.bus.read(q + R.CMD_Q_PERF_BYTES_WRITTEN_LO_BASE)
    eng.perf["bytes_written"] = 0x2_0000_0001  # counter moves between the two reads
    hi = plat.bus.read(q + R.CMD_Q_PERF_BYTES_WRITTEN_HI_BASE)
    assert (hi << 32) | lo == 0x1_FFFF_FFFF  # consistent snapshot
    assert plat.bus.read(q + R.CMD_Q_PERF_BYTES_WRITTEN_LO_BASE, size=8) == 0x2_0000_0001
    plat.bus.write(q + R.CMD_Q_PERF_CTRL_BASE, R.Q_PERF_CTRL_RESET_MASK)
    assert plat.bus.read(q + R.CMD_Q_PERF_BYTES_WRITTEN_LO_BASE, size=8) == 0


def test_reset_restores_everything(plat: Platform, eng: PtdmaEngine) -> None:
    bar = eng.pci.bar_base
    for r in regmap.REGISTERS:
        if r.access == RW:
            plat.bus.write(bar + r.offset, 0x5A5A_5A5A)
    eng.reset()
    assert all(
        plat.bus.read(bar + r.offset) == (0 if r.access == WO else eng.regs.reset_value(r.name))
        for r in regmap.REGISTERS
    )
