"""Reverse mapping for migration (mm/rmap.c, mm/migrate.c, mm/huge_memory.c).

``try_to_migrate`` replaces every mapping of a folio with migration entries,
``remove_migration_ptes`` turns them back into present entries for the new (or, on
undo, the old) folio, ``try_to_unmap_flush`` performs the one deferred TLB flush of a
batch (``TTU_BATCH_FLUSH``), and ``split_folio_to_list`` splits a large folio into base
pages (the -ENOMEM fallback of migrate_pages_batch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator.frame_allocator import PAGE_SHIFT, PAGE_SIZE

from . import cost
from .errno import EAGAIN, EBUSY
from .folio import (
    HPAGE_PMD_NR,
    HPAGE_PMD_ORDER,
    Folio,
    PG_head,
    PG_locked,
    PG_lru,
    PG_mlocked,
)
from .mm import VM_LOCKED, Mm, Pte

if TYPE_CHECKING:
    from drivers.kernel import Kernel

TTU_BATCH_FLUSH = 1 << 0  # enum ttu_flags
TTU_RMAP_LOCKED = 1 << 1
_TLB_PENDING = "tlb_ubc_flush_required"  # current->tlb_ubc.flush_required


def try_to_migrate(
    kernel: Kernel, folio: Folio, flags: int = 0, acc: cost.Charges | None = None
) -> None:
    """Replace every present mapping of ``folio`` with a migration entry (``try_to_migrate``).

    Each mapping drops its folio reference and mapcount. With ``TTU_BATCH_FLUSH`` the TLB
    flush is deferred to ``try_to_unmap_flush``; otherwise it is done (charged) now.
    ``acc``: the caller's ``cost.charges`` (looked up here when not given).
    """
    n = 0
    order = folio.order
    for mm, va in folio.mappers:
        unmapped = False
        if order == 0:
            e = mm.ptes.get(va >> PAGE_SHIFT)
            if e is not None and e.folio is folio and not e.migration:
                e.migration = True
                unmapped = True
        else:
            for e in mm.entries(va, folio):
                if e.folio is folio and not e.migration:
                    e.migration = True
                    unmapped = True
        if unmapped:
            n += 1
            if mm.nr_locked_vmas:
                vma = mm.find_vma(va)
                if vma is not None and vma.flags & VM_LOCKED:
                    folio.flags |= PG_mlocked
    folio.mapcount -= n
    folio.refcount -= n
    if n:
        if acc is None:
            acc = cost.charges(kernel)
        acc["unmap_per_mapping"] += n
        if flags & TTU_BATCH_FLUSH:
            proc = kernel.sim._current  # sim.current without the property call
            if proc is not None:
                proc.data[_TLB_PENDING] = True
            else:
                acc["tlb_flush_single"] += 1
        else:
            acc["tlb_flush_single"] += 1


def try_to_unmap_flush(kernel: Kernel) -> None:
    """``try_to_unmap_flush``: one TLB shootdown for everything unmapped with TTU_BATCH_FLUSH."""
    proc = kernel.sim.current
    if proc is not None and proc.data.get(_TLB_PENDING):
        proc.data[_TLB_PENDING] = False
        cost.op(kernel, "tlb_flush_batch")


def remove_migration_ptes(
    kernel: Kernel, src: Folio, dst: Folio, locked: bool = False,
    acc: cost.Charges | None = None,
) -> None:
    """Turn the migration entries naming ``src`` into present entries mapping ``dst``
    (``dst is src`` on undo). The rmap moves to ``dst``; each mapping takes a reference.
    ``acc``: the caller's ``cost.charges`` (looked up here when not given)."""
    mappers = src.mappers
    if mappers and kernel.subsystem(Mm).folio_has_waiters(src):
        cost.flush(kernel)  # restore at the right time for tasks waiting on this folio
    n = 0
    order = src.order
    for mm, va in mappers:
        restored = False
        if order == 0:
            e = mm.ptes.get(va >> PAGE_SHIFT)
            if e is not None and e.migration and e.folio is src:
                e.folio = dst
                e.migration = False
                restored = True
        else:
            for e in mm.entries(va, src):
                if e.migration and e.folio is src:
                    e.folio = dst
                    e.migration = False
                    restored = True
        if restored:
            n += 1
    dst.mapcount += n
    dst.refcount += n
    if dst is not src:
        dst.mappers = mappers
        src.mappers = []
    if n:
        if acc is None:
            acc = cost.charges(kernel)
        acc["pte_restore_per_mapping"] += n


def can_split_folio(folio: Folio) -> bool:
    """``can_split_folio``: no references beyond mappings, page cache and the caller's."""
    cache = folio.nr_pages if folio.mapping is not None and not folio.mapping.anon else 0
    return folio.refcount == folio.mapcount + cache + 1


def _split_frames(kernel: Kernel, folio: Folio) -> None:
    """Re-register the folio's frame block as order-0 pages in the node's allocator
    (``split_page``)."""
    kernel.platform.frames[folio.nid].split_block(folio.phys)


def split_folio_to_list(kernel: Kernel, folio: Folio, lst: list[Folio] | None) -> int:
    """Split a (locked, isolated) large folio into order-0 folios (``split_folio_to_list``).

    The head stays this ``Folio`` object (now order 0); tails are new folios appended to
    ``lst`` with an isolation reference each, mapped by PTEs where the folio was mapped and
    entered into the page cache in its place. Returns 0, -EBUSY (hugetlb, unsplittable) or
    -EAGAIN (extra references).
    """
    if folio.hugetlb or folio.order == 0:
        return -EBUSY
    if not can_split_folio(folio):
        return -EAGAIN
    cost.op(kernel, "split_folio")
    nr = folio.nr_pages
    mapping = folio.mapping
    is_file = mapping is not None and not mapping.anon
    flags = folio.flags & ~(PG_head | PG_locked)
    subs: list[Folio] = [folio]
    for i in range(1, nr):
        t = Folio(folio.phys + i * PAGE_SIZE, 0, folio.nid, flags=flags, mapping=mapping,
                  index=folio.index + i)
        subs.append(t)
    _split_frames(kernel, folio)
    mappers = folio.mappers
    folio.order = 0
    folio.flags &= ~PG_head
    for s in subs:
        s.mappers = []
        s.mapcount = 0
    for mm, va in mappers:
        vpn = va // PAGE_SIZE
        pmd = mm.pmds.pop(vpn >> HPAGE_PMD_ORDER, None) if nr == HPAGE_PMD_NR else None
        for i, s in enumerate(subs):
            old = pmd if pmd is not None else mm.ptes.get(vpn + i)
            write = old.write if old is not None else True
            e = Pte(s, 0, write)
            e.migration = old.migration if old is not None else False
            mm.ptes[vpn + i] = e
            s.mappers.append((mm, va + i * PAGE_SIZE))
            if not e.migration:
                s.mapcount += 1
    for s in subs:
        s.refcount = s.mapcount + (1 if is_file else 0) + 1
        if is_file:
            mapping.i_pages[s.index] = s
    if lst is not None:
        for t in subs[1:]:
            t.flags &= ~PG_lru
            lst.append(t)
    return 0
