"""IOMMU and device memory ports: translation, permissions, nothing moves on a fault."""

from __future__ import annotations

import numpy as np
import pytest

from emulator.iommu import Iommu, IommuFault
from emulator.memory import BusError
from emulator.platform import Platform


def test_translated_mode_reaches_only_mapped_pages() -> None:
    plat = Platform(iommu_mode="translated")
    port = plat.dma_port("pt0", 0)
    src = plat.alloc_pages(1, 1)  # 2 pages
    dst = plat.alloc_pages(0, 1)
    data = np.arange(8192, dtype=np.uint32).view(np.uint8)[:8192]
    plat.mem.write(src, data)
    s_iova = plat.iommu.map("pt0", src, 8192, writable=False)
    d_iova = plat.iommu.map("pt0", dst, 8192, writable=True)
    assert s_iova != src  # a real translation
    port.copy(d_iova, s_iova, 8192)
    assert np.array_equal(plat.mem.read(dst, 8192), data)
    with pytest.raises(IommuFault, match="read-only"):
        port.write(s_iova, np.zeros(4, np.uint8))
    with pytest.raises(IommuFault, match="no mapping"):
        port.copy(d_iova, d_iova + 4096, 8192)  # source runs one page past every mapping
    plat.iommu.unmap("pt0", d_iova, 8192)
    before = plat.mem.read(dst, 8192)
    with pytest.raises(IommuFault):
        port.copy(d_iova, s_iova, 4096)
    assert np.array_equal(plat.mem.read(dst, 8192), before)
    assert plat.iommu.domain("pt0").faults == 3
    assert port.node_of(s_iova) == 1


def test_passthrough_is_identity_and_bus_errors_are_checked_first(platform: Platform) -> None:
    port = platform.dma_port("pt1", 0)
    a = platform.alloc_pages(0, 0)
    assert Iommu("passthrough").map("x", a, 4096) == a
    with pytest.raises(BusError):
        port.copy(a, 1 << 47, 64)
    assert not platform.mem.read(a, 64).any()
    with pytest.raises(ValueError):
        Iommu("bogus")


def test_iova_table_grows_fourfold_and_keeps_its_entries() -> None:
    """A range that runs past the table's end grows it (x4, zero filled): entries mapped
    before stay, the new ones translate, the pages between stay unmapped."""
    from emulator.iommu import IOVA_TABLE_INITIAL, IovaPageTable

    t = IovaPageTable(base_page=100)
    t.set_range(100, 7, 3, writable=True)
    t.set_range(100 + IOVA_TABLE_INITIAL - 1, 50, 2, writable=False)  # straddles the end
    assert len(t.table) == 4 * IOVA_TABLE_INITIAL
    assert [t.get(100 + k) for k in range(4)] == [(7, True), (8, True), (9, True), None]
    assert t.get(100 + IOVA_TABLE_INITIAL - 1) == (50, False)
    assert t.get(100 + IOVA_TABLE_INITIAL) == (51, False)
    assert t.get(100 + IOVA_TABLE_INITIAL + 1) is None
    t.set_range(100 + 20 * IOVA_TABLE_INITIAL, 1, 1, writable=True)  # several steps at once
    assert len(t.table) == 64 * IOVA_TABLE_INITIAL and t.get(100) == (7, True)
