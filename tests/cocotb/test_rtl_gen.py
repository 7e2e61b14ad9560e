"""The RTL register block is generated from ptdma.rdl, current, and compiles on Icarus."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hdl_model import rtl_gen
from hdl_model.generated.regmap import REGISTERS

from .simrun import RTL_DIR, RTL_SOURCES


def test_generated_rtl_is_current() -> None:
    """``python -m hdl_model.rtl_gen --check`` passes: the Verilog matches the RDL."""
    assert rtl_gen.stale_files() == [], "run: python -m hdl_model.rtl_gen"
    assert rtl_gen.main(["--check"]) == 0


def test_check_mode_detects_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--check`` fails (exit 1) when a generated file differs from what the RDL gives."""
    stale = tmp_path / "ptdma_regs.v"
    stale.write_text(rtl_gen.REGS_V.read_text().replace("QUEUE_PRIO", "QUEUE_PRIX", 1))
    monkeypatch.setattr(rtl_gen, "REGS_V", stale)
    monkeypatch.setattr(rtl_gen, "DEFS_VH", rtl_gen.DEFS_VH)
    assert rtl_gen.stale_files() == [stale]
    assert rtl_gen.main(["--check"]) == 1


def test_every_register_is_decoded_at_its_offset() -> None:
    """One decode line per register of the generated table, at the table's offset."""
    text = rtl_gen.REGS_V.read_text()
    decoded = {
        m.group(2): int(m.group(1), 16)
        for m in re.finditer(r"// 0x([0-9A-F]{4}) (\w+)", text)
    }
    assert decoded == {r.name: r.offset for r in REGISTERS}
    defs = rtl_gen.DEFS_VH.read_text()
    for r in REGISTERS:
        assert f"REG_{r.name} = 16'h{r.offset:04X};" in defs


def test_field_kinds_follow_the_rdl() -> None:
    """Storage, W1C, hardware-owned and write-pulse fields are generated from the RDL."""
    regs, extra, enums = rtl_gen.compile_rdl()
    kinds = {(r.name, f.name): f.kind for r in regs for f in r.fields}
    assert kinds[("Q_INTERRUPT_STATUS", "ERROR")] == rtl_gen.W1C
    assert kinds[("Q_CONTROL", "RUN")] == rtl_gen.SHARED  # engine-owned, sw written
    assert kinds[("Q_HEAD_LO", "HEAD_LO")] == rtl_gen.SHARED  # sw_write_gate in the engine
    assert kinds[("Q_CONTROL", "Q_SIZE")] == rtl_gen.STORE
    assert kinds[("Q_ABORT", "ABORT")] == rtl_gen.WPULSE
    assert kinds[("Q_STATUS", "ERR_CODE")] == rtl_gen.HWIN
    assert kinds[("EXT_ID", "MAGIC")] == rtl_gen.CONST
    assert any(f.rclr for r in regs for f in r.fields if r.name == "Q_COAL_PENDING")
    assert extra["params"]["RD_SLOTS"] == 32
    assert dict(enums["ptdma_error_code"])["ODMA0_AXI_DECERR"] == 0x27


def test_unsupported_rdl_is_rejected(tmp_path: Path) -> None:
    """A field behaviour the exporter cannot generate is an error, never silently dropped."""
    src = rtl_gen.RDL_PATH.read_text().replace(
        "field { sw = rw; hw = r; } PRIO[2:1] = 0;",
        "field { sw = rw; hw = r; onwrite = woset; } PRIO[2:1] = 0;",
    )
    assert "woset" in src
    rdl = tmp_path / "bad.rdl"
    rdl.write_text(src)
    with pytest.raises(rtl_gen.RtlGenError, match="onwrite"):
        rtl_gen.generate(rdl)


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus not installed")
@pytest.mark.parametrize("data_w", [64, 128, 256, 512])
def test_twin_compiles_on_icarus(data_w: int, tmp_path: Path) -> None:
    """Icarus 11 -g2012 -Wall compiles the twin with no warning at every data width."""
    cmd = ["iverilog", "-g2012", "-Wall", "-Wno-timescale", "-I", str(RTL_DIR),
           "-DPTDMA_ASSERTIONS", f"-Pptdma_top.DATA_W={data_w}", "-s", "ptdma_top",
           "-o", str(tmp_path / "t.vvp"), *(str(RTL_DIR / s) for s in RTL_SOURCES)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "", r.stderr


@pytest.mark.skipif(shutil.which("verilator") is None, reason="Verilator not installed")
def test_twin_lints_on_verilator() -> None:
    """Verilator --lint-only -Wall (optional tool): no warning."""
    cmd = ["verilator", "--lint-only", "-Wall", f"-I{RTL_DIR}", "--top-module", "ptdma_top",
           *(str(RTL_DIR / s) for s in RTL_SOURCES)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
