"""Generated register artefacts are current and match the reference tables (ptdma-model §2-5)."""

from __future__ import annotations

import pytest

from drivers.ptdma import ptdma_regs as R
from hdl_model import regmap_gen
from hdl_model.generated import regmap
from hdl_model.regdefs import RC, RO, RW, W1C, WO


def test_generated_files_are_current() -> None:
    """Regenerate in memory from ptdma.rdl and compare with the files on disk."""
    for path, text in regmap_gen.generate().items():
        assert path.read_text() == text, f"{path} is stale: run `make regs`"
    assert regmap_gen.main(["--check"]) == 0


# (name, absolute offset, access summary, reset) from ptdma-model.md §2 and §3.
REFERENCE = [
    ("QUEUE_PRIO", 0x000, RW, 0),
    ("REQID_CONFIG", 0x004, RW, 0),
    ("CMD_TIMEOUT", 0x008, RW, 0),
    ("VERSION", 0x010, RO, 0x0000_8001),
    ("IRQ_MASK", 0x040, RW, 0),
    ("IRQ_STATUS", 0x200, RO, 0),
    ("CONFIG", 0x1120, RW, 0),
    ("CLK_GATE_CTL", 0x6004, RW, 0),
    ("EXT_ID", 0xF00, RO, 0x444D_414D),
    ("EXT_CAPS", 0xF04, RO, 0x0020_081F),
    ("EXT_TIMEBASE", 0xF08, RO, 1000),
    ("Q_CONTROL", 0x1000, RW, 0),
    ("Q_TAIL_LO", 0x1004, RW, 0),
    ("Q_HEAD_LO", 0x1008, RW, 0),
    ("Q_INT_ENABLE", 0x100C, RW, 0),
    ("Q_INTERRUPT_STATUS", 0x1010, W1C, 0),
    # EMPTY (bit 9) is live HEAD == TAIL: 1 at reset (the table's 0 ignores it).
    ("Q_STATUS", 0x1100, RO, 0x200),
    ("Q_INT_STATUS", 0x1104, RO, 0),
    ("Q_DMA_STATUS", 0x1108, RO, 0),
    ("Q_DMA_READ_STATUS", 0x110C, RO, 0),
    ("Q_DMA_WRITE_STATUS", 0x1110, RO, 0),
    ("Q_ABORT", 0x1114, WO, 0),
    ("Q_AX_CACHE", 0x1118, RW, 0x33),
    ("Q_COAL_COUNT", 0x1200, RW, 0),
    ("Q_COAL_TIMER", 0x1204, RW, 0),
    ("Q_COAL_PENDING", 0x1208, RC, 0),
    ("Q_EXT_CTRL", 0x1210, RW, 0x08),
    ("Q_CMPL_WB_LO", 0x1218, RW, 0),
    ("Q_CMPL_WB_HI", 0x121C, RW, 0),
    ("Q_ERR_INFO", 0x1220, RO, 0),
    ("Q_ERR_DESC_ADDR_LO", 0x1224, RO, 0),
    ("Q_ERR_DESC_ADDR_HI", 0x1228, RO, 0),
    ("Q_ERR_DATA_ADDR_LO", 0x122C, RO, 0),
    ("Q_ERR_DATA_ADDR_HI", 0x1230, RO, 0),
    ("Q_PERF_DESC_DONE_LO", 0x1240, RO, 0),
    ("Q_PERF_BYTES_WRITTEN_LO", 0x1250, RO, 0),
    ("Q_PERF_DOORBELLS_LO", 0x1280, RO, 0),
    ("Q_PERF_STALL_NO_CREDIT_CYCLES_HI", 0x128C, RO, 0),
    ("Q_PERF_CTRL", 0x12F0, RW, 0),
]


@pytest.mark.parametrize(("name", "offset", "access", "reset"), REFERENCE)
def test_register_matches_reference(name: str, offset: int, access: str, reset: int) -> None:
    r = regmap.REG_BY_NAME[name]
    assert (r.offset, r.access, r.reset, r.width) == (offset, access, reset, 32)


def test_every_register_is_listed_and_nothing_overlaps() -> None:
    names = {n for n, *_ in REFERENCE}
    perf = {r.name for r in regmap.REGISTERS if r.name.startswith("Q_PERF_")} - {"Q_PERF_CTRL"}
    assert len(perf) == 20  # ten 64-bit counters as LO/HI pairs
    assert {r.name for r in regmap.REGISTERS} == names | perf
    offs = sorted(r.offset for r in regmap.REGISTERS)
    assert len(set(offs)) == len(offs)
    assert all(r.offset < 0x7000 for r in regmap.REGISTERS)  # §1: window covers up to 0x6FFF
    assert 0x1120 not in {r.offset for r in regmap.REGISTERS if r.block == "queue"}


