"""Folio content copies on the CPU (mm/util.c folio_copy/folio_mc_copy, seed patch 2/5
folios_copy, v2/v3 folios_mc_copy, v6 migrate_folios_mc_copy).

Bytes move with numpy through ``kernel.cpu.copy``/``copy_many``; the time comes from the
NUMA model (core rate, CCD port, node memory, inter-socket link). A list copy is one
``copy_many`` call, never a Python loop over bytes. A source folio flagged ``PG_hwpoison``
models a machine check: the ``_mc_`` variants return ``-EHWPOISON`` for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errno import EHWPOISON
from .folio import FOLIO_CONTENT_COPIED, Folio, PG_hwpoison

if TYPE_CHECKING:
    from drivers.kernel import Kernel


def _check_pair(dst: Folio, src: Folio) -> None:
    if dst.order != src.order:
        raise ValueError(f"folio copy between orders {src.order} and {dst.order}")


def folio_copy(kernel: Kernel, dst: Folio, src: Folio) -> None:
    """Copy one folio's content (``folio_copy``: copy_highpage per page, cond_resched)."""
    _check_pair(dst, src)
    kernel.cpu.copy(dst.phys, src.phys, src.size, what="folio_copy")


def folio_mc_copy(kernel: Kernel, dst: Folio, src: Folio) -> int:
    """Machine-check safe copy (``folio_mc_copy``): 0, or -EHWPOISON if the source faults."""
    _check_pair(dst, src)
    if src.flags & PG_hwpoison:
        kernel.cpu.op("copy_mc_fault")
        return -EHWPOISON
    kernel.cpu.copy(dst.phys, src.phys, src.size, what="folio_copy")
    return 0


def _copy_run(kernel: Kernel, dst_list: list[Folio], src_list: list[Folio], n: int) -> None:
    """One timed ``copy_many`` over the first ``n`` pairs, with a cond_resched per folio."""
    if n <= 0:
        return
    dsts = [d.phys for d in dst_list[:n]]
    srcs = [s.phys for s in src_list[:n]]
    sizes = [s.size for s in src_list[:n]]
    for d, s in zip(dst_list[:n], src_list[:n], strict=True):
        if d.order != s.order:
            _check_pair(d, s)
    kernel.cpu.op("cond_resched", n)
    kernel.cpu.copy_many(dsts, srcs, sizes, what="folio_copy")


def folios_copy(kernel: Kernel, dst_list: list[Folio], src_list: list[Folio]) -> None:
    """Seed patch 2/5 ``folios_copy``: lockstep walk, ``cond_resched(); folio_copy()`` per pair.

    Assumes non-empty lists of equal length (as the C code does); may sleep; no return value.
    """
    if len(dst_list) != len(src_list):
        raise ValueError(f"folios_copy: {len(dst_list)} dst folios for {len(src_list)} src")
    _copy_run(kernel, dst_list, src_list, len(src_list))


def _first_poisoned(src_list: list[Folio], n: int) -> int:
    for i in range(n):
        if src_list[i].flags & PG_hwpoison:
            return i
    return n


def folios_mc_copy(
    kernel: Kernel, dst_list: list[Folio], src_list: list[Folio], folio_cnt: int
) -> int:
    """v2/v3 ``folios_mc_copy``: copy ``folio_cnt`` pairs; returns the first folio_mc_copy error."""
    n = min(folio_cnt, len(src_list), len(dst_list))
    bad = _first_poisoned(src_list, n)
    _copy_run(kernel, dst_list, src_list, bad)
    if bad < n:
        kernel.cpu.op("copy_mc_fault")
        return -EHWPOISON
    return 0


def migrate_folios_mc_copy(
    kernel: Kernel, dst_list: list[Folio], src_list: list[Folio], folio_cnt: int
) -> int:
    """v6 ``migrate_folios_mc_copy`` (mm/migrate.c): the default batch copy of the latest core.

    Copies pair by pair with ``cond_resched()``, marks each copied dst ``FOLIO_CONTENT_COPIED``
    and stops at the first error, which it returns; marked folios are not copied again.
    """
    n = min(folio_cnt, len(src_list), len(dst_list))
    bad = _first_poisoned(src_list, n)
    _copy_run(kernel, dst_list, src_list, bad)
    for d in dst_list[:bad]:
        d.migrate_info |= FOLIO_CONTENT_COPIED
    if bad < n:
        kernel.cpu.op("copy_mc_fault")
        return -EHWPOISON
    return 0
