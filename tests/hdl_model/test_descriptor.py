"""Descriptor codec (ptdma-model §4) and validation order (§5)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ptdma import ptdma_regs as R
from hdl_model import descriptor as D


def test_memcpy_descriptor_dw0_and_layout() -> None:
    d = D.memcpy_descriptor(0x1234_5678_9ABC, 0xFEDC_BA98_7654, 4096)
    dws = d.to_dwords()
    assert dws[0] == 0x0050_0012 == R.CMD_DESC_DW0_VAL
    assert dws[1] == 4096
    assert (dws[2], dws[3]) == (0x5678_9ABC, 0x1234)
    assert (dws[4], dws[5]) == (0xBA98_7654, 0xFEDC)
    assert dws[6:] == (0, 0)
    assert D.memcpy_descriptor(0, 0, 1, ioc=False).to_dwords()[0] == 0x0050_0010
    raw = d.pack()
    assert raw.dtype == np.uint8 and raw.size == 32
    assert raw[:4].tobytes() == bytes([0x12, 0x00, 0x50, 0x00])
    assert D.unpack(raw) == d
    assert D.memcpy_dwords(0x1234_5678_9ABC, 0xFEDC_BA98_7654, 4096) == dws


descs = st.builds(
    D.Descriptor,
    soc=st.booleans(),
    ioc=st.booleans(),
    init=st.booleans(),
    eom=st.booleans(),
    function=st.integers(0, (1 << 15) - 1),
    engine=st.integers(0, 15),
    prot=st.booleans(),
    length=st.integers(0, 0xFFFF_FFFF),
    src=st.integers(0, (1 << 48) - 1),
    src_mem=st.integers(0, 3),
    lsb_ctx_id=st.integers(0, 255),
    src_fixed=st.booleans(),
    dst=st.integers(0, (1 << 48) - 1),
    dst_mem=st.integers(0, 3),
    dst_fixed=st.booleans(),
    rsvd_dw0=st.sampled_from([0, 0x4, 0x0200_0000, 0xFE00_0004]),
    rsvd_dw3=st.sampled_from([0, 0x0400_0000, 0x7C00_0000]),
    rsvd_dw5=st.sampled_from([0, 0x0004_0000, 0x7FFC_0000]),
    dw6=st.integers(0, 0xFFFF_FFFF),
    dw7=st.integers(0, 0xFFFF_FFFF),
)


@given(descs)
@settings(max_examples=200, deadline=None)
def test_round_trip(d: D.Descriptor) -> None:
    assert D.unpack(d.pack()) == d
    assert D.Descriptor.from_dwords(d.to_dwords()) == d


@given(st.lists(descs, min_size=1, max_size=8))
@settings(max_examples=50, deadline=None)
def test_arrays(ds: list[D.Descriptor]) -> None:
    arr = D.pack_many(ds)
    assert arr.dtype == D.DESC_DTYPE and arr.shape == (len(ds),)
    assert arr.view(np.uint8).size == 32 * len(ds)
    assert D.unpack_many(arr) == ds
    assert D.unpack_many(arr.view(np.uint8).tobytes()) == ds
    assert list(D.get_field(arr, "LENGTH")) == [d.length for d in ds]
    assert list(D.get_field(arr, "ENGINE")) == [d.engine for d in ds]
    assert [int(x) for x in D.get_field(arr, "SRC")] == [d.src for d in ds]
    assert [int(x) for x in D.get_field(arr, "DST")] == [d.dst for d in ds]
    assert list(D.get_field(arr, "LSB_CTX_ID")) == [d.lsb_ctx_id for d in ds]
    D.set_field(arr, "DST", 0xABCD_0000_1000)
    D.set_field(arr, "IOC", 0)
    out = D.unpack_many(arr)
    assert all(o.dst == 0xABCD_0000_1000 and not o.ioc for o in out)
    assert [o.src for o in out] == [d.src for d in ds]


def reference_decision(d: D.Descriptor, zero_nop: bool, strict: bool, max_xfer: int | None,
                       bad_addr: bool) -> int:
    """ptdma-model §5 table, written independently of the model's code."""
    if d.engine != 5:
        return 0x01
    if d.function != 0:
        return 0x03
    if strict:
        rsvd = d.rsvd_dw0 or d.rsvd_dw3 or d.rsvd_dw5 or d.dw6 or d.dw7
        overlap = d.length > 0 and not (d.src + d.length <= d.dst or d.dst + d.length <= d.src)
        if rsvd or overlap:
            return 0x08
    if (d.length == 0 and not zero_nop) or (max_xfer is not None and d.length > max_xfer):
        return 0x09
    if d.length and bad_addr:
        return 0x0B
    if d.src_mem or d.dst_mem:
        return 0x0C
    return 0


@given(
    descs,
    st.booleans(),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 1 << 22)),
    st.booleans(),
    st.booleans(),
)
@settings(max_examples=400, deadline=None)
def test_validation_matches_reference(
    d: D.Descriptor, zero_nop: bool, strict: bool, max_xfer: int | None, bad: bool, fix: bool
) -> None:
    if fix:  # make the common case (a well-formed memcpy) frequent
        d.engine, d.function, d.src_mem, d.dst_mem = 5, 0, 0, 0
    cfg = D.ValidationConfig(zero_len_nop=zero_nop, strict_reserved=strict, max_xfer=max_xfer)
    got = D.validate(d, cfg, lambda s, t, n: not bad)
    assert got == reference_decision(d, zero_nop, strict, max_xfer, bad)
    assert got == 0 or got in D.ERROR_CODES


def test_error_table() -> None:
    names = {
        0x01: "ILLEGAL_ENGINE", 0x03: "ILLEGAL_FUNCTION_TYPE", 0x04: "ILLEGAL_FUNCTION_MODE",
        0x06: "ILLEGAL_FUNCTION_SIZE", 0x08: "ILLEGAL_FUNCTION_RSVD",
        0x09: "ILLEGAL_BUFFER_LENGTH", 0x0A: "VLSB_FAULT", 0x0B: "ILLEGAL_MEM_ADDR",
        0x0C: "ILLEGAL_MEM_SEL", 0x0D: "ILLEGAL_CONTEXT_ID", 0x12: "CMD_TIMEOUT",
        0x13: "IDMA0_AXI_SLVERR", 0x14: "IDMA0_AXI_DECERR", 0x16: "IDMA1_AXI_SLAVE_FAULT",
        0x17: "IDMA1_AXI_DECERR", 0x26: "ODMA0_AXI_SLVERR", 0x27: "ODMA0_AXI_DECERR",
        0x29: "ODMA1_AXI_SLVERR", 0x2A: "ODMA1_AXI_DECERR", 0x2B: "LSB_PARITY_ERR",
    }  # fmt: skip
    assert names == D.ERROR_CODES
    assert all(D.error_name(c) for c in range(256))
    assert D.error_name(0x0F).startswith("UNKNOWN")
