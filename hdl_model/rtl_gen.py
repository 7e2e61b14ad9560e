"""Verilog exporter: the RTL register block and constants of the PTDMA twin, from ptdma.rdl.

The register map has one source, ``hdl_model/ptdma.rdl`` (SystemRDL, compiled with
systemrdl-compiler). peakrdl-regblock output does not compile on Icarus 11 (unpacked structs,
lifetime overrides; toolchain.md §8), so this small exporter walks the compiled tree and writes
Icarus-friendly Verilog-2005:

- ``hdl_model/rtl/ptdma_regs.v``: module ``ptdma_regs``, the register block behind a simple
  register bus (``reg_wr``/``reg_rd`` strobes, byte offset, data, byte strobes; read data one
  cycle later). Field handling follows the SystemRDL properties:

  ======================================  =====================================================
  sw / hw / properties                    generated hardware
  ======================================  =====================================================
  sw=r,  hw=na                            constant (reset value, or a module parameter when the
                                          field has ``build_param``)
  sw=r,  hw=w|rw                          no storage: input ``i_<reg>_<field>`` is read back
  ... + ``rclr``                          plus read strobe ``o_<reg>_swrd`` (the owner clears)
  sw=rw, hw=r|na                          storage with reset, output ``o_<reg>_<field>``
  sw=rw, ``woclr`` + ``hwset``            W1C storage, input ``i_<reg>_<field>_hwset``; a set
                                          pulse wins over a clear in the same cycle (no lost
                                          event)
  sw=rw, hw=rw|w (no hwset)               owned by the engine (state it also changes, e.g.
                                          RUN, HEAD_LO with its ``sw_write_gate``): input
                                          ``i_<reg>_<field>`` read back; the write is passed on
                                          through ``o_<reg>_swwr`` + ``o_wdata``/``o_wmask``
  sw=w                                    write pulse ``o_<reg>_<field>_wr`` (field bits of the
                                          write data, zero otherwise); reads return 0
  ======================================  =====================================================

  Every register with a writable field also gets ``o_<reg>_swwr`` (one-cycle write strobe,
  used for ``write_action`` side effects such as the TAIL doorbell). A register with the
  ``latches_on_read`` user property snapshots the named register when it is read, and reads of
  that register return the snapshot (64-bit PERF counters read LO then HI).
- ``hdl_model/rtl/ptdma_defs.vh``: ``localparam`` constants for the engine: register offsets,
  descriptor field positions (addrmap ``ptdma_desc``) and the enums (error codes, error side,
  write-back status).

Run ``python -m hdl_model.rtl_gen`` to regenerate, ``--check`` to fail when the files on disk
are stale (``tests/cocotb/test_rtl_gen.py`` does that in the test suite).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from systemrdl import RDLCompiler
from systemrdl.node import AddrmapNode, FieldNode, RegNode
from systemrdl.rdltypes import AccessType, OnReadType, OnWriteType

HERE = Path(__file__).resolve().parent
RDL_PATH = HERE / "ptdma.rdl"
RTL_DIR = HERE / "rtl"
REGS_V = RTL_DIR / "ptdma_regs.v"
DEFS_VH = RTL_DIR / "ptdma_defs.vh"

ADDR_BITS = 16  # 64 KiB engine window (ptdma-model §1)

# Field kinds (see the module docstring).
CONST = "const"
HWIN = "hwin"
STORE = "store"
W1C = "w1c"
SHARED = "shared"
WPULSE = "wpulse"


class RtlGenError(RuntimeError):
    """The RDL uses a field behaviour this exporter does not generate."""


@dataclass
class Fld:
    """One field as the exporter sees it."""

    name: str
    lsb: int
    msb: int
    kind: str
    reset: int
    rclr: bool = False
    build_param: str | None = None
    note: str = ""
    write_action: str | None = None

    @property
    def width(self) -> int:
        return self.msb - self.lsb + 1

    @property
    def sl(self) -> str:
        """Verilog part-select of the field in its register."""
        return f"[{self.msb}:{self.lsb}]" if self.width > 1 else f"[{self.lsb}]"


@dataclass
class Reg:
    """One 32-bit register of the window."""

    name: str
    offset: int
    fields: list[Fld] = field(default_factory=list)
    latches: str | None = None  # name of the register this one snapshots when read
    title: str = ""

    @property
    def low(self) -> str:
        return self.name.lower()

    @property
    def writable(self) -> bool:
        return any(f.kind in (STORE, W1C, SHARED, WPULSE) for f in self.fields)

    @property
    def rclr(self) -> bool:
        return any(f.rclr for f in self.fields)

    @property
    def needs_swwr(self) -> bool:
        """The engine must see the write: engine-owned or W1C fields, or a write side
        effect on a stored field (``write_action``, e.g. the TAIL doorbell)."""
        return any(
            f.kind in (SHARED, W1C) or (f.write_action and f.kind != WPULSE) for f in self.fields
        )


def _classify(f: FieldNode) -> Fld:
    """Map a SystemRDL field to one of the generated kinds (with its write action)."""
    fld = _classify_kind(f)
    fld.write_action = f.get_property("write_action")
    return fld


def _classify_kind(f: FieldNode) -> Fld:
    """The generated kind of a SystemRDL field."""
    sw = f.get_property("sw")
    hw = f.get_property("hw")
    onwrite = f.get_property("onwrite")
    onread = f.get_property("onread")
    reset = f.get_property("reset")
    reset_i = int(reset) if isinstance(reset, int) else 0
    bp = f.get_property("build_param")
    where = f"{f.parent.inst_name}.{f.inst_name}"
    hw_writes = hw in (AccessType.w, AccessType.rw, AccessType.w1)
    if sw == AccessType.r:
        if onread not in (None, OnReadType.rclr):
            raise RtlGenError(f"{where}: onread {onread} not supported")
        if not hw_writes:
            return Fld(f.inst_name, f.lsb, f.msb, CONST, reset_i, build_param=bp)
        return Fld(f.inst_name, f.lsb, f.msb, HWIN, reset_i, rclr=onread == OnReadType.rclr)
    if sw == AccessType.w:
        return Fld(f.inst_name, f.lsb, f.msb, WPULSE, reset_i)
    if sw != AccessType.rw:
        raise RtlGenError(f"{where}: sw access {sw} not supported")
    if onread is not None:
        raise RtlGenError(f"{where}: onread on a writable field not supported")
    if onwrite == OnWriteType.woclr:
        if not f.get_property("hwset"):
            raise RtlGenError(f"{where}: woclr without hwset not supported")
        return Fld(f.inst_name, f.lsb, f.msb, W1C, reset_i)
    if onwrite is not None:
        raise RtlGenError(f"{where}: onwrite {onwrite} not supported")
    if hw_writes:
        gate = f.get_property("sw_write_gate")
        return Fld(f.inst_name, f.lsb, f.msb, SHARED, reset_i, note=gate or "")
    return Fld(f.inst_name, f.lsb, f.msb, STORE, reset_i)


def compile_rdl(path: Path = RDL_PATH) -> tuple[list[Reg], dict[str, Any], dict[str, Any]]:
    """Compile the RDL; return the window's registers, its parameters and descriptor/enums."""
    rdlc = RDLCompiler()
    rdlc.compile_file(str(path))
    top: AddrmapNode = rdlc.elaborate(top_def_name="ptdma").top
    params = {p.name: p.get_value() for p in top.inst.parameters}
    regs: list[Reg] = []
    enums: dict[str, list[tuple[str, int]]] = {}
    for node in top.registers():
        assert isinstance(node, RegNode)
        if node.get_property("regwidth") != 32 or node.is_array:
            raise RtlGenError(f"{node.inst_name}: only single 32-bit registers are supported")
        r = Reg(node.inst_name, node.address_offset, title=node.get_property("name") or "")
        r.latches = node.get_property("latches_on_read")
        for fn in node.fields():
            r.fields.append(_classify(fn))
            enc = fn.get_property("encode")
            if enc is not None:
                enums[enc.type_name] = [(m.name, int(m.value)) for m in enc]
        regs.append(r)
    # descriptor layout: elaborate the second addrmap from a fresh compiler
    rdlc2 = RDLCompiler()
    rdlc2.compile_file(str(path))
    dtop = rdlc2.elaborate(top_def_name="ptdma_desc").top
    desc: list[tuple[str, int, list[tuple[str, int, int]]]] = []
    for node in dtop.registers():
        assert isinstance(node, RegNode)
        flds = [(fn.inst_name, fn.lsb, fn.msb) for fn in node.fields()]
        desc.append((node.inst_name, node.address_offset, flds))
        for fn in node.fields():
            enc = fn.get_property("encode")
            if enc is not None:
                enums[enc.type_name] = [(m.name, int(m.value)) for m in enc]
    by_name = {r.name: r for r in regs}
    for r in regs:
        if r.latches is not None and r.latches not in by_name:
            raise RtlGenError(f"{r.name}: latches_on_read names unknown register {r.latches}")
    return regs, {"params": params, "desc": desc}, enums


