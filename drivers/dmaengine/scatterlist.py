"""Scatter-gather tables: ``struct scatterlist`` and ``struct sg_table``.

Port of the parts of ``include/linux/scatterlist.h`` / ``lib/scatterlist.c`` the DMA users
need. A page is represented by its physical address (``page_to_phys``); a folio entry
covers the whole folio from its first page. ``dma_address``/``dma_length`` are filled by
``dma_map_sg`` for the first ``nents`` entries, which may be fewer than ``orig_nents``
when a translating IOMMU merged IOVA-contiguous entries.

Storage: a table keeps its entries' fields as parallel lists (one list per field of
``struct scatterlist``) rather than one Python object per entry, so that building, mapping
and unmapping a table of thousands of 4 KiB entries is a few list operations. A
``Scatterlist`` is a cursor on one entry of its table (the ``struct scatterlist *`` the
kernel API passes around): reading or writing its fields reads or writes the table, and
``sg_next`` moves along the chain as in the kernel.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import repeat
from typing import TYPE_CHECKING

from drivers.dmaengine.costs import charge_op
from drivers.mm.errno import EINVAL
from emulator.frame_allocator import PAGE_SIZE

if TYPE_CHECKING:
    from drivers.kernel import Kernel
    from drivers.mm.folio import Folio


# folio_size() by order, as shared int objects (a table's lengths allocate nothing)
_FOLIO_SIZES = [PAGE_SIZE << order for order in range(64)]


class SgTable:
    """``struct sg_table``: ``sgl`` (first entry), ``nents`` (mapped), ``orig_nents``; the
    entries' fields as parallel lists indexed like the chain."""

    __slots__ = ("_entries", "dma_address", "dma_length", "length", "nents", "offset",
                 "orig_nents", "page")

    def __init__(self) -> None:
        self.page: list[int] = []
        self.offset: list[int] = []
        self.length: list[int] = []
        self.dma_address: list[int] = []
        self.dma_length: list[int] = []
        self.nents = 0
        self.orig_nents = 0
        self._entries: list[Scatterlist] | None = None

    @property
    def entries(self) -> list[Scatterlist]:
        """Every allocated entry as a ``Scatterlist`` (made on first use, then kept)."""
        e = self._entries
        if e is None:
            e = self._entries = list(map(Scatterlist, zip(repeat(self), range(len(self.page)))))
        return e

    @property
    def sgl(self) -> Scatterlist | None:
        """First entry (``sgt->sgl``), None for an empty table (the whole ``entries`` list is
        only made when an entry past the first is asked for)."""
        if not self.page:
            return None
        e = self._entries
        return e[0] if e is not None else Scatterlist((self, 0))


class Scatterlist(tuple[SgTable, int]):
    """``struct scatterlist``: entry ``idx`` of ``table`` (page, offset, length and its
    DMA segment ``dma_address``/``dma_length``), read and written through to the table.

    A ``(table, index)`` pair, so a table's cursors are made without a Python call each
    (``tuple.__new__``) and the accessors unpack them; two cursors on one entry compare
    equal."""

    __slots__ = ()

    @property
    def table(self) -> SgTable:
        """The ``SgTable`` holding the entry."""
        return self[0]

    @property
    def idx(self) -> int:
        """The entry's position in the chain (``tuple.index`` keeps its meaning)."""
        return self[1]

    @property
    def page(self) -> int:
        """Physical address of the first page (``page_to_phys(sg_page(sg))``)."""
        return self.table.page[self.idx]

    @page.setter
    def page(self, value: int) -> None:
        self.table.page[self.idx] = value

    @property
    def offset(self) -> int:
        """``sg->offset``."""
        return self.table.offset[self.idx]

    @offset.setter
    def offset(self, value: int) -> None:
        self.table.offset[self.idx] = value

    @property
    def length(self) -> int:
        """``sg->length``."""
        return self.table.length[self.idx]

    @length.setter
    def length(self, value: int) -> None:
        self.table.length[self.idx] = value

    @property
    def dma_address(self) -> int:
        """``sg->dma_address``."""
        return self.table.dma_address[self.idx]

    @dma_address.setter
    def dma_address(self, value: int) -> None:
        self.table.dma_address[self.idx] = value

    @property
    def dma_length(self) -> int:
        """``sg->dma_length``."""
        return self.table.dma_length[self.idx]

    @dma_length.setter
    def dma_length(self, value: int) -> None:
        self.table.dma_length[self.idx] = value

    @property
    def next(self) -> Scatterlist | None:
        """The next entry of the chain (``sg_next``), None after the last allocated one."""
        return sg_next(self)

    def phys(self) -> int:
        """``sg_phys``."""
        return self.page + self.offset

    def __repr__(self) -> str:
        return (
            f"<sg page={self.page:#x}+{self.offset:#x} len={self.length} "
            f"dma={self.dma_address:#x}/{self.dma_length}>"
        )


