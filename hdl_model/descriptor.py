"""The 32-byte CCP-v5 PTDMA descriptor (ptdma-model §4) and its validation (§5).

Layout and error codes come from the generated register description
(``hdl_model/generated/regmap.py``, from ``ptdma.rdl``): one source for the codec, the
driver's constants and the RTL. A descriptor is 8 little-endian u32 dwords; arrays of them
are numpy structured arrays (``DESC_DTYPE``), so a ring is one ``np.frombuffer`` away.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from hdl_model.generated.regmap import DESC_BY_NAME, ENUMS
from hdl_model.regdefs import FieldDef

DESC_SIZE = 32
PT_ENGINE_PASSTHRU = 5  # ptdma.h
DWORDS = ("dw0", "length", "src_lo", "dw3", "dst_lo", "dw5", "rsvd1", "rsvd2")  # ptdma_desc
DESC_DTYPE = np.dtype([(n, "<u4") for n in DWORDS])
assert DESC_DTYPE.itemsize == DESC_SIZE

# Error codes (§5), named as in the PTDMA driver's pt_error_codes; a dict, never an array.
ERROR_CODES: dict[int, str] = {v: n for n, v, _ in ENUMS["ptdma_error_code"].values if v}
ERR: dict[str, int] = {n: v for v, n in ERROR_CODES.items()}
ILLEGAL_ENGINE = ERR["ILLEGAL_ENGINE"]
ILLEGAL_FUNCTION_TYPE = ERR["ILLEGAL_FUNCTION_TYPE"]
ILLEGAL_FUNCTION_RSVD = ERR["ILLEGAL_FUNCTION_RSVD"]
ILLEGAL_BUFFER_LENGTH = ERR["ILLEGAL_BUFFER_LENGTH"]
ILLEGAL_MEM_ADDR = ERR["ILLEGAL_MEM_ADDR"]
ILLEGAL_MEM_SEL = ERR["ILLEGAL_MEM_SEL"]
CMD_TIMEOUT = ERR["CMD_TIMEOUT"]
IDMA0_AXI_SLVERR = ERR["IDMA0_AXI_SLVERR"]
IDMA0_AXI_DECERR = ERR["IDMA0_AXI_DECERR"]
ODMA0_AXI_SLVERR = ERR["ODMA0_AXI_SLVERR"]
ODMA0_AXI_DECERR = ERR["ODMA0_AXI_DECERR"]


def _f(dw: str, name: str) -> FieldDef:
    return DESC_BY_NAME[dw].field(name)


# Named fields: (dword index, FieldDef). FIXED exists in dw3 and dw5: SRC_FIXED / DST_FIXED.
FIELDS: dict[str, tuple[int, FieldDef]] = {
    "SOC": (0, _f("DW0", "SOC")),
    "IOC": (0, _f("DW0", "IOC")),
    "INIT": (0, _f("DW0", "INIT")),
    "EOM": (0, _f("DW0", "EOM")),
    "FUNCTION": (0, _f("DW0", "FUNCTION")),
    "ENGINE": (0, _f("DW0", "ENGINE")),
    "PROT": (0, _f("DW0", "PROT")),
    "LENGTH": (1, _f("DW1", "LENGTH")),
    "SRC_LO": (2, _f("DW2", "SRC_LO")),
    "SRC_HI": (3, _f("DW3", "SRC_HI")),
    "SRC_MEM": (3, _f("DW3", "SRC_MEM")),
    "LSB_CTX_ID": (3, _f("DW3", "LSB_CTX_ID")),
    "SRC_FIXED": (3, _f("DW3", "FIXED")),
    "DST_LO": (4, _f("DW4", "DST_LO")),
    "DST_HI": (5, _f("DW5", "DST_HI")),
    "DST_MEM": (5, _f("DW5", "DST_MEM")),
    "DST_FIXED": (5, _f("DW5", "FIXED")),
}

# Reserved bits per dword (checked only under EXT_CTRL.STRICT_RESERVED): dw0 [2] and
# [31:25], dw3 [30:26], dw5 [30:18], dw6 and dw7 whole.
RESERVED_MASKS: tuple[int, ...] = (
    _f("DW0", "RSVD0").mask | _f("DW0", "RSVD1").mask,
    0,
    0,
    _f("DW3", "RSVD").mask,
    0,
    _f("DW5", "RSVD").mask,
    0xFFFF_FFFF,
    0xFFFF_FFFF,
)

_SOC = _f("DW0", "SOC").mask
_IOC = _f("DW0", "IOC").mask
_EOM = _f("DW0", "EOM").mask
_ENGINE = _f("DW0", "ENGINE")
_FUNCTION = _f("DW0", "FUNCTION")
_SRC_MEM = _f("DW3", "SRC_MEM")
_DST_MEM = _f("DW5", "DST_MEM")
ADDR_MASK = (1 << 48) - 1
_ENGINE_MASK = _ENGINE.mask
_ENGINE_PASSTHRU = PT_ENGINE_PASSTHRU << _ENGINE.lsb
_FUNCTION_MASK = _FUNCTION.mask
_SRC_MEM_MASK = _SRC_MEM.mask
_DST_MEM_MASK = _DST_MEM.mask


@dataclass
class Descriptor:
    """One descriptor, field by field (dwords 6 and 7 kept raw)."""

    soc: bool = False
    ioc: bool = False
    init: bool = False
    eom: bool = False
    function: int = 0
    engine: int = 0
    prot: bool = False
    length: int = 0
    src: int = 0  # 48-bit
    src_mem: int = 0
    lsb_ctx_id: int = 0
    src_fixed: bool = False
    dst: int = 0  # 48-bit
    dst_mem: int = 0
    dst_fixed: bool = False
    rsvd_dw0: int = 0  # raw reserved bits of dw0 ([2], [31:25]) as they sit in the dword
    rsvd_dw3: int = 0  # raw reserved bits of dw3 ([30:26])
    rsvd_dw5: int = 0  # raw reserved bits of dw5 ([30:18])
    dw6: int = 0
    dw7: int = 0

    # ------------------------------------------------------------ dword conversion
    def to_dwords(self) -> tuple[int, int, int, int, int, int, int, int]:
        """The eight u32 dwords of this descriptor (struct ptdma_desc)."""

        def put(dw: int, key: str, v: int) -> int:
            return FIELDS[key][1].put(dw, int(v))

        dw0 = self.rsvd_dw0 & RESERVED_MASKS[0]
        for key, v in (
            ("SOC", self.soc),
            ("IOC", self.ioc),
            ("INIT", self.init),
            ("EOM", self.eom),
            ("FUNCTION", self.function),
            ("ENGINE", self.engine),
            ("PROT", self.prot),
        ):
            dw0 = put(dw0, key, v)
        dw3 = self.rsvd_dw3 & RESERVED_MASKS[3]
        dw3 = put(dw3, "SRC_HI", (self.src >> 32) & 0xFFFF)
        dw3 = put(dw3, "SRC_MEM", self.src_mem)
        dw3 = put(dw3, "LSB_CTX_ID", self.lsb_ctx_id)
        dw3 = put(dw3, "SRC_FIXED", self.src_fixed)
        dw5 = self.rsvd_dw5 & RESERVED_MASKS[5]
        dw5 = put(dw5, "DST_HI", (self.dst >> 32) & 0xFFFF)
        dw5 = put(dw5, "DST_MEM", self.dst_mem)
        dw5 = put(dw5, "DST_FIXED", self.dst_fixed)
        return (
            dw0,
            self.length & 0xFFFF_FFFF,
            self.src & 0xFFFF_FFFF,
            dw3,
            self.dst & 0xFFFF_FFFF,
            dw5,
            self.dw6 & 0xFFFF_FFFF,
            self.dw7 & 0xFFFF_FFFF,
        )

    @classmethod
    def from_dwords(cls, dws: Sequence[int]) -> Descriptor:
        """Decode eight u32 dwords."""
        d = [int(x) for x in dws]
        if len(d) != 8:
            raise ValueError(f"a descriptor has 8 dwords, got {len(d)}")

        def get(key: str) -> int:
            idx, fd = FIELDS[key]
            return fd.get(d[idx])

        return cls(
            soc=bool(get("SOC")),
            ioc=bool(get("IOC")),
            init=bool(get("INIT")),
            eom=bool(get("EOM")),
            function=get("FUNCTION"),
            engine=get("ENGINE"),
            prot=bool(get("PROT")),
            length=d[1],
            src=(get("SRC_HI") << 32) | d[2],
            src_mem=get("SRC_MEM"),
            lsb_ctx_id=get("LSB_CTX_ID"),
            src_fixed=bool(get("SRC_FIXED")),
            dst=(get("DST_HI") << 32) | d[4],
            dst_mem=get("DST_MEM"),
            dst_fixed=bool(get("DST_FIXED")),
            rsvd_dw0=d[0] & RESERVED_MASKS[0],
            rsvd_dw3=d[3] & RESERVED_MASKS[3],
            rsvd_dw5=d[5] & RESERVED_MASKS[5],
            dw6=d[6],
            dw7=d[7],
        )

    def pack(self) -> np.ndarray:
        """The 32 bytes of this descriptor (uint8 array, little-endian dwords)."""
        return np.array(self.to_dwords(), "<u4").view(np.uint8)

    @classmethod
    def unpack(cls, data: bytes | bytearray | np.ndarray) -> Descriptor:
        """Decode 32 bytes."""
        return cls.from_dwords(_as_dwords(data, 1)[0].tolist())


def _as_dwords(data: bytes | bytearray | np.ndarray, count: int | None = None) -> np.ndarray:
    """View ``data`` (bytes, uint8 array, structured or u32 array) as an (n, 8) u32 array."""
    if isinstance(data, np.ndarray):
        if data.dtype == DESC_DTYPE:
            arr = np.ascontiguousarray(data).view("<u4")
        else:
            arr = np.ascontiguousarray(data).view(np.uint8).view("<u4")
    else:
        arr = np.frombuffer(bytes(data), "<u4")
    if arr.size % 8:
        raise ValueError(f"descriptor data must be a multiple of {DESC_SIZE} bytes")
    out = arr.reshape(-1, 8)
    if count is not None and out.shape[0] != count:
        raise ValueError(f"expected {count} descriptor(s), got {out.shape[0]}")
    return out


def pack(desc: Descriptor) -> np.ndarray:
    """32 bytes of one descriptor."""
    return desc.pack()


def unpack(data: bytes | bytearray | np.ndarray) -> Descriptor:
    """One descriptor from 32 bytes."""
    return Descriptor.unpack(data)


def pack_many(descs: Iterable[Descriptor]) -> np.ndarray:
    """A structured array (``DESC_DTYPE``) of descriptors; ``.view(np.uint8)`` gives the bytes."""
    rows = [d.to_dwords() for d in descs]
    arr = np.array(rows, "<u4").reshape(-1, 8)
    return np.ascontiguousarray(arr).view(DESC_DTYPE).reshape(-1)


def unpack_many(data: bytes | bytearray | np.ndarray) -> list[Descriptor]:
    """Descriptors from bytes or a ``DESC_DTYPE`` array."""
    return [Descriptor.from_dwords(row) for row in _as_dwords(data).tolist()]


def as_array(data: bytes | bytearray | np.ndarray) -> np.ndarray:
    """A ``DESC_DTYPE`` view of raw descriptor bytes (e.g. a ring read from memory)."""
    return np.ascontiguousarray(_as_dwords(data)).view(DESC_DTYPE).reshape(-1)


def get_field(arr: np.ndarray, name: str) -> np.ndarray:
    """Field ``name`` of every descriptor of a ``DESC_DTYPE`` array (vectorised).

    ``SRC``/``DST`` give the full 48-bit addresses.
    """
    if name in ("SRC", "DST"):
        lo = arr["src_lo" if name == "SRC" else "dst_lo"].astype(np.uint64)
        hi = get_field(arr, f"{name}_HI").astype(np.uint64)
        return (hi << np.uint64(32)) | lo
    idx, fd = FIELDS[name]
    col = arr[DWORDS[idx]]
    return (col >> np.uint32(fd.lsb)) & np.uint32((1 << fd.width) - 1)


def set_field(arr: np.ndarray, name: str, values: int | np.ndarray) -> None:
    """Set field ``name`` of every descriptor in place (``SRC``/``DST``: 48-bit addresses)."""
    if name in ("SRC", "DST"):
        v = np.asarray(values, np.uint64)
        arr["src_lo" if name == "SRC" else "dst_lo"] = (v & np.uint64(0xFFFF_FFFF)).astype(
            np.uint32
        )
        set_field(arr, f"{name}_HI", ((v >> np.uint64(32)) & np.uint64(0xFFFF)).astype(np.uint32))
        return
    idx, fd = FIELDS[name]
    key = DWORDS[idx]
    v32 = (np.asarray(values, np.uint64).astype(np.uint32) << np.uint32(fd.lsb)) & np.uint32(
        fd.mask
    )
    arr[key] = (arr[key] & np.uint32(~fd.mask & 0xFFFF_FFFF)) | v32


def memcpy_dw0(ioc: bool = True, soc: bool = False) -> int:
    """Control dword of a PASSTHRU copy: ``CMD_DESC_DW0_VAL`` = 0x0050_0012 with IOC."""
    dw0 = _EOM | (PT_ENGINE_PASSTHRU << _ENGINE.lsb)
    if ioc:
        dw0 |= _IOC
    if soc:
        dw0 |= _SOC
    return dw0


def memcpy_descriptor(src: int, dst: int, length: int, ioc: bool = True) -> Descriptor:
    """The descriptor ``pt_core_perform_passthru`` builds for a memcpy of ``length`` bytes."""
    return Descriptor(
        ioc=ioc,
        eom=True,
        engine=PT_ENGINE_PASSTHRU,
        length=length,
        src=src & ADDR_MASK,
        dst=dst & ADDR_MASK,
    )


def memcpy_dwords(src: int, dst: int, length: int, ioc: bool = True) -> tuple[int, ...]:
    """Dwords of a memcpy descriptor, built without the dataclass (hot paths)."""
    return (
        memcpy_dw0(ioc),
        length & 0xFFFF_FFFF,
        src & 0xFFFF_FFFF,
        (src >> 32) & 0xFFFF,
        dst & 0xFFFF_FFFF,
        (dst >> 32) & 0xFFFF,
        0,
        0,
    )


# ---------------------------------------------------------------- validation (§5)
@dataclass(frozen=True)
class ValidationConfig:
    """The EXT_CTRL switches and build options that change validation."""

    zero_len_nop: bool = False  # EXT_CTRL.ZERO_LEN_NOP
    strict_reserved: bool = False  # EXT_CTRL.STRICT_RESERVED
    max_xfer: int | None = None  # optional LENGTH cap (build option), None = no cap


AddrCheck = Callable[[int, int, int], bool]  # (src, dst, length) -> addresses acceptable


def reserved_bits_set(dws: Sequence[int]) -> bool:
    """True when any reserved bit (``RESERVED_MASKS``) is nonzero."""
    return any(d & m for d, m in zip(dws, RESERVED_MASKS, strict=True))


def overlaps(src: int, dst: int, length: int) -> bool:
    """True when [src, src+length) and [dst, dst+length) share a byte."""
    return length > 0 and src < dst + length and dst < src + length


def validate_dwords(
    dws: Sequence[int], cfg: ValidationConfig, addr_ok: AddrCheck | None = None
) -> int:
    """Error code of a descriptor given as dwords (0 = ok), checks in the order of §5.

    ENGINE != 5 -> 0x01; FUNCTION != 0 -> 0x03; reserved bits (or src/dst overlap, a model
    choice: "overlap flagged") under STRICT_RESERVED -> 0x08; LENGTH 0 without ZERO_LEN_NOP,
    or above MAX_XFER -> 0x09; ``addr_ok`` false -> 0x0B; SRC_MEM/DST_MEM != 0 -> 0x0C.
    Run-time errors (timeout, bus responses) are the engine's.
    """
    dw0 = dws[0]
    if dw0 & _ENGINE_MASK != _ENGINE_PASSTHRU:
        return ILLEGAL_ENGINE
    if dw0 & _FUNCTION_MASK:
        return ILLEGAL_FUNCTION_TYPE
    length = dws[1]
    src = ((dws[3] & 0xFFFF) << 32) | dws[2]
    dst = ((dws[5] & 0xFFFF) << 32) | dws[4]
    if cfg.strict_reserved and (reserved_bits_set(dws) or overlaps(src, dst, length)):
        return ILLEGAL_FUNCTION_RSVD
    if length == 0 and not cfg.zero_len_nop:
        return ILLEGAL_BUFFER_LENGTH
    if cfg.max_xfer is not None and length > cfg.max_xfer:
        return ILLEGAL_BUFFER_LENGTH
    if length and addr_ok is not None and not addr_ok(src, dst, length):
        return ILLEGAL_MEM_ADDR
    if dws[3] & _SRC_MEM_MASK or dws[5] & _DST_MEM_MASK:
        return ILLEGAL_MEM_SEL
    return 0


def validate(desc: Descriptor, cfg: ValidationConfig, addr_ok: AddrCheck | None = None) -> int:
    """Error code of ``desc`` (0 = ok); see ``validate_dwords``."""
    return validate_dwords(desc.to_dwords(), cfg, addr_ok)


def error_name(code: int) -> str:
    """Name of an error code, safe for every value (the driver's array overran; this cannot)."""
    return ERROR_CODES.get(code, f"UNKNOWN_ERROR_{code:#04x}")
