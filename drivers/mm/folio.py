"""struct folio: the unit the migration core moves (include/linux/mm_types.h, page-flags.h).

A folio is 2^order physically contiguous base pages on one node. The port keeps exactly the
fields migration reads and writes, in ``__slots__`` so a million folios stay cheap: no per-page
objects exist beyond the folio itself. Folio lists (``struct list_head`` of ``folio->lru``)
are plain Python lists in list order.
"""

from __future__ import annotations

from typing import Any

from emulator.frame_allocator import PAGE_SHIFT, PAGE_SIZE

HPAGE_PMD_ORDER = 9  # x86-64 with 4 KiB pages: a PMD maps 2 MiB
HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER
HPAGE_PUD_ORDER = 18
HPAGE_PUD_NR = 1 << HPAGE_PUD_ORDER  # 262144 base pages = 1 GiB (v2/v3 8/9 test patch)

# migrate_info bits (linux-design §5.2; v5 1/7 and 2/7, v6 FOLIO_CONTENT_COPIED).
FOLIO_WAS_MAPPED = 1 << 0
FOLIO_WAS_MLOCKED = 1 << 1
FOLIO_CONTENT_COPIED = 1 << 2
# Older names (v6.8 mm/migrate.c: PAGE_WAS_MAPPED / PAGE_WAS_MLOCKED kept in dst->private).
PAGE_WAS_MAPPED = FOLIO_WAS_MAPPED
PAGE_WAS_MLOCKED = FOLIO_WAS_MLOCKED

# Page flags (enum pageflags), as bits of ``Folio.flags``.
PG_locked = 1 << 0
PG_referenced = 1 << 1
PG_uptodate = 1 << 2
PG_dirty = 1 << 3
PG_lru = 1 << 4
PG_active = 1 << 5
PG_workingset = 1 << 6
PG_private = 1 << 7
PG_writeback = 1 << 8
PG_swapbacked = 1 << 9
PG_unevictable = 1 << 10
PG_mlocked = 1 << 11
PG_hwpoison = 1 << 12
PG_isolated = 1 << 13  # movable_ops isolation (PG_isolated aliases PG_reclaim in C)
PG_movable_ops = 1 << 14  # __PageMovable(): a non-LRU page with movable_operations
PG_head = 1 << 15  # large folio
PG_anon_exclusive = 1 << 16

# Flags folio_migrate_flags() copies from src to dst (mm/migrate.c).
MIGRATE_COPIED_FLAGS = (
    PG_referenced
    | PG_uptodate
    | PG_dirty
    | PG_active
    | PG_workingset
    | PG_swapbacked
    | PG_unevictable
    | PG_mlocked
)


class Folio:
    """One folio: physical placement, page flags, mapping, counts and migration state.

    ``refcount`` follows the kernel's convention: one reference per mapping for anonymous
    memory, ``nr_pages`` for the page cache plus one per mapping for files, one per isolation
    (``folio_isolate_lru``) and one per extra pin (GUP, a racing reader...). ``mappers`` is the
    reverse map: the (mm, vaddr) pairs where the whole folio is (or, under a migration entry,
    was) mapped; ``mapcount`` counts the live (present) mappings.
    """

    __slots__ = (
        "__weakref__",
        "flags",
        "hugetlb",
        "index",
        "mapcount",
        "mappers",
        "mapping",
        "migrate_info",
        "nid",
        "order",
        "phys",
        "private",
        "refcount",
    )

    def __init__(
        self,
        phys: int,
        order: int = 0,
        nid: int = 0,
        flags: int = 0,
        mapping: Any = None,
        index: int = 0,
        refcount: int = 1,
        hugetlb: bool = False,
    ) -> None:
        self.phys = phys
        self.order = order
        self.nid = nid
        self.flags = flags | (PG_head if order else 0)
        self.mapping = mapping
        self.index = index
        self.refcount = refcount
        self.mapcount = 0
        self.private: Any = None
        self.migrate_info = 0
        self.hugetlb = hugetlb
        self.mappers: list[tuple[Any, int]] = []

    @property
    def nr_pages(self) -> int:
        """``folio_nr_pages()``."""
        return 1 << self.order

    @property
    def size(self) -> int:
        """``folio_size()`` in bytes."""
        return PAGE_SIZE << self.order

    @property
    def pfn(self) -> int:
        """``folio_pfn()``."""
        return self.phys >> PAGE_SHIFT

    def __repr__(self) -> str:
        return (
            f"Folio({self.phys:#x}, order={self.order}, nid={self.nid}, "
            f"ref={self.refcount}, map={self.mapcount}, flags={self.flags:#x})"
        )