def test_field_kinds() -> None:
    ctl = regmap.REG_BY_NAME["Q_CONTROL"]
    assert ctl.field("HALTED").access == RO and ctl.field("RUN").access == RW
    assert ctl.sw_write_mask == 0xFFFF_00FD
    assert regmap.REG_BY_NAME["Q_HEAD_LO"].field("HEAD_LO").sw_write_gate
    assert regmap.REG_BY_NAME["Q_PERF_DESC_DONE_LO"].latches_on_read == "Q_PERF_DESC_DONE_HI"
    assert regmap.REG_BY_NAME["Q_PERF_CTRL"].field("RESET").access == WO
    assert regmap.REG_BY_NAME["Q_INTERRUPT_STATUS"].w1c_mask == 0xF


def test_driver_constants_match_ptdma_h() -> None:
    """Values of Linux drivers/dma/ptdma/ptdma.h."""
    assert R.CMD_Q_STATUS_INCR == 0x1000
    assert (R.CMD_QUEUE_PRIO_OFFSET, R.CMD_REQID_CONFIG_OFFSET, R.CMD_TIMEOUT_OFFSET) == (0, 4, 8)
    assert (R.CMD_PT_VERSION, R.IRQ_MASK_REG, R.IRQ_STATUS_REG) == (0x10, 0x40, 0x200)
    assert (R.CMD_CONFIG_OFFSET, R.CMD_CLK_GATE_CTL_OFFSET) == (0x1120, 0x6004)
    q = (
        R.CMD_Q_CONTROL_BASE, R.CMD_Q_TAIL_LO_BASE, R.CMD_Q_HEAD_LO_BASE, R.CMD_Q_INT_ENABLE_BASE,
        R.CMD_Q_INTERRUPT_STATUS_BASE, R.CMD_Q_STATUS_BASE, R.CMD_Q_INT_STATUS_BASE,
        R.CMD_Q_DMA_STATUS_BASE, R.CMD_Q_DMA_READ_STATUS_BASE, R.CMD_Q_DMA_WRITE_STATUS_BASE,
        R.CMD_Q_ABORT_BASE, R.CMD_Q_AX_CACHE_BASE,
    )  # fmt: skip
    assert q == (0, 4, 8, 0xC, 0x10, 0x100, 0x104, 0x108, 0x10C, 0x110, 0x114, 0x118)
    assert R.CMD_DESC_DW0_VAL == 0x500012
    assert (R.CMD_QUEUE_PRIO, R.CMD_CLK_GATE_CONFIG, R.CMD_Q_SIZE, R.CMD_Q_SIZE_MASK) == (
        0x6, 0x1001, 0xF8, 0x1F,
    )
    assert (R.CMD_Q_RUN, R.CMD_Q_HALT, R.CMD_Q_MEM_LOCATION) == (1, 2, 4)
    assert (R.INT_COMPLETION, R.INT_ERROR, R.INT_QUEUE_STOPPED, R.INT_EMPTY_QUEUE) == (1, 2, 4, 8)
    assert R.SUPPORTED_INTERRUPTS == 3 and R.QUEUE_SIZE_VAL == 4 and R.Q_DESC_SIZE == 32
    assert R.CMD_Q_ERROR(0xFFFF_FFFF) == 0x3F
    assert R.CMD_Q_EXT_CTRL_BASE == 0x210 and R.CMD_Q_PERF_CTRL_BASE == 0x2F0
    assert R.PT_ERROR_CODES[0x26] == "ODMA0_AXI_SLVERR" and 0x0F not in R.PT_ERROR_CODES
    assert len(R.PT_ERROR_CODES) == 20


def test_descriptor_layout() -> None:
    d = regmap.DESC_BY_NAME
    assert [r.offset for r in regmap.DESCRIPTOR] == list(range(0, 32, 4))
    assert d["DW0"].field("ENGINE").mask == 0x00F0_0000
    assert d["DW0"].field("FUNCTION").mask == 0x000F_FFE0
    assert d["DW3"].field("LSB_CTX_ID").mask == 0x03FC_0000
    assert d["DW5"].field("FIXED").mask == 0x8000_0000