def sg_alloc_table(table: SgTable, nents: int, kernel: Kernel | None = None) -> int:
    """``sg_alloc_table(table, nents, gfp)``: ``nents`` chained, zeroed entries; 0 or -EINVAL."""
    if nents <= 0:
        return -EINVAL
    if kernel is not None:
        charge_op(kernel, "sg_alloc_entry", nents)
    zeros = [0] * nents
    table.page = zeros
    table.offset = zeros.copy()
    table.length = zeros.copy()
    table.dma_address = zeros.copy()
    table.dma_length = zeros.copy()
    table._entries = None
    table.nents = table.orig_nents = nents
    return 0


def sg_free_table(table: SgTable) -> None:
    """``sg_free_table``."""
    table.page, table.offset, table.length = [], [], []
    table.dma_address, table.dma_length = [], []
    table._entries = None
    table.nents = table.orig_nents = 0


def sg_next(sg: Scatterlist) -> Scatterlist | None:
    """``sg_next``: the next entry of the chain, None after the last allocated one."""
    table, i = sg
    i += 1
    if i >= len(table.page):
        return None
    e = table._entries  # the kept cursor if the entries were made, else an equal new one
    return e[i] if e is not None else Scatterlist((table, i))


def sg_set_page(sg: Scatterlist, page: int, length: int, offset: int) -> None:
    """``sg_set_page``: ``page`` is the page's physical address."""
    t, i = sg
    t.page[i] = page
    t.offset[i] = offset
    t.length[i] = length


def sg_set_folio(
    sg: Scatterlist, folio: Folio, length: int, offset: int, kernel: Kernel | None = None
) -> None:
    """``sg_set_folio``: an entry covering ``length`` bytes of ``folio`` from ``offset``."""
    if kernel is not None:
        charge_op(kernel, "sg_set_entry")
    sg_set_page(sg, folio.phys, length, offset)


def sg_set_folios(sgt: SgTable, folios: Sequence[Folio], kernel: Kernel | None = None) -> None:
    """The loop ``for_each_sgtable_sg(sgt, sg, i) sg_set_folio(sg, folios[i],
    folio_size(folios[i]), 0)`` over the first ``len(folios)`` entries, as one pass over
    the table's lists: the same entries, and the same ``sg_set_entry`` count and cycles
    charged as one ``cpu.op`` of that count (nothing else runs between the kernel's
    per-entry charges, so only the number of CPU-model calls changes)."""
    n = len(folios)
    if n > len(sgt.page):
        raise IndexError(f"{n} folios for a table of {len(sgt.page)} entries")
    if kernel is not None:
        charge_op(kernel, "sg_set_entry", n)
    sgt.page[:n] = [f.phys for f in folios]  # page_to_phys(folio_page(folio, 0))
    sgt.offset[:n] = [0] * n
    sizes = _FOLIO_SIZES
    sgt.length[:n] = [sizes[f.order] for f in folios]  # folio_size(folio)


def sg_dma_address(sg: Scatterlist) -> int:
    """``sg_dma_address``."""
    table, i = sg
    return table.dma_address[i]


def sg_dma_len(sg: Scatterlist) -> int:
    """``sg_dma_len``."""
    table, i = sg
    return table.dma_length[i]


def _first_entries(sgt: SgTable, n: int) -> list[Scatterlist]:
    """Cursors on the table's first ``n`` entries: the kept ones if ``entries`` was made,
    else just these ``n`` (equal tuples), not a cursor for every allocated entry (a merged
    DMA table walks a few segments of a table of thousands of page entries)."""
    e = sgt._entries
    if e is not None:
        return e[:n]
    return list(map(Scatterlist, zip(repeat(sgt), range(min(n, len(sgt.page))))))


def for_each_sgtable_sg(sgt: SgTable) -> Iterator[tuple[int, Scatterlist]]:
    """``for_each_sgtable_sg``: every CPU entry (``orig_nents``)."""
    yield from enumerate(_first_entries(sgt, sgt.orig_nents))


def for_each_sgtable_dma_sg(sgt: SgTable) -> Iterator[tuple[int, Scatterlist]]:
    """``for_each_sgtable_dma_sg``: every DMA segment (``nents``)."""
    yield from enumerate(_first_entries(sgt, sgt.nents))