# ---------------------------------------------------------------------------- emitters
def _hex(v: int, bits: int) -> str:
    return f"{bits}'h{v:0{(bits + 3) // 4}X}"


def _param_name(build_param: str) -> str:
    return build_param.upper()


def emit_regs(regs: list[Reg], params: dict[str, Any]) -> str:
    """Verilog text of module ``ptdma_regs``."""
    latched_by = {r.latches: r for r in regs if r.latches}
    ports: list[str] = []
    for r in regs:
        for f in r.fields:
            sig = f"{r.low}_{f.name.lower()}"
            w = f"[{f.width - 1}:0] " if f.width > 1 else ""
            if f.kind == HWIN or f.kind == SHARED:
                ports.append(f"    input  wire {w}i_{sig},")
            elif f.kind == STORE or f.kind == W1C:
                ports.append(f"    output reg  {w}o_{sig},")
                if f.kind == W1C:
                    ports.append(f"    input  wire {w}i_{sig}_hwset,")
            elif f.kind == WPULSE:
                ports.append(f"    output reg  {w}o_{sig}_wr,")
        if r.needs_swwr:
            ports.append(f"    output reg  o_{r.low}_swwr,")
        if r.rclr:
            ports.append(f"    output reg  o_{r.low}_swrd,")

    # parameters: the addrmap's build parameters
    plist = [f"    parameter integer {k} = {int(v)}" for k, v in params.items()]

    lines: list[str] = [
        "// GENERATED by hdl_model/rtl_gen.py from hdl_model/ptdma.rdl: do not edit.",
        "// Register block of one PTDMA engine window (64 KiB): storage, W1C, read mux and",
        "// strobes; engine-owned state (RUN, HALTED, HEAD_LO, counters) comes in on i_* ports.",
        "`timescale 1ns / 1ps",
        "`default_nettype none",
        "module ptdma_regs #(",
        ",\n".join(plist),
        ") (",
        "    input  wire        clk,",
        "    input  wire        rst,",
        "    // register bus: one-cycle strobes, byte offset, read data valid the next cycle",
        "    input  wire        reg_wr,",
        "    input  wire        reg_rd,",
        f"    input  wire [{ADDR_BITS - 1}:0] reg_addr,",
        "    input  wire [31:0] reg_wdata,",
        "    input  wire [3:0]  reg_wstrb,",
        "    output reg  [31:0] reg_rdata,",
        "    output reg         reg_hit,",
        "    // write data and byte mask for engine-owned fields (valid with o_*_swwr)",
        "    output wire [31:0] o_wdata,",
        "    output wire [31:0] o_wmask,",
        *ports[:-1],
        ports[-1].rstrip(","),
        ");",
        "",
        "    wire [31:0] wmask = {{8{reg_wstrb[3]}}, {8{reg_wstrb[2]}}, "
        "{8{reg_wstrb[1]}}, {8{reg_wstrb[0]}}};",
        "    assign o_wdata = reg_wdata;",
        "    assign o_wmask = wmask;",
        f"    wire [{ADDR_BITS - 3}:0] widx = reg_addr[{ADDR_BITS - 1}:2];",
        "    wire unused_byte_offset = &{1'b0, reg_addr[1:0]};  // 32-bit registers only",
        "",
    ]
    # decode wires
    for r in regs:
        lines.append(
            f"    wire sel_{r.low} = (widx == {ADDR_BITS - 2}'d{r.offset >> 2});"
            f"  // 0x{r.offset:04X} {r.name}"
        )
    lines.append("")
    # snapshot registers for latches_on_read targets
    for tgt, src in latched_by.items():
        lines.append(f"    reg [31:0] snap_{tgt.lower()};  // latched when {src.name} is read")
    if latched_by:
        lines.append("")

    # build-parameter constants, truncated to their field
    for r in regs:
        for f in r.fields:
            if f.kind == CONST and f.build_param:
                lines.append(
                    f"    localparam [{f.width - 1}:0] bp_{r.low}_{f.name.lower()} = "
                    f"{f.width}'({_param_name(f.build_param)});"
                )
    lines.append("")
    # read value of each register
    for r in regs:
        terms: list[tuple[int, int, str]] = []
        for f in r.fields:
            sig = f"{r.low}_{f.name.lower()}"
            if f.kind == CONST:
                val = f"bp_{sig}" if f.build_param else _hex(f.reset, f.width)
                terms.append((f.lsb, f.width, val))
            elif f.kind in (HWIN, SHARED):
                terms.append((f.lsb, f.width, f"i_{sig}"))
            elif f.kind in (STORE, W1C):
                terms.append((f.lsb, f.width, f"o_{sig}"))
            # WPULSE reads as 0
        lines.append(f"    wire [31:0] rv_{r.low} = " + _concat(terms) + ";")
    lines.append("")

    # read mux (registered) and read side effects
    lines += [
        "    always @(posedge clk) begin",
        "        if (rst) begin",
        "            reg_rdata <= 32'd0;",
        "            reg_hit <= 1'b0;",
    ]
    for r in regs:
        if r.rclr:
            lines.append(f"            o_{r.low}_swrd <= 1'b0;")
    for tgt in latched_by:
        lines.append(f"            snap_{tgt.lower()} <= 32'd0;")
    lines += ["        end else begin"]
    for r in regs:
        if r.rclr:
            lines.append(f"            o_{r.low}_swrd <= reg_rd & sel_{r.low};")
    lines += [
        "            if (reg_rd) begin",
        "                reg_hit <= 1'b0;",
        "                reg_rdata <= 32'd0;",
        "                case (1'b1)",
    ]
    for r in regs:
        rsrc = f"snap_{r.low}" if r.name in latched_by else f"rv_{r.low}"
        lines.append(
            f"                    sel_{r.low}: begin reg_rdata <= {rsrc}; reg_hit <= 1'b1; end"
        )
    lines += ["                    default: ;", "                endcase"]
    for tgt, srcr in latched_by.items():
        lines.append(f"                if (sel_{srcr.low}) snap_{tgt.lower()} <= rv_{tgt.lower()};")
    lines += ["            end", "        end", "    end", ""]

    # write side: storage, W1C, pulses, strobes
    lines += ["    always @(posedge clk) begin", "        if (rst) begin"]
    for r in regs:
        for f in r.fields:
            sig = f"{r.low}_{f.name.lower()}"
            if f.kind in (STORE, W1C):
                lines.append(f"            o_{sig} <= {_hex(f.reset, f.width)};")
            elif f.kind == WPULSE:
                lines.append(f"            o_{sig}_wr <= {f.width}'d0;")
        if r.needs_swwr:
            lines.append(f"            o_{r.low}_swwr <= 1'b0;")
    lines += ["        end else begin"]
    for r in regs:
        wr = f"(reg_wr & sel_{r.low})"
        if r.needs_swwr:
            lines.append(f"            o_{r.low}_swwr <= {wr};")
        for f in r.fields:
            sig = f"{r.low}_{f.name.lower()}"
            d = f"reg_wdata{f.sl}"
            m = f"wmask{f.sl}"
            if f.kind == STORE:
                lines.append(f"            if {wr} o_{sig} <= (o_{sig} & ~{m}) | ({d} & {m});")
            elif f.kind == W1C:
                lines.append(
                    f"            o_{sig} <= (o_{sig} & ~({{{f.width}{{{wr}}}}} & {d} & {m}))"
                    f" | i_{sig}_hwset;"
                )
            elif f.kind == WPULSE:
                lines.append(
                    f"            o_{sig}_wr <= {{{f.width}{{{wr}}}}} & {d} & {m};"
                )
    lines += ["        end", "    end", "", "endmodule", "`default_nettype wire", ""]
    return "\n".join(lines)


