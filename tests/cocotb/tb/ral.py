"""pyuvm register model of the PTDMA window, built at test time from the single source.

Registers, offsets, field positions, access kinds and reset values come from the generated
table ``hdl_model/generated/regmap.py`` (from ``ptdma.rdl``); which fields hardware changes
(so the mirror cannot predict them: *volatile*) comes from the same RDL through the RTL
exporter's classification (``hdl_model.rtl_gen``). Nothing is typed in twice. The map's
frontdoor is the AXI-Lite agent (``AxilAdapter``); auto-predict keeps the mirror.
"""

from __future__ import annotations

from typing import Any

from pyuvm import (
    uvm_access_e,
    uvm_endianness_e,
    uvm_reg,
    uvm_reg_adapter,
    uvm_reg_block,
    uvm_reg_bus_op,
    uvm_reg_field,
    uvm_reg_map,
    uvm_sequence_item,
    uvm_status_e,
)

from hdl_model import rtl_gen
from hdl_model.generated.regmap import REGISTERS
from hdl_model.regdefs import RegisterDef

# regdefs access kind -> UVM field access policy
UVM_ACCESS = {"RW": "RW", "RO": "RO", "W1C": "W1C", "WO": "WO", "RC": "RC"}


def hw_changed_fields() -> set[tuple[str, str]]:
    """(register, field) pairs hardware changes, from the RDL (volatile in the mirror)."""
    regs, _, _ = rtl_gen.compile_rdl()
    out: set[tuple[str, str]] = set()
    for r in regs:
        for f in r.fields:
            if f.kind in (rtl_gen.HWIN, rtl_gen.SHARED, rtl_gen.W1C):
                out.add((r.name, f.name))
    return out


class PtdmaReg(uvm_reg):
    """One 32-bit register built from its ``RegisterDef``."""

    def __init__(self, rdef: RegisterDef, volatile: set[tuple[str, str]]) -> None:
        super().__init__(rdef.name, 32)
        self.rdef = rdef
        self._volatile_names = volatile
        self.fields_by_name: dict[str, uvm_reg_field] = {}
        # bits whose value the mirror can predict from the writes alone: RW fields hardware
        # never changes (the RAL's auto-predicted mirror is checked against them)
        self.predictable_mask = sum(
            f.mask for f in rdef.fields
            if f.access == "RW" and (rdef.name, f.name) not in volatile
        )

    def build(self) -> None:
        for f in self.rdef.fields:
            fld = uvm_reg_field(f.name)
            fld.configure(
                self,
                f.width,
                f.lsb,
                UVM_ACCESS[f.access],
                (self.rdef.name, f.name) in self._volatile_names,
                f.reset,
                has_reset=True,
                is_rand=False,
                individually_accessible=False,
            )
            self.fields_by_name[f.name] = fld


class PtdmaRegBlock(uvm_reg_block):
    """The engine window: every register of the generated table in one map at offset 0."""

    def __init__(self, name: str = "ptdma_regs") -> None:
        super().__init__(name)
        self.def_map: uvm_reg_map = self.create_map(
            "map", 0, 4, uvm_endianness_e.UVM_LITTLE_ENDIAN
        )
        self.set_default_map(self.def_map)
        volatile = hw_changed_fields()
        self.regs: dict[str, PtdmaReg] = {}
        for rdef in REGISTERS:
            reg = PtdmaReg(rdef, volatile)
            reg.configure(self)
            reg.build()
            rights = "RO" if all(f.access in ("RO", "RC") for f in rdef.fields) else "RW"
            self.def_map.add_reg(reg, rdef.offset, rights)
            self.regs[rdef.name] = reg
        self.lock_model()
        self.reset()  # mirror = reset values (the twin has just been reset)

    def reg(self, name: str) -> PtdmaReg:
        return self.regs[name]


class AxilItem(uvm_sequence_item):
    """One AXI-Lite MMIO access: offset, data, direction, and when it ran (ps)."""

    def __init__(self, name: str = "axil_item") -> None:
        super().__init__(name)
        self.addr = 0
        self.data = 0
        self.write = False
        self.resp = 0
        self.t_start = 0
        self.t_end = 0
        self.check = False  # reads: compare with the reference model at this time

    def __str__(self) -> str:
        kind = "W" if self.write else "R"
        return f"{kind} {self.addr:#06x} = {self.data:#010x} @ {self.t_end / 1000:.1f} ns"


class AxilAdapter(uvm_reg_adapter):
    """RAL bus operations <-> AXI-Lite items."""

    def __init__(self, name: str = "axil_adapter") -> None:
        super().__init__(name)
        self.supports_byte_enable = False
        self.provides_responses = False

    def reg2bus(self, rw: uvm_reg_bus_op) -> Any:
        item = AxilItem("ral_item")
        item.addr = int(rw.addr)
        item.write = rw.kind == uvm_access_e.UVM_WRITE
        item.data = int(rw.data) & 0xFFFF_FFFF
        return item

    def bus2reg(self, bus_item: Any, rw: uvm_reg_bus_op) -> None:
        rw.kind = uvm_access_e.UVM_WRITE if bus_item.write else uvm_access_e.UVM_READ
        rw.addr = bus_item.addr
        rw.data = bus_item.data
        rw.status = uvm_status_e.UVM_IS_OK if bus_item.resp == 0 else uvm_status_e.UVM_NOT_OK
