"""Register file interpreting the generated register table (``generated/regmap.py``).

Access kinds come from the table, never from code: RW fields store what software writes,
RO fields ignore writes, W1C fields clear the bits written as 1, WO fields are not stored
(reads return 0; the write hook sees the value), RC fields clear after a read. Device
behaviour hangs on hooks, QEMU ``RegisterAccessInfo`` style: a *write hook* sees
(old, new, written) after the access-kind rules and may return the value to store; a *read
hook* turns the stored value into what software sees (live status, counters).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from hdl_model.regdefs import RegisterDef

WriteHook = Callable[[int, int, int], int | None]  # (old, new, written) -> value to store
ReadHook = Callable[[int], int]  # stored value -> value read


class RegisterFile:
    """Storage and access semantics of one engine's registers (32-bit, 4-byte aligned)."""

    def __init__(
        self, regs: Sequence[RegisterDef], build: Mapping[str, int] | None = None
    ) -> None:
        self.defs: dict[int, RegisterDef] = {r.offset: r for r in regs}
        self.by_name: dict[str, RegisterDef] = {r.name: r for r in regs}
        self._resets: dict[int, int] = {}
        for r in regs:
            value = r.reset
            for f in r.fields:
                if f.build_param and build and f.build_param in build:
                    value = f.put(value, build[f.build_param])
            self._resets[r.offset] = value
        # Per-offset masks, precomputed for the access path.
        self._rw = {r.offset: r.sw_write_mask for r in regs}
        self._w1c = {r.offset: r.w1c_mask for r in regs}
        self._rc = {r.offset: r.rc_mask for r in regs}
        self._rd = {r.offset: r.readable_mask for r in regs}
        self.values: dict[int, int] = dict(self._resets)
        self.write_hooks: dict[int, WriteHook] = {}
        self.read_hooks: dict[int, ReadHook] = {}
        self.unmapped_reads = 0
        self.unmapped_writes = 0

    # ------------------------------------------------------------ set-up
    def offset(self, name: str) -> int:
        return self.by_name[name].offset

    def on_write(self, name: str, hook: WriteHook) -> None:
        self.write_hooks[self.offset(name)] = hook

    def on_read(self, name: str, hook: ReadHook) -> None:
        self.read_hooks[self.offset(name)] = hook

    def reset(self) -> None:
        """Every register back to its reset value (FLR)."""
        self.values = dict(self._resets)

    def reset_value(self, name: str) -> int:
        return self._resets[self.offset(name)]

    # ------------------------------------------------------------ hardware side
    def get(self, name: str) -> int:
        """Stored value (hardware view, no side effects)."""
        return self.values[self.by_name[name].offset]

    def set(self, name: str, value: int) -> None:
        """Store a value from hardware (no access rules, no hooks)."""
        self.values[self.by_name[name].offset] = value & 0xFFFF_FFFF

    def get_field(self, reg: str, field: str) -> int:
        return self.by_name[reg].field(field).get(self.get(reg))

    def set_field(self, reg: str, field: str, value: int) -> None:
        r = self.by_name[reg]
        off = r.offset
        self.values[off] = r.field(field).put(self.values[off], value)

    # ------------------------------------------------------------ software side
    def read32(self, offset: int) -> int:
        """A software read of the 32-bit register at ``offset`` (0 where none is mapped)."""
        stored = self.values.get(offset)
        if stored is None:
            self.unmapped_reads += 1
            return 0
        hook = self.read_hooks.get(offset)
        value = (hook(stored) if hook is not None else stored) & self._rd[offset]
        rc = self._rc[offset]
        if rc:
            self.values[offset] = stored & ~rc
        return value

    def write32(self, offset: int, value: int, lanes: int = 0xFFFF_FFFF) -> None:
        """A software write of the byte lanes ``lanes`` of the register at ``offset``."""
        old = self.values.get(offset)
        if old is None:
            self.unmapped_writes += 1
            return
        written = value & lanes
        rw = self._rw[offset] & lanes
        new = (old & ~rw) | (written & rw)
        new &= ~(written & self._w1c[offset])
        hook = self.write_hooks.get(offset)
        if hook is not None:
            override = hook(old, new, written)
            if override is not None:
                new = override
        self.values[offset] = new & 0xFFFF_FFFF

    def read(self, offset: int, size: int) -> int:
        """Software read of 1, 2, 4 or 8 bytes (8 = low dword then high dword)."""
        if size == 4 and not offset & 3:
            return self.read32(offset)  # the common case: shift 0, the value is 32-bit
        if size == 8:
            lo = self.read32(offset)
            return lo | (self.read32(offset + 4) << 32)
        base = offset & ~3
        shift = (offset & 3) * 8
        return (self.read32(base) >> shift) & ((1 << (8 * size)) - 1)

    def write(self, offset: int, size: int, value: int) -> None:
        """Software write of 1, 2, 4 or 8 bytes (8 = low dword then high dword)."""
        if size == 4 and not offset & 3:
            self.write32(offset, value)  # the common case: all four lanes, shift 0
            return
        if size == 8:
            self.write32(offset, value & 0xFFFF_FFFF)
            self.write32(offset + 4, (value >> 32) & 0xFFFF_FFFF)
            return
        base = offset & ~3
        shift = (offset & 3) * 8
        lanes = ((1 << (8 * size)) - 1) << shift
        self.write32(base, (value << shift) & lanes, lanes)

    def dump(self) -> dict[str, int]:
        """Every register's stored value by name (hardware view, for comparisons)."""
        return {r.name: self.values[off] for off, r in self.defs.items()}