def _concat(terms: list[tuple[int, int, str]]) -> str:
    """Verilog concatenation placing each (lsb, width, expr) in a 32-bit word."""
    terms = sorted(terms, key=lambda t: t[0])
    parts: list[str] = []
    pos = 0
    for lsb, width, expr in terms:
        if lsb > pos:
            parts.append(f"{lsb - pos}'d0")
        parts.append(expr)
        pos = lsb + width
    if pos < 32:
        parts.append(f"{32 - pos}'d0")
    return "{" + ", ".join(reversed(parts)) + "}"


def emit_defs(regs: list[Reg], extra: dict[str, Any], enums: dict[str, Any]) -> str:
    """Verilog header of constants: offsets, descriptor layout, enums."""
    out = [
        "// GENERATED by hdl_model/rtl_gen.py from hdl_model/ptdma.rdl: do not edit.",
        "// Constants of the PTDMA twin: register offsets, descriptor layout, enums.",
        "// Include inside a module body.",
        "/* verilator lint_off UNUSEDPARAM */",
        "",
        "// register offsets in the engine window",
    ]
    for r in regs:
        out.append(f"localparam [{ADDR_BITS - 1}:0] REG_{r.name} = {_hex(r.offset, ADDR_BITS)};")
    out += ["", "// descriptor (32 B, little-endian dwords): dword index, field lsb/msb"]
    for dw, off, flds in extra["desc"]:
        out.append(f"localparam integer DESC_{dw}_IDX = {off // 4};")
        for name, lsb, msb in flds:
            out.append(f"localparam integer DESC_{dw}_{name}_LSB = {lsb};")
            out.append(f"localparam integer DESC_{dw}_{name}_MSB = {msb};")
    for ename, members in sorted(enums.items()):
        prefix = {
            "ptdma_error_code": "ERR",
            "ptdma_err_side": "SIDE",
            "ptdma_desc_status": "WBST",
        }.get(ename, ename.upper())
        out += ["", f"// enum {ename}"]
        for mname, val in members:
            out.append(f"localparam [7:0] {prefix}_{mname} = 8'h{val:02X};")
    out += ["", "/* verilator lint_on UNUSEDPARAM */", ""]
    return "\n".join(out)


def generate(rdl: Path = RDL_PATH) -> dict[Path, str]:
    """Text of every generated file, keyed by its path."""
    regs, extra, enums = compile_rdl(rdl)
    return {
        REGS_V: emit_regs(regs, extra["params"]),
        DEFS_VH: emit_defs(regs, extra, enums),
    }


def stale_files(rdl: Path = RDL_PATH) -> list[Path]:
    """Generated files whose content on disk differs from what the RDL gives now."""
    return [p for p, text in generate(rdl).items() if not p.exists() or p.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    """CLI: regenerate the RTL register block, or ``--check`` that it is current."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    ap.add_argument("--rdl", type=Path, default=RDL_PATH)
    args = ap.parse_args(argv)
    if args.check:
        stale = stale_files(args.rdl)
        for p in stale:
            print(f"stale: {p} (run python -m hdl_model.rtl_gen)", file=sys.stderr)
        return 1 if stale else 0
    RTL_DIR.mkdir(parents=True, exist_ok=True)
    for p, text in generate(args.rdl).items():
        if not p.exists() or p.read_text() != text:
            p.write_text(text)
            print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