# ----------------------------------------------------------------- kernel-named helpers
def folio_size(f: Folio) -> int:
    """Bytes in the folio (``folio_size``)."""
    return PAGE_SIZE << f.order


def folio_nr_pages(f: Folio) -> int:
    """Base pages in the folio (``folio_nr_pages``)."""
    return 1 << f.order


def folio_order(f: Folio) -> int:
    """``folio_order``."""
    return f.order


def folio_nid(f: Folio) -> int:
    """Node of the folio's memory (``folio_nid``)."""
    return f.nid


def folio_test_hugetlb(f: Folio) -> bool:
    """True for a hugetlbfs folio (never batched by migrate_pages)."""
    return f.hugetlb


def folio_test_large(f: Folio) -> bool:
    """True for a folio of more than one page."""
    return f.order > 0


def folio_test_pmd_mappable(f: Folio) -> bool:
    """True for a PMD-sized (THP) folio (``folio_test_pmd_mappable``)."""
    return f.order >= HPAGE_PMD_ORDER


def folio_has_private(f: Folio) -> bool:
    """True when filesystem private data is attached (``folio_has_private``)."""
    return bool(f.flags & PG_private)


def folio_ref_count(f: Folio) -> int:
    """``folio_ref_count``."""
    return f.refcount


def folio_mapcount(f: Folio) -> int:
    """Number of present mappings (whole-folio granularity in this port)."""
    return f.mapcount


def folio_mapped(f: Folio) -> bool:
    """``folio_mapped``."""
    return f.mapcount > 0


def folio_get(f: Folio) -> None:
    """Take a reference (``folio_get``)."""
    f.refcount += 1


def folio_try_get(f: Folio) -> bool:
    """Take a reference unless the folio is being freed (``folio_try_get``)."""
    if f.refcount <= 0:
        return False
    f.refcount += 1
    return True


def folio_test_anon(f: Folio) -> bool:
    """True for anonymous memory (``folio_test_anon``: mapping tagged PAGE_MAPPING_ANON)."""
    return bool(getattr(f.mapping, "anon", False))


def folio_mapping(f: Folio) -> Any:
    """The page-cache ``address_space``, or None for anonymous / unmapped folios."""
    m = f.mapping
    if m is None or getattr(m, "anon", False):
        return None
    return m


def folio_test_locked(f: Folio) -> bool:
    """``folio_test_locked``."""
    return bool(f.flags & PG_locked)


def folio_test_lru(f: Folio) -> bool:
    """``folio_test_lru``."""
    return bool(f.flags & PG_lru)


def folio_test_movable(f: Folio) -> bool:
    """``__folio_test_movable``: a non-LRU page with movable_operations."""
    return bool(f.flags & PG_movable_ops)


def folio_test_mlocked(f: Folio) -> bool:
    """``folio_test_mlocked``."""
    return bool(f.flags & PG_mlocked)


def folio_test_hwpoison(f: Folio) -> bool:
    """``folio_test_hwpoison``: a machine check hit this folio; copies fault."""
    return bool(f.flags & PG_hwpoison)


def folio_page_phys(f: Folio, i: int = 0) -> int:
    """Physical address of base page ``i`` of the folio (``page_to_phys(folio_page(f, i))``)."""
    if not 0 <= i < (1 << f.order):
        raise IndexError(f"page {i} outside folio of {1 << f.order} pages")
    return f.phys + (i << PAGE_SHIFT)
