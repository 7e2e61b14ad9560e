"""Scatter-gather tables: ``struct scatterlist`` and ``struct sg_table``.

Port of the parts of ``include/linux/scatterlist.h`` / ``lib/scatterlist.c`` the DMA users
need. A page is represented by its physical address (``page_to_phys``); a folio entry
covers the whole folio from its first page. ``dma_address``/``dma_length`` are filled by
``dma_map_sg`` for the first ``nents`` entries, which may be fewer than ``orig_nents``
when a translating IOMMU merged IOVA-contiguous entries.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from drivers.dmaengine.costs import charge_op
from drivers.mm.errno import EINVAL

if TYPE_CHECKING:
    from drivers.kernel import Kernel
    from drivers.mm.folio import Folio


class Scatterlist:
    """``struct scatterlist``: one (page, offset, length) entry plus its DMA segment."""

    __slots__ = ("dma_address", "dma_length", "length", "next", "offset", "page")

    def __init__(self) -> None:
        self.page = 0  # physical address of the first page (page_to_phys(sg_page(sg)))
        self.offset = 0
        self.length = 0
        self.dma_address = 0
        self.dma_length = 0
        self.next: Scatterlist | None = None

    def phys(self) -> int:
        """``sg_phys``."""
        return self.page + self.offset

    def __repr__(self) -> str:
        return (
            f"<sg page={self.page:#x}+{self.offset:#x} len={self.length} "
            f"dma={self.dma_address:#x}/{self.dma_length}>"
        )


class SgTable:
    """``struct sg_table``: ``sgl`` (first entry), ``nents`` (mapped), ``orig_nents``."""

    def __init__(self) -> None:
        self.entries: list[Scatterlist] = []
        self.nents = 0
        self.orig_nents = 0

    @property
    def sgl(self) -> Scatterlist | None:
        """First entry (``sgt->sgl``), None for an empty table."""
        return self.entries[0] if self.entries else None


def sg_alloc_table(table: SgTable, nents: int, kernel: Kernel | None = None) -> int:
    """``sg_alloc_table(table, nents, gfp)``: ``nents`` chained, zeroed entries; 0 or -EINVAL."""
    if nents <= 0:
        return -EINVAL
    if kernel is not None:
        charge_op(kernel, "sg_alloc_entry", nents)
    table.entries = [Scatterlist() for _ in range(nents)]
    for a, b in zip(table.entries, table.entries[1:], strict=False):
        a.next = b
    table.nents = table.orig_nents = nents
    return 0


def sg_free_table(table: SgTable) -> None:
    """``sg_free_table``."""
    table.entries = []
    table.nents = table.orig_nents = 0


def sg_next(sg: Scatterlist) -> Scatterlist | None:
    """``sg_next``."""
    return sg.next


def sg_set_page(sg: Scatterlist, page: int, length: int, offset: int) -> None:
    """``sg_set_page``: ``page`` is the page's physical address."""
    sg.page = page
    sg.offset = offset
    sg.length = length


def sg_set_folio(
    sg: Scatterlist, folio: Folio, length: int, offset: int, kernel: Kernel | None = None
) -> None:
    """``sg_set_folio``: an entry covering ``length`` bytes of ``folio`` from ``offset``."""
    if kernel is not None:
        charge_op(kernel, "sg_set_entry")
    sg_set_page(sg, folio.phys, length, offset)


def sg_dma_address(sg: Scatterlist) -> int:
    """``sg_dma_address``."""
    return sg.dma_address


def sg_dma_len(sg: Scatterlist) -> int:
    """``sg_dma_len``."""
    return sg.dma_length


def for_each_sgtable_sg(sgt: SgTable) -> Iterator[tuple[int, Scatterlist]]:
    """``for_each_sgtable_sg``: every CPU entry (``orig_nents``)."""
    yield from enumerate(sgt.entries[: sgt.orig_nents])


def for_each_sgtable_dma_sg(sgt: SgTable) -> Iterator[tuple[int, Scatterlist]]:
    """``for_each_sgtable_dma_sg``: every DMA segment (``nents``)."""
    yield from enumerate(sgt.entries[: sgt.nents])
