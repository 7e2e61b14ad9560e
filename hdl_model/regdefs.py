"""Register-description types: registers as data (QEMU ``REG32``/``FIELD`` table style).

``hdl_model/generated/regmap.py`` is a table of these, generated from ``hdl_model/ptdma.rdl``
by ``hdl_model.regmap_gen``; the register file (``hdl_model.registers``) interprets it. Kept
hand-written and tiny so the generated file is pure data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Access kinds of a field (SystemRDL sw / onwrite / onread, reduced to what the model needs).
RW = "RW"  # sw = rw
RO = "RO"  # sw = r
W1C = "W1C"  # sw = rw; woclr
WO = "WO"  # sw = w (reads return 0)
RC = "RC"  # sw = r; rclr (clear-on-read)
ACCESS_KINDS = (RW, RO, W1C, WO, RC)


@dataclass(frozen=True)
class FieldDef:
    """One field: bits [msb:lsb] of a register, its access kind and reset value."""

    name: str
    lsb: int
    msb: int
    access: str
    reset: int = 0
    desc: str = ""
    encode: str | None = None  # name of the SystemRDL enum that names its values
    live: bool = False  # computed by hardware on read (no storage)
    sw_write_gate: str | None = None  # condition under which software writes take effect
    write_action: str | None = None  # side effect of a write (doorbell, abort, perf_reset)
    build_param: str | None = None  # reset fixed by a build parameter of the engine

    @property
    def width(self) -> int:
        return self.msb - self.lsb + 1

    @property
    def mask(self) -> int:
        """Mask of the field in its register (``GENMASK(msb, lsb)``)."""
        return ((1 << self.width) - 1) << self.lsb

    def get(self, value: int) -> int:
        """Extract this field from a register value (``FIELD_GET``)."""
        return (value >> self.lsb) & ((1 << self.width) - 1)

    def put(self, value: int, fv: int) -> int:
        """``value`` with this field replaced by ``fv`` (``FIELD_PREP`` + merge)."""
        return (value & ~self.mask) | ((fv << self.lsb) & self.mask)


@dataclass(frozen=True)
class RegisterDef:
    """One register: name, offset in the engine window, width, reset, access and fields."""

    name: str
    offset: int
    width: int
    reset: int
    access: str  # summary: the fields' common kind, or RW for a mix with writable fields
    fields: tuple[FieldDef, ...]
    desc: str = ""
    block: str = "global"  # "global" or "queue" (relative to CMD_Q_STATUS_INCR)
    linux_name: str | None = None  # macro in Linux drivers/dma/ptdma/ptdma.h
    latches_on_read: str | None = None  # register latched when this one is read
    title: str = ""
    _by_name: dict[str, FieldDef] = field(default_factory=dict, compare=False, repr=False)

    def field(self, name: str) -> FieldDef:
        """The field called ``name``."""
        if not self._by_name:
            self._by_name.update({f.name: f for f in self.fields})
        return self._by_name[name]

    @property
    def sw_write_mask(self) -> int:
        """Bits software can store (RW fields)."""
        return sum(f.mask for f in self.fields if f.access == RW)

    @property
    def w1c_mask(self) -> int:
        return sum(f.mask for f in self.fields if f.access == W1C)

    @property
    def rc_mask(self) -> int:
        return sum(f.mask for f in self.fields if f.access == RC)

    @property
    def wo_mask(self) -> int:
        return sum(f.mask for f in self.fields if f.access == WO)

    @property
    def readable_mask(self) -> int:
        """Bits a read returns (every field but write-only ones)."""
        return sum(f.mask for f in self.fields if f.access != WO)


@dataclass(frozen=True)
class EnumDef:
    """A SystemRDL enum: named values (error codes, error side, write-back status)."""

    name: str
    values: tuple[tuple[str, int, str], ...]  # (name, value, description)

    def by_value(self) -> dict[int, str]:
        return {v: n for n, v, _ in self.values}

    def by_name(self) -> dict[str, int]:
        return {n: v for n, v, _ in self.values}
