"""``_pack_desc``: the once-compiled 8-dword Struct packs what a per-call format packs."""

from __future__ import annotations

import struct

import numpy as np

from drivers.ptdma.ptdma_dev import _pack_desc


def _general(dws: list[int]) -> np.ndarray:
    """The general path: a format built for the descriptor's length, every dword masked."""
    return np.frombuffer(struct.pack(f"<{len(dws)}I", *[d & 0xFFFF_FFFF for d in dws]),
                         np.uint8)


def test_pack_desc_matches_the_general_packing() -> None:
    rng = np.random.default_rng(5)
    for n in (8, 8, 8, 4, 7, 9):
        dws = [int(x) for x in rng.integers(0, 1 << 40, n)]  # wider than 32 bits: masked
        dws[0] = 0x13 | (1 << 33)
        assert np.array_equal(_pack_desc(dws), _general(dws))
        assert _pack_desc(dws).dtype == np.uint8 and len(_pack_desc(dws)) == 4 * n
