"""The page-migration core (mm/migrate.c) in four kernel flavours, with t1..t4 records.

Flavours (``MigrationConfig.flavour``):

- ``generic``: v6.8 upstream. migrate_pages() cuts the list into batches of
  NR_MAX_BATCHED_MIGRATION base pages; migrate_pages_batch() unmaps a batch, does one TLB
  flush, then moves folio by folio (metadata, copy, PTE restore) in
  ``migrate_folios_move`` (patch 1/5's split of the loop, no functional change).
- ``seed``: RFC v1 (linux-design §2): ``migrate_folios_batch_move`` after the flush, ASYNC
  only, metadata loop in MIGRATE_SYNC_NO_COPY with a kmalloc'ed ``migrate_folio_info`` per
  folio, one batch copy through the seed registry's static call (``MigratorRegistry``), a
  finalize loop, -EAGAIN pairs spliced back for the per-folio CPU loop. The kmalloc-break
  bug is kept behind ``seed_kmalloc_break``.
- ``v3``: RFC v2/v3 4/9..6/9: the batch move in every mode, dst->private stashed in
  src->private (no kmalloc), copy via the "offc" registry (``folios_mc_copy`` default),
  serial ``folio_mc_copy`` fallback on a batch error.
- ``latest``: v6 / dev tree (§5.2): after the flush, the eligible folios (offload key on,
  reason in the mask, expected refcount, not movable_ops) are copied in one
  ``migrate_offload_batch_copy``; the move phase then runs ``migrate_folios_move`` over the
  batch and standard lists and skips the copy of a dst marked ``FOLIO_CONTENT_COPIED``
  (consumed on first read).

Every call of ``migrate_pages`` appends a ``MigrateRecord`` (t1 entry, t4 exit, t2 first
copy start, t3 last copy end, ``copy_ps`` the sum of all copy sections) to
``MigrateCore.records``; ``F = copy_ps / (t4 - t1)``.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from emulator.frame_allocator import PAGE_SHIFT, OutOfMemory

from . import cost
from . import trace as mm_trace
from .errno import EAGAIN, EBUSY, EIO, ENOMEM, EOPNOTSUPP
from .folio import (
    FOLIO_CONTENT_COPIED,
    FOLIO_WAS_MAPPED,
    FOLIO_WAS_MLOCKED,
    HPAGE_PMD_ORDER,
    MIGRATE_COPIED_FLAGS,
    Folio,
    PG_active,
    PG_dirty,
    PG_hwpoison,
    PG_isolated,
    PG_locked,
    PG_lru,
    PG_mlocked,
    PG_movable_ops,
    PG_private,
    PG_swapbacked,
    PG_unevictable,
    PG_uptodate,
    PG_writeback,
    folio_mapping,
    folio_test_anon,
)
from .folio_copy import folio_mc_copy
from .migrate_copy_offload import MigrateCopyOffload
from .migrate_dma import MigratorRegistry
from .migrate_mode import (
    MIGRATE_ASYNC,
    MIGRATE_SYNC,
    MIGRATE_SYNC_LIGHT,
    MIGRATE_SYNC_NO_COPY,
    MR_LONGTERM_PIN,
    MR_MEMORY_FAILURE,
    MR_NUMA_MISPLACED,
    MigrateMode,
    MigrateReason,
)
from .mm import NUMA_NO_NODE, AnonVma, Mm
from .rmap import (
    _TLB_PENDING,
    TTU_BATCH_FLUSH,
    remove_migration_ptes,
    split_folio_to_list,
    try_to_migrate,
    try_to_unmap_flush,
)

if TYPE_CHECKING:
    from drivers.kernel import Kernel

# Flags that take a folio off _unmap_anon_fast: locked (trylock fails), movable_ops,
# writeback (-EBUSY in MIGRATE_ASYNC), mlocked (old state FOLIO_WAS_MLOCKED).
_UNMAP_FAST_EXCLUDED = PG_locked | PG_movable_ops | PG_writeback | PG_mlocked

# Charges of one folio through _unmap_anon_fast: alloc_migration_target, two folio_trylock,
# folio_get_anon_vma, try_to_migrate of one mapping (its TLB flush deferred: TTU_BATCH_FLUSH).
_UNMAP_FAST_CHARGES = (("alloc_dst_folio", 1), ("folio_lock", 2), ("anon_vma_ref", 1),
                       ("unmap_per_mapping", 1))
# ... through _finalize_success_fast: folio_add_lru, remove_migration_ptes of one mapping,
# folio_put(dst), migrate_folio_done; and _finalize_anon_fast adds _move_to_new_folio_finalize.
_FINALIZE_SUCCESS_CHARGES = (("lru_add", 1), ("pte_restore_per_mapping", 1), ("folio_put", 1),
                             ("migrate_folio_done", 1))
_FINALIZE_FAST_CHARGES = (("flush_dcache_folio", 1), *_FINALIZE_SUCCESS_CHARGES)


def _charge_fast(acc: cost.Charges, charges: tuple[tuple[str, int], ...], n: int) -> None:
    """Add the charges of ``n`` folios that took a fast path (no flush can happen in
    between, so adding them per loop instead of per folio changes no simulated time)."""
    for name, k in charges:
        acc[name] += k * n


MIGRATEPAGE_SUCCESS = 0
MIGRATEPAGE_UNMAP = 1

NR_MAX_MIGRATE_PAGES_RETRY = 10
NR_MAX_MIGRATE_ASYNC_RETRY = 3
NR_MAX_MIGRATE_SYNC_RETRY = NR_MAX_MIGRATE_PAGES_RETRY - NR_MAX_MIGRATE_ASYNC_RETRY

FLAVOURS = ("generic", "seed", "v3", "latest")
GC_PAUSE_FOLIOS = 4096  # migrate_pages() calls this large defer full GC collections ...
GC_PAUSE_THRESHOLD2 = 1_000_000  # ... by this generation-2 threshold while they run
_GC_PAUSED_KEY = "migrate_gc_paused"  # proc.data: the collector is off outside copies
_GC_FROZEN_KEY = "migrate_gc_frozen"  # proc.data: gc.freeze() ran at a copy's start

GetNewFolio = Callable[[Folio, Any], "Folio | None"]
Charges = cost.Charges  # cost.charges(kernel): the pending named CPU charges
PutNewFolio = Callable[[Folio, Any], None]


@dataclass(frozen=True)
class MigrationConfig:
    """Which kernel the migration core behaves as (linux-design §8 port switches)."""

    flavour: str = "generic"  # generic | seed | v3 | latest
    nr_max_batched_migration: int = 512  # NR_MAX_BATCHED_MIGRATION; 262144 = v2/v3 8/9
    batch_modes: str | None = None  # "async" | "all"; None: seed -> async, v3 -> all
    seed_kmalloc_break: bool = True  # v1 as posted: a kmalloc failure breaks loop 1
    thp_migration_supported: bool = True  # x86-64: CONFIG_ARCH_ENABLE_THP_MIGRATION

    def __post_init__(self) -> None:
        if self.flavour not in FLAVOURS:
            raise ValueError(f"unknown flavour {self.flavour!r}; one of {FLAVOURS}")
        if self.nr_max_batched_migration < 1:
            raise ValueError("nr_max_batched_migration must be >= 1")
        if self.batch_modes not in (None, "async", "all"):
            raise ValueError("batch_modes is 'async', 'all' or None")

    @property
    def batch_all_modes(self) -> bool:
        """True when the batch move also runs outside MIGRATE_ASYNC (v2 6/9 onwards)."""
        if self.batch_modes is not None:
            return self.batch_modes == "all"
        return self.flavour == "v3"


@dataclass
class MigratePagesStats:
    """``struct migrate_pages_stats``."""

    nr_succeeded: int = 0
    nr_failed_pages: int = 0
    nr_thp_succeeded: int = 0
    nr_thp_failed: int = 0
    nr_thp_split: int = 0
    nr_split: int = 0


@dataclass
class MigrateRecord:
    """The seed's instrumentation of one migrate_pages() call, in simulated ps.

    t1 entry, t4 exit; t2 start of the first folio copy, t3 end of the last; ``copy_ps`` sums
    every copy section (per folio in the generic path, the batch copy in batch paths, plus
    any per-folio CPU fallback), so ``F = copy_ps / (t4 - t1)``.
    """

    t1: int
    flavour: str
    config: MigrationConfig
    mode: int
    reason: int
    nr_folios: int
    nr_pages: int
    migrator: str = "kernel"
    t2: int | None = None
    t3: int | None = None
    t4: int = 0
    copy_ps: int = 0
    copy_sections: int = 0
    copied_pages: int = 0
    rc: int = 0
    stats: MigratePagesStats = field(default_factory=MigratePagesStats)

    @property
    def total_ps(self) -> int:
        """t4 - t1."""
        return self.t4 - self.t1

    @property
    def F(self) -> float:
        """Copy fraction ``(t3 - t2) / (t4 - t1)`` with t3 - t2 summed over copy sections."""
        return self.copy_ps / self.total_ps if self.total_ps else 0.0

    def cycles_per_page(self, cpu_freq_hz: int = 2_000_000_000) -> tuple[float, float]:
        """(migrate_pages, folio_copy) cycles per requested base page, as in the seed table."""
        n = max(1, self.nr_pages)
        scale = cpu_freq_hz / 1e12
        return self.total_ps * scale / n, self.copy_ps * scale / n


@dataclass
class MigrationTargetControl:
    """``struct migration_target_control``."""

    nid: int = NUMA_NO_NODE
    nmask: frozenset[int] | None = None
    reason: int = 0


class _Counters:
    """The ``*retry, *thp_retry, *nr_failed, *nr_retry_pages`` out-parameters."""

    __slots__ = ("nr_failed", "nr_retry_pages", "retry", "thp_retry")

    def __init__(self) -> None:
        self.retry = 0
        self.thp_retry = 0
        self.nr_failed = 0
        self.nr_retry_pages = 0


def _is_thp(f: Folio) -> int:
    # folio_test_large(f) and folio_test_pmd_mappable(f): order > 0 and order >= PMD order
    return 1 if f.order >= HPAGE_PMD_ORDER else 0


class MigrateCore:
    """mm/migrate.c for one kernel: configuration, records, vm events, fault injection."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.mm = kernel.subsystem(Mm)
        self.config = MigrationConfig()
        self.records: list[MigrateRecord] = []
        self.vm_events: Counter[str] = Counter()
        # Fault injection (failslab / fail_page_alloc / a racing reference):
        self.alloc_fault: Callable[[Folio], bool] | None = None  # True: dst alloc fails
        self.kmalloc_fault: Callable[[int], bool] | None = None  # arg: kmalloc call number
        self.ref_freeze_fault: Callable[[Folio], bool] | None = None  # True: freeze fails
        self.kmalloc_calls = 0
        self.bug_events: list[str] = []  # consequences of faithful bugs, for tests/reports
        self._registry: MigratorRegistry | None = None  # looked up once, on first use
        # Emulator speed: the common anonymous order-0 case of the unmap, prep and finalize
        # loops in one step each (``_unmap_anon_fast`` and siblings; same state and charges
        # as the general functions, compared by tests/mm/test_mm_batch_fast.py).
        self.fast_paths = True
        self._unlocked_mm: Any = None  # an mm _unmap_anon_fast found without VM_LOCKED VMAs

    # ------------------------------------------------------------------ configuration
    def configure(self, config: MigrationConfig | None = None, **changes: Any) -> MigrationConfig:
        """Select the kernel flavour (and batch limit): ``configure(flavour="seed")``."""
        cfg = config or self.config
        if changes:
            cfg = replace(cfg, **changes)
        self.config = cfg
        self.kernel.subsystem(MigratorRegistry).offc = cfg.flavour == "v3"
        return cfg

    @property
    def registry(self) -> MigratorRegistry:
        """The seed / offc registry (flavours seed and v3)."""
        reg = self._registry
        if reg is None:
            reg = self._registry = self.kernel.subsystem(MigratorRegistry)
        return reg

    @property
    def offload(self) -> MigrateCopyOffload:
        """The latest copy-offload registry (flavour latest)."""
        return self.kernel.subsystem(MigrateCopyOffload)

    # ------------------------------------------------------------------ instrumentation
    def _record(self) -> MigrateRecord | None:
        proc = self.kernel.sim.current
        if proc is None:
            return None
        rec: MigrateRecord | None = proc.data.get("migrate_record")
        return rec

    def _copy_begin(self) -> int:
        cost.flush(self.kernel)
        proc = self.kernel.sim._current
        if proc is not None and proc.data.get(_GC_PAUSED_KEY):
            # The loops before left their long-lived objects (dst folios, records) in the
            # young generation, uncollected: the first collections would scan them all
            # (0.3 s of a 1 GiB migration). Frozen, they wait in the permanent generation
            # until the call returns (migrate_pages unfreezes them into the oldest one).
            # Not when someone else froze objects: the unfreeze would release theirs too.
            if proc.data.get(_GC_FROZEN_KEY) or gc.get_freeze_count() == 0:
                gc.freeze()
                proc.data[_GC_FROZEN_KEY] = True
            gc.enable()  # copies (DMA descriptors, IRQ processes) leave cyclic garbage
        mm_trace.phase(self.kernel, "copy")
        start = self.kernel.sim.now
        rec = self._record()
        if rec is not None and rec.t2 is None:
            # The first copy of a call runs cold: direct-map TLB misses for both folios and
            # a cold copy routine (preset "copy_cold_start"; seed 4KB rows).
            self.kernel.cpu.op("copy_cold_start")
        return start

    def _copy_end(self, start: int, pages: int) -> None:
        rec = self._record()
        if rec is None:
            proc = self.kernel.sim._current
            if proc is not None and proc.data.get(_GC_PAUSED_KEY):
                gc.disable()
            return
        now = self.kernel.sim.now
        if rec.t2 is None:
            rec.t2 = start
        rec.t3 = now
        rec.copy_ps += now - start
        rec.copy_sections += 1
        rec.copied_pages += pages
        proc = self.kernel.sim._current
        if proc is not None and proc.data.get(_GC_PAUSED_KEY):
            gc.disable()  # back in the migration core's own loops
        mm_trace.phase(self.kernel, "move")

    def _timed_folio_copy(self, dst: Folio, src: Folio) -> int:
        """One per-folio copy (``folio_copy`` / ``folio_mc_copy``) inside a t2/t3 section."""
        t = self._copy_begin()
        rc = folio_mc_copy(self.kernel, dst, src)
        self._copy_end(t, src.nr_pages)
        return rc

    # ------------------------------------------------------------------ allocation
    def alloc_migration_target(self, src: Folio, private: Any) -> Folio | None:
        """``alloc_migration_target``: a folio of src's order on ``mtc.nid`` (or src's node)."""
        mtc: MigrationTargetControl = private
        nid = mtc.nid if mtc.nid != NUMA_NO_NODE else src.nid
        cost.op(self.kernel, "alloc_dst_folio")
        if self.alloc_fault is not None and self.alloc_fault(src):
            return None
        return self.mm.alloc_folio(nid, src.order, hugetlb=src.hugetlb)

    def kmalloc(self) -> bool:
        """A GFP_KERNEL slab allocation (charged); False when failslab injects a failure."""
        n = self.kmalloc_calls
        self.kmalloc_calls += 1
        cost.op(self.kernel, "kmalloc")
        return not (self.kmalloc_fault is not None and self.kmalloc_fault(n))

    # ------------------------------------------------------------------ dst bookkeeping
    def _migrate_folio_record(self, dst: Folio, old_page_state: int, anon_vma: Any) -> None:
        """``__migrate_folio_record``: anon_vma | old state in dst (migrate_info in latest)."""
        if self.config.flavour == "latest":
            dst.migrate_info = (dst.migrate_info & FOLIO_CONTENT_COPIED) | old_page_state
            dst.private = anon_vma
        else:
            dst.private = (anon_vma, old_page_state)

    def _migrate_folio_read(self, f: Folio) -> tuple[int, Any]:
        """``__migrate_folio_read``: (old_page_state, anon_vma) without clearing."""
        private = f.private
        if self.config.flavour == "latest":
            return f.migrate_info & (FOLIO_WAS_MAPPED | FOLIO_WAS_MLOCKED), private
        if isinstance(private, tuple):
            anon_vma, state = private
            return state, anon_vma
        return 0, None

    def _migrate_folio_extract(self, f: Folio) -> tuple[int, Any]:
        """``__migrate_folio_extract``: read and clear (the COPIED marker survives)."""
        private = f.private
        f.private = None
        if self.config.flavour == "latest":
            state = f.migrate_info & (FOLIO_WAS_MAPPED | FOLIO_WAS_MLOCKED)
            f.migrate_info &= FOLIO_CONTENT_COPIED
            return state, private
        if isinstance(private, tuple):  # as _migrate_folio_read
            anon_vma, state = private
            return state, anon_vma
        return 0, None

    # ------------------------------------------------------------------ metadata + copy
    def folio_expected_refs(self, mapping: Any, folio: Folio) -> int:
        """``folio_expected_refs``: 1 (the isolation) + page cache + private."""
        refs = 1
        if mapping is None:
            return refs
        refs += folio.nr_pages
        if folio.flags & PG_private:
            refs += 1
        return refs

    def folio_migrate_mapping(self, mapping: Any, dst: Folio, src: Folio) -> int:
        """``folio_migrate_mapping``: move the page-cache slot and references to dst."""
        if mapping is None:
            if src.refcount != 1:  # folio_expected_refs(None, src): the isolation's
                return -EAGAIN
            dst.index = src.index
            dst.mapping = src.mapping
            if src.flags & PG_swapbacked:
                dst.flags |= PG_swapbacked
            return MIGRATEPAGE_SUCCESS
        expected = self.folio_expected_refs(mapping, src)
        # folio_ref_freeze(src, expected)
        if src.refcount != expected or (
            self.ref_freeze_fault is not None and self.ref_freeze_fault(src)
        ):
            return -EAGAIN
        cost.op(self.kernel, "page_cache_replace")
        nr = src.nr_pages
        dst.index = src.index
        dst.mapping = src.mapping
        dst.refcount += nr
        if src.flags & PG_swapbacked:
            dst.flags |= PG_swapbacked
        if src.flags & PG_dirty:
            src.flags &= ~PG_dirty
            dst.flags |= PG_dirty
        mapping.i_pages[src.index] = dst
        src.refcount = expected - nr  # folio_ref_unfreeze
        return MIGRATEPAGE_SUCCESS

    def folio_migrate_flags(self, dst: Folio, src: Folio) -> None:
        """``folio_migrate_flags``: page flags and ancillary state from src to dst."""
        cost.op(self.kernel, "metadata_copy")
        dst.flags |= src.flags & MIGRATE_COPIED_FLAGS
        src.flags &= ~(PG_active | PG_unevictable)
        src.flags &= ~PG_private
        if not src.hugetlb:
            src.private = None

    def _copy_or_marker(self, dst: Folio, src: Folio) -> int:
        """The latest core's copy step: skip (and consume) FOLIO_CONTENT_COPIED, else copy."""
        if self.config.flavour == "latest" and dst.migrate_info & FOLIO_CONTENT_COPIED:
            dst.migrate_info &= ~FOLIO_CONTENT_COPIED  # consumed on first read
            return 0
        return self._timed_folio_copy(dst, src)

    def __migrate_folio(self, mapping: Any, dst: Folio, src: Folio, mode: int) -> int:
        """``migrate_folio`` / ``filemap_migrate_folio`` / ``__migrate_folio`` per flavour."""
        flavour = self.config.flavour
        if flavour in ("generic", "seed"):
            # v6.8 migrate_folio_extra: mapping first, then copy + flags (or flags only).
            rc = self.folio_migrate_mapping(mapping, dst, src)
            if rc != MIGRATEPAGE_SUCCESS:
                return rc
            if mapping is not None and src.flags & PG_private:
                dst.flags |= PG_private  # folio_attach_private(dst, folio_detach_private(src))
                dst.private, src.private = src.private, None
            if mode != MIGRATE_SYNC_NO_COPY:
                self._timed_folio_copy(dst, src)  # folio_copy cannot fail in v6.8
            self.folio_migrate_flags(dst, src)
            return MIGRATEPAGE_SUCCESS
        # v3 / latest __migrate_folio: check refs, copy (unless NO_COPY / marker), mapping.
        expected = 1 if mapping is None else self.folio_expected_refs(mapping, src)
        if src.refcount != expected:
            return -EAGAIN
        dst_private = dst.private
        if mode == MIGRATE_SYNC_NO_COPY:
            dst.private = None
        else:
            rc = self._copy_or_marker(dst, src)
            if rc:
                return rc
        rc = self.folio_migrate_mapping(mapping, dst, src)
        if rc != MIGRATEPAGE_SUCCESS:
            return rc
        if mapping is not None and src.flags & PG_private:
            dst.flags |= PG_private
            dst.private, src.private = src.private, None
        self.folio_migrate_flags(dst, src)
        if mode == MIGRATE_SYNC_NO_COPY:
            src.private = dst_private  # v3 4/9: stash the record in src (no longer used)
        return MIGRATEPAGE_SUCCESS

    def _writeout(self, mapping: Any, folio: Folio) -> int:
        """``writeout``: clean a dirty folio by writing it back; the migration fails this try."""
        if mapping.writeback_fails:
            return -EIO
        remove_migration_ptes(self.kernel, folio, folio)
        folio.flags &= ~PG_dirty
        cost.op(self.kernel, "writeback_folio")
        return -EAGAIN

    def fallback_migrate_folio(self, mapping: Any, dst: Folio, src: Folio, mode: int) -> int:
        """``fallback_migrate_folio``: no a_ops->migrate_folio."""
        if src.flags & PG_dirty:
            if mode not in (MIGRATE_SYNC, MIGRATE_SYNC_NO_COPY):
                return -EBUSY
            return self._writeout(mapping, src)
        if src.flags & PG_private:
            return -EAGAIN if mode == MIGRATE_SYNC else -EBUSY  # filemap_release_folio fails
        return self.__migrate_folio(mapping, dst, src, mode)

    def _hugetlbfs_migrate_folio(self, mapping: Any, dst: Folio, src: Folio, mode: int) -> int:
        """``hugetlbfs_migrate_folio`` -> ``migrate_huge_page_move_mapping`` + copy."""
        expected = 2 + (1 if src.flags & PG_private else 0)
        if src.refcount != expected:
            return -EAGAIN
        dst.index = src.index
        dst.mapping = src.mapping
        dst.refcount += 1
        mapping.i_pages[src.index] = dst
        src.refcount = expected - 1
        if mode != MIGRATE_SYNC_NO_COPY:
            rc = self._copy_or_marker(dst, src)
            if rc:
                return rc
        self.folio_migrate_flags(dst, src)
        return MIGRATEPAGE_SUCCESS

    def _move_to_new_folio_prep(self, dst: Folio, src: Folio, mode: int) -> int:
        """The metadata (+copy) part of ``move_to_new_folio`` (v2 1/9's _prep)."""
        is_lru = not src.flags & PG_movable_ops
        if self.config.flavour == "v3" and not (
            self._registry or self.registry
        )._can_dma_migrate(dst, src):
            return -EAGAIN  # v2/v3 5/9: static_call(_can_offc_migrate) in _prep
        if is_lru:
            mapping = src.mapping
            if mapping is not None and getattr(mapping, "anon", False):
                mapping = None  # folio_mapping(src): no address_space for anon folios
            if mapping is None:
                return self.__migrate_folio(None, dst, src, mode)
            if mapping.unmovable:
                return -EOPNOTSUPP
            if src.hugetlb:
                return self._hugetlbfs_migrate_folio(mapping, dst, src, mode)
            if mapping.a_ops_migrate in ("filemap", "buffer"):
                return self.__migrate_folio(mapping, dst, src, mode)
            return self.fallback_migrate_folio(mapping, dst, src, mode)
        # movable_ops (non-LRU): the driver's migrate_page copies the page
        if not src.flags & PG_movable_ops:
            src.flags &= ~PG_isolated
            return MIGRATEPAGE_SUCCESS
        if mode != MIGRATE_SYNC_NO_COPY:
            self._timed_folio_copy(dst, src)
        return MIGRATEPAGE_SUCCESS

    def _move_to_new_folio_finalize(
        self, dst: Folio, src: Folio, rc: int, acc: Charges | None = None
    ) -> None:
        """The tail of ``move_to_new_folio`` on success (v2 1/9's _finalize).
        ``acc``: the caller's ``cost.charges`` (looked up when not given)."""
        if rc != MIGRATEPAGE_SUCCESS:
            return
        flags = src.flags
        if flags & PG_movable_ops:
            src.flags = flags & ~PG_isolated
        elif not getattr(src.mapping, "anon", False):  # !folio_test_anon(src)
            src.mapping = None  # !folio_mapping_flags(src)
        if acc is None:
            acc = cost.charges(self.kernel)
        acc["flush_dcache_folio"] += 1

    def move_to_new_folio(
        self, dst: Folio, src: Folio, mode: int, acc: Charges | None = None
    ) -> int:
        """``move_to_new_folio``: metadata and content of src into dst (both locked)."""
        rc = self._move_to_new_folio_prep(dst, src, mode)
        self._move_to_new_folio_finalize(dst, src, rc, acc)
        return rc

    # ------------------------------------------------------------------ undo / done
    def migrate_folio_undo_src(
        self, src: Folio, page_was_mapped: int, anon_vma: Any, locked: bool,
        ret: list[Folio] | None,
    ) -> None:
        """``migrate_folio_undo_src``: restore src's mappings, unlock, move it to ``ret``."""
        if page_was_mapped:
            remove_migration_ptes(self.kernel, src, src)
        if anon_vma is not None:
            anon_vma.refcount -= 1  # put_anon_vma
        if locked:
            self.mm.folio_unlock(src)
        if ret is not None:
            ret.append(src)
        cost.op(self.kernel, "migrate_folio_undo")

    def migrate_folio_undo_dst(
        self, dst: Folio, locked: bool, put_new_folio: PutNewFolio | None, private: Any
    ) -> None:
        """``migrate_folio_undo_dst``: unlock and free the unused destination."""
        if locked:
            self.mm.folio_unlock(dst)
        if put_new_folio is not None:
            put_new_folio(dst, private)
        else:
            self.mm.folio_put(dst)

    def migrate_folio_done(self, src: Folio, reason: int, acc: Charges | None = None) -> None:
        """``migrate_folio_done``: drop the isolation accounting and the last reference."""
        if acc is None:
            acc = cost.charges(self.kernel)
        acc["migrate_folio_done"] += 1
        mm = self.mm
        if not src.flags & PG_movable_ops:
            mm.nr_isolated[src.nid] -= 1 << src.order
        if reason != MR_MEMORY_FAILURE:
            mm.folio_put(src)

    def _finalize_success(
        self, src: Folio, dst: Folio, old_page_state: int, anon_vma: Any, reason: int,
        is_lru: bool = True, acc: Charges | None = None,
    ) -> None:
        """The success tail of ``migrate_folio_move`` (v2's _migrate_folio_move_finalize1/2).
        ``acc``: the caller's ``cost.charges`` (looked up when not given)."""
        kernel = self.kernel
        mm = self.mm
        if acc is None:
            acc = cost.charges(kernel)
        if is_lru and old_page_state == FOLIO_WAS_MAPPED and self.fast_paths and \
                not mm._lock_wq and self._finalize_success_fast(src, dst, anon_vma, reason):
            _charge_fast(acc, _FINALIZE_SUCCESS_CHARGES, 1)
            return
        if is_lru:
            dst.flags |= PG_lru  # folio_add_lru
            acc["lru_add"] += 1
            if old_page_state & FOLIO_WAS_MLOCKED:
                acc["lru_add_drain"] += 1
            if old_page_state & FOLIO_WAS_MAPPED:
                remove_migration_ptes(kernel, src, dst, False, acc)
        mm.folio_unlock(dst)
        acc["folio_put"] += 1
        mm.folio_put(dst)
        if anon_vma is not None:
            anon_vma.refcount -= 1
        mm.folio_unlock(src)
        self.migrate_folio_done(src, reason, acc)

    # ------------------------------------------------------------------ fast paths
    def _unmap_anon_fast(self, src: Folio, nid: int) -> Folio | None:
        """``migrate_folio_unmap`` with ``alloc_migration_target`` and ``try_to_migrate``
        for its common case, in one step: an unlocked LRU anonymous order-0 folio mapped by
        one present PTE of an mm without VM_LOCKED VMAs (the caller checks: MIGRATE_ASYNC,
        get_new_folio is alloc_migration_target without alloc_fault, not "latest").

        Returns the locked dst with the record stashed (MIGRATEPAGE_UNMAP), having made the
        same changes as the general path; the caller adds the charges (_UNMAP_FAST_CHARGES
        each) and the deferred TLB flush. None, having done nothing, when the folio is not
        that case or the node is full (the general path then runs).
        """
        if src.order or src.flags & _UNMAP_FAST_EXCLUDED or src.refcount == 1 or \
                src.mapcount != 1 or src.hugetlb:
            return None
        anon_vma = src.mapping
        mappers = src.mappers
        if not getattr(anon_vma, "anon", False) or len(mappers) != 1:
            return None
        mm, va = mappers[0]
        e = mm.ptes.get(va >> PAGE_SHIFT)
        if e is None or e.folio is not src or e.migration:
            return None
        if mm is not self._unlocked_mm:  # VMA flags change only while another task runs
            if mm.nr_locked_vmas:
                return None
            self._unlocked_mm = mm
        try:
            phys = self.mm.frames[nid].alloc_pages(0)  # __folio_alloc
        except OutOfMemory:
            return None
        # folio_trylock(src), folio_get_anon_vma, folio_trylock(dst) (a fresh folio)
        src.flags |= PG_locked
        anon_vma.refcount += 1
        dst = Folio(phys, 0, nid, PG_locked, None, 0, 1, False)
        # try_to_migrate(src, TTU_BATCH_FLUSH): the PTE becomes a migration entry
        e.migration = True
        src.mapcount = 0
        src.refcount -= 1
        dst.private = (anon_vma, FOLIO_WAS_MAPPED)  # __migrate_folio_record
        return dst

    def _prep_anon_fast(self, dst: Folio, src: Folio, acc: Charges) -> int | None:
        """``_move_to_new_folio_prep(dst, src, MIGRATE_SYNC_NO_COPY)`` of flavour v3 for an
        anonymous LRU folio with only the isolation reference, in one step: the static call
        ``can_dma_migrate`` (-EAGAIN when it declines), then ``__migrate_folio`` ->
        ``folio_migrate_mapping`` -> ``folio_migrate_flags``, the record moving from dst to
        src. None, having done nothing, for any other folio."""
        mapping = src.mapping
        if src.refcount != 1 or src.hugetlb or src.flags & PG_movable_ops or \
                not getattr(mapping, "anon", False):
            return None
        reg = self._registry or self.registry
        if not reg._can_dma_migrate(dst, src):
            return -EAGAIN  # v2/v3 5/9: static_call(_can_offc_migrate) in _prep
        src.private = dst.private  # v3 4/9: the record stashed in src
        dst.private = None
        dst.index = src.index  # folio_migrate_mapping(NULL mapping)
        dst.mapping = mapping
        flags = src.flags
        acc["metadata_copy"] += 1  # folio_migrate_flags (PG_swapbacked is among the copied)
        dst.flags |= flags & MIGRATE_COPIED_FLAGS
        src.flags = flags & ~(PG_active | PG_unevictable | PG_private)
        return MIGRATEPAGE_SUCCESS

    def _finalize_anon_fast(self, src: Folio, dst: Folio, reason: int) -> bool:
        """``_move_to_new_folio_finalize`` + ``_finalize_success`` of flavour v3's finalize
        loop for an anonymous folio whose record (stashed in src) says FOLIO_WAS_MAPPED,
        through ``_finalize_success_fast``. The caller adds the charges
        (_FINALIZE_FAST_CHARGES each). False, having done nothing, otherwise."""
        private = src.private
        if type(private) is not tuple or private[1] != FOLIO_WAS_MAPPED or \
                not getattr(src.mapping, "anon", False) or \
                not self._finalize_success_fast(src, dst, private[0], reason):
            return False
        src.private = None  # __migrate_folio_extract
        return True

    def _finalize_success_fast(self, src: Folio, dst: Folio, anon_vma: Any, reason: int) -> bool:
        """``_finalize_success`` of an LRU order-0 folio that was mapped once (its migration
        entry still in place) and holds only the isolation reference, dst only the
        allocation's, when no task waits on any folio (the caller checks; so nothing here
        flushes or wakes): the PTE maps dst again, both unlock, src is freed. The caller
        adds the charges (_FINALIZE_SUCCESS_CHARGES). False, having done nothing,
        otherwise."""
        mappers = src.mappers
        if src.order or src.refcount != 1 or dst.refcount != 1 or \
                reason == MR_MEMORY_FAILURE or \
                src.flags & (PG_movable_ops | PG_locked) != PG_locked or \
                not dst.flags & PG_locked or len(mappers) != 1:
            return False
        mm, va = mappers[0]
        e = mm.ptes.get(va >> PAGE_SHIFT)
        if e is None or not e.migration or e.folio is not src:
            return False
        # folio_add_lru(dst); remove_migration_ptes(src, dst): the migration entry maps dst
        e.folio = dst
        e.migration = False
        dst.mapcount += 1
        dst.mappers = mappers
        src.mappers = []
        # folio_unlock(dst); folio_put(dst) (the mapping's reference stays); put_anon_vma
        dst.flags = (dst.flags | PG_lru) & ~PG_locked
        if anon_vma is not None:
            anon_vma.refcount -= 1
        # migrate_folio_done: isolation accounting and the last reference (frees src)
        mm_sub = self.mm
        mm_sub.nr_isolated[src.nid] -= 1
        src.flags &= ~PG_locked  # folio_unlock(src), before the last folio_put
        src.refcount = 0
        mm_sub.free_folio(src)  # through the instance: debug hooks (page poisoning) see it
        return True

    # ------------------------------------------------------------------ unmap
    def migrate_folio_unmap(
        self,
        get_new_folio: GetNewFolio,
        put_new_folio: PutNewFolio | None,
        private: Any,
        src: Folio,
        mode: int,
        reason: int,
        ret: list[Folio],
        acc: Charges | None = None,
    ) -> tuple[int, Folio | None]:
        """``migrate_folio_unmap``: allocate dst, lock both, unmap src with migration entries.

        Returns (rc, dst): MIGRATEPAGE_UNMAP with dst recorded, MIGRATEPAGE_SUCCESS if the
        folio was freed under us, -EAGAIN (retry), -ENOMEM (no dst), or another errno (src
        moved to ``ret``). ``acc``: the caller's ``cost.charges`` (looked up when not given).
        """
        rc = -EAGAIN
        old_page_state = 0
        anon_vma: AnonVma | None = None
        is_lru = not src.flags & PG_movable_ops
        locked = False
        dst_locked = False

        if self.config.flavour != "latest" and src.refcount == 1:
            # Folio was freed from under us. So we are done.
            src.flags &= ~(PG_active | PG_unevictable)
            self.migrate_folio_done(src, reason, acc)
            return MIGRATEPAGE_SUCCESS, None

        dst = get_new_folio(src, private)
        if dst is None:
            return -ENOMEM, None
        dst.private = None

        mm = self.mm
        if acc is None:
            acc = cost.charges(self.kernel)
        acc["folio_lock"] += 1
        if not mm.folio_trylock(src):
            if mode == MIGRATE_ASYNC or (
                mode == MIGRATE_SYNC_LIGHT and not src.flags & PG_uptodate
            ):
                return self._unmap_out(rc, src, dst, 0, None, False, False, put_new_folio,
                                       private, ret)
            cost.flush(self.kernel)
            mm.folio_lock(src)
        locked = True
        flags = src.flags
        if flags & PG_mlocked:
            old_page_state |= FOLIO_WAS_MLOCKED

        if flags & PG_writeback and mode not in (MIGRATE_SYNC, MIGRATE_SYNC_NO_COPY):
            rc = -EBUSY
            return self._unmap_out(rc, src, dst, old_page_state, None, locked, False,
                                   put_new_folio, private, ret)

        mapping = src.mapping
        if getattr(mapping, "anon", False):  # folio_test_anon(src)
            anon_vma = mapping  # folio_get_anon_vma
            anon_vma.refcount += 1
            acc["anon_vma_ref"] += 1

        acc["folio_lock"] += 1
        if not mm.folio_trylock(dst):
            return self._unmap_out(rc, src, dst, old_page_state, anon_vma, locked, False,
                                   put_new_folio, private, ret)
        dst_locked = True

        if not is_lru:
            self._migrate_folio_record(dst, old_page_state, anon_vma)
            return MIGRATEPAGE_UNMAP, dst

        if mapping is None:
            if src.flags & PG_private:
                return self._unmap_out(rc, src, dst, old_page_state, anon_vma, locked,
                                       dst_locked, put_new_folio, private, ret)
        elif src.mapcount > 0:
            try_to_migrate(self.kernel, src, TTU_BATCH_FLUSH if mode == MIGRATE_ASYNC else 0,
                           acc)
            old_page_state |= FOLIO_WAS_MAPPED

        if src.mapcount == 0:
            self._migrate_folio_record(dst, old_page_state, anon_vma)
            return MIGRATEPAGE_UNMAP, dst

        return self._unmap_out(rc, src, dst, old_page_state, anon_vma, locked, dst_locked,
                               put_new_folio, private, ret)

    def _unmap_out(
        self, rc: int, src: Folio, dst: Folio, old_page_state: int, anon_vma: Any,
        locked: bool, dst_locked: bool, put_new_folio: PutNewFolio | None, private: Any,
        ret: list[Folio],
    ) -> tuple[int, Folio | None]:
        """The ``out:`` label of migrate_folio_unmap."""
        ret_l: list[Folio] | None = None if rc == -EAGAIN else ret
        self.migrate_folio_undo_src(src, old_page_state & FOLIO_WAS_MAPPED, anon_vma, locked,
                                    ret_l)
        self.migrate_folio_undo_dst(dst, dst_locked, put_new_folio, private)
        return rc, None

    # ------------------------------------------------------------------ move (per folio)
    def migrate_folio_move(
        self,
        put_new_folio: PutNewFolio | None,
        private: Any,
        src: Folio,
        dst: Folio,
        mode: int,
        reason: int,
        ret: list[Folio],
        acc: Charges | None = None,
    ) -> int:
        """``migrate_folio_move``: move one unmapped folio; -EAGAIN leaves the pair queued.
        ``acc``: the caller's ``cost.charges`` (looked up when not given)."""
        if acc is None:
            acc = cost.charges(self.kernel)
        old_page_state, anon_vma = self._migrate_folio_extract(dst)
        is_lru = not src.flags & PG_movable_ops
        rc = self.move_to_new_folio(dst, src, mode, acc)
        if rc:
            if rc == -EAGAIN:
                self._migrate_folio_record(dst, old_page_state, anon_vma)
                return rc
            self.migrate_folio_undo_src(src, old_page_state & FOLIO_WAS_MAPPED, anon_vma,
                                        True, ret)
            self.migrate_folio_undo_dst(dst, True, put_new_folio, private)
            return rc
        self._finalize_success(src, dst, old_page_state, anon_vma, reason, is_lru, acc)
        return rc

    def migrate_folios_move(
        self,
        src_folios: list[Folio],
        dst_folios: list[Folio],
        put_new_folio: PutNewFolio | None,
        private: Any,
        mode: int,
        reason: int,
        ret_folios: list[Folio],
        stats: MigratePagesStats,
        c: _Counters,
    ) -> None:
        """Patch 1/5 ``migrate_folios_move``: the per-folio move loop over the unmap list."""
        keep_src: list[Folio] = []
        keep_dst: list[Folio] = []
        cost.op(self.kernel, "cond_resched", len(src_folios))  # one per folio of the loop
        move = self.migrate_folio_move
        for folio, dst in zip(src_folios, dst_folios, strict=True):
            order = folio.order
            is_thp = 1 if order >= HPAGE_PMD_ORDER else 0  # _is_thp
            nr_pages = 1 << order
            rc = move(put_new_folio, private, folio, dst, mode, reason, ret_folios)
            if rc == -EAGAIN:
                c.retry += 1
                c.thp_retry += is_thp
                c.nr_retry_pages += nr_pages
                keep_src.append(folio)
                keep_dst.append(dst)
            elif rc == MIGRATEPAGE_SUCCESS:
                stats.nr_succeeded += nr_pages
                stats.nr_thp_succeeded += is_thp
            else:
                c.nr_failed += 1
                stats.nr_thp_failed += is_thp
                stats.nr_failed_pages += nr_pages
        src_folios[:] = keep_src
        dst_folios[:] = keep_dst

    def migrate_folios_undo(
        self,
        src_folios: list[Folio],
        dst_folios: list[Folio],
        put_new_folio: PutNewFolio | None,
        private: Any,
        ret_folios: list[Folio],
    ) -> None:
        """Patch 1/5 ``migrate_folios_undo``: restore every pair still queued."""
        for folio, dst in zip(src_folios, dst_folios, strict=True):
            old_page_state, anon_vma = self._migrate_folio_extract(dst)
            self.migrate_folio_undo_src(folio, old_page_state & FOLIO_WAS_MAPPED, anon_vma,
                                        True, ret_folios)
            self.migrate_folio_undo_dst(dst, True, put_new_folio, private)
        src_folios.clear()
        dst_folios.clear()

    # ------------------------------------------------------------------ seed batch move
    def migrate_folios_batch_move_seed(
        self,
        src_folios: list[Folio],
        dst_folios: list[Folio],
        put_new_folio: PutNewFolio | None,
        private: Any,
        mode: int,
        reason: int,
        ret_folios: list[Folio],
        stats: MigratePagesStats,
        c: _Counters,
    ) -> None:
        """Seed patches 3/5 + 4/5 ``migrate_folios_batch_move`` (linux-design §2.3)."""
        if mode != MIGRATE_ASYNC and not self.config.batch_all_modes:
            c.retry += 1
            return
        reg = self.registry
        temp_src: list[Folio] = []
        temp_dst: list[Folio] = []
        mig_info: list[tuple[Any, int]] = []  # migrate_folio_info: anon_vma + old state
        keep_src: list[Folio] = []
        keep_dst: list[Folio] = []
        broke_at = len(src_folios)
        nr_mig_folios = 0
        for i, (folio, dst) in enumerate(zip(src_folios, dst_folios, strict=True)):
            if not self.kmalloc():
                broke_at = i
                break
            is_thp = _is_thp(folio)
            nr_pages = folio.nr_pages
            is_lru = not folio.flags & PG_movable_ops
            old_page_state, anon_vma = self._migrate_folio_extract(dst)
            if not reg.can_dma_migrate(dst, folio):
                rc = -EAGAIN  # patch 4/5: static_call(_can_dma_migrate)
            elif is_lru:
                rc = self._move_to_new_folio_prep(dst, folio, MIGRATE_SYNC_NO_COPY)
            else:
                rc = -EAGAIN  # "Let CPU handle the non-LRU pages"
            if rc == -EAGAIN:
                c.retry += 1
                c.thp_retry += is_thp
                c.nr_retry_pages += nr_pages
                temp_src.append(folio)
                temp_dst.append(dst)
                self._migrate_folio_record(dst, old_page_state, anon_vma)
            elif rc != MIGRATEPAGE_SUCCESS:
                c.nr_failed += 1
                stats.nr_thp_failed += is_thp
                stats.nr_failed_pages += nr_pages
                self.migrate_folio_undo_src(folio, old_page_state & FOLIO_WAS_MAPPED,
                                            anon_vma, True, ret_folios)
                self.migrate_folio_undo_dst(dst, True, put_new_folio, private)
            else:
                nr_mig_folios += 1
                mig_info.append((anon_vma, old_page_state))
                keep_src.append(folio)
                keep_dst.append(dst)
        if broke_at < len(src_folios):
            rest_src = src_folios[broke_at:]
            rest_dst = dst_folios[broke_at:]
            if self.config.seed_kmalloc_break:
                # As posted: the unprocessed rest stays on the lists, is batch-copied and
                # walked by the finalize loop with a mig_info list that is too short.
                keep_src += rest_src
                keep_dst += rest_dst
                self.bug_events.append(
                    f"seed kmalloc-break: {len(rest_src)} folios skipped metadata migration"
                )
            else:
                # Fixed: the rest goes back to the per-folio loop like -EAGAIN pairs.
                for f in rest_src:
                    c.retry += 1
                    c.thp_retry += _is_thp(f)
                    c.nr_retry_pages += f.nr_pages
                temp_src += rest_src
                temp_dst += rest_dst
        src_folios[:] = keep_src
        dst_folios[:] = keep_dst
        if nr_mig_folios:
            t = self._copy_begin()
            reg.folios_copy_dispatch(dst_folios, src_folios, len(src_folios))
            self._copy_end(t, sum(1 << f.order for f in src_folios))
            for k, (folio, dst) in enumerate(zip(src_folios, dst_folios, strict=True)):
                is_thp = _is_thp(folio)
                nr_pages = folio.nr_pages
                if k < len(mig_info):
                    anon_vma, old_page_state = mig_info[k]
                else:
                    # mig_info walked past its end: the list head read as an entry.
                    anon_vma, old_page_state = None, 0
                    self.bug_events.append("seed kmalloc-break: finalize read past mig_info")
                if folio.flags & PG_movable_ops:
                    folio.flags &= ~PG_isolated
                if not folio_test_anon(folio):
                    folio.mapping = None
                cost.op(self.kernel, "flush_dcache_folio")
                self._finalize_success(folio, dst, old_page_state, anon_vma, reason)
                stats.nr_succeeded += nr_pages
                stats.nr_thp_succeeded += is_thp
            src_folios.clear()
            dst_folios.clear()
        # out: temp (-EAGAIN) folios back at the head of the lists for the CPU loop
        src_folios[:0] = temp_src
        dst_folios[:0] = temp_dst

    # ------------------------------------------------------------------ v2/v3 batch move
    def migrate_folios_batch_move_v3(
        self,
        src_folios: list[Folio],
        dst_folios: list[Folio],
        put_new_folio: PutNewFolio | None,
        private: Any,
        mode: int,
        reason: int,
        ret_folios: list[Folio],
        stats: MigratePagesStats,
        c: _Counters,
    ) -> None:
        """v2/v3 4/9 + 5/9 ``migrate_folios_batch_move`` (linux-design §3)."""
        if mode != MIGRATE_ASYNC and not self.config.batch_all_modes:
            c.retry += 1
            return
        reg = self.registry
        err_src: list[Folio] = []
        err_dst: list[Folio] = []
        keep_src: list[Folio] = []
        keep_dst: list[Folio] = []
        prep = self._move_to_new_folio_prep
        read = self._migrate_folio_read
        prep_fast = self._prep_anon_fast if self.fast_paths else None
        acc = cost.charges(self.kernel)  # this process's pending charges
        # prep_fast's charge, counted in a plain dict and added before anything that could
        # flush it (the general prep, the copy)
        tally = {"metadata_copy": 0}
        for folio, dst in zip(src_folios, dst_folios, strict=True):
            frc = None if prep_fast is None else prep_fast(dst, folio, tally)
            if frc == MIGRATEPAGE_SUCCESS:
                keep_src.append(folio)
                keep_dst.append(dst)
                continue
            if tally["metadata_copy"]:
                acc["metadata_copy"] += tally["metadata_copy"]
                tally["metadata_copy"] = 0
            old_page_state, anon_vma = read(dst)
            if frc is not None:
                rc = frc
            else:
                # movable_ops folios are left to the CPU loop (-EAGAIN)
                rc = -EAGAIN if folio.flags & PG_movable_ops else prep(dst, folio,
                                                                        MIGRATE_SYNC_NO_COPY)
            if rc:
                is_thp = _is_thp(folio)
                nr_pages = folio.nr_pages
            if rc == MIGRATEPAGE_SUCCESS:
                keep_src.append(folio)
                keep_dst.append(dst)
            elif rc == -EAGAIN:
                c.retry += 1
                c.thp_retry += is_thp
                c.nr_retry_pages += nr_pages
                err_src.append(folio)
                err_dst.append(dst)
                self._migrate_folio_record(dst, old_page_state, anon_vma)
            else:
                c.nr_failed += 1
                stats.nr_thp_failed += is_thp
                stats.nr_failed_pages += nr_pages
                self.migrate_folio_undo_src(folio, old_page_state & FOLIO_WAS_MAPPED,
                                            anon_vma, True, ret_folios)
                self.migrate_folio_undo_dst(dst, True, put_new_folio, private)
        if tally["metadata_copy"]:
            acc["metadata_copy"] += tally["metadata_copy"]
        src_folios[:] = keep_src
        dst_folios[:] = keep_dst
        nr_batched = len(src_folios)
        if nr_batched:
            t = self._copy_begin()
            rc = reg.folios_copy_dispatch(dst_folios, src_folios, nr_batched)
            self._copy_end(t, sum(1 << f.order for f in src_folios))
            if rc:
                # fallback to serial page copy; a folio that still fails is undone
                keep_src, keep_dst = [], []
                for folio, dst in zip(src_folios, dst_folios, strict=True):
                    is_thp = _is_thp(folio)
                    nr_pages = folio.nr_pages
                    rc = self._timed_folio_copy(dst, folio)
                    if rc:
                        old_page_state, anon_vma = self._migrate_folio_extract(folio)
                        self.migrate_folio_undo_src(folio, old_page_state & FOLIO_WAS_MAPPED,
                                                    anon_vma, True, ret_folios)
                        self.migrate_folio_undo_dst(dst, True, put_new_folio, private)
                        c.nr_failed += 1
                        stats.nr_thp_failed += is_thp
                        stats.nr_failed_pages += nr_pages
                    else:
                        # As posted, success is counted here *and* in the finalize loop.
                        stats.nr_succeeded += nr_pages
                        stats.nr_thp_succeeded += is_thp
                        keep_src.append(folio)
                        keep_dst.append(dst)
                src_folios[:] = keep_src
                dst_folios[:] = keep_dst
            extract = self._migrate_folio_extract
            finalize = self._move_to_new_folio_finalize
            finalize_success = self._finalize_success
            acc = cost.charges(self.kernel)  # this process's pending charges, for the loop
            nr_succeeded = nr_thp_succeeded = 0
            fin_fast = self._finalize_anon_fast if self.fast_paths else None
            lock_wq = self.mm._lock_wq
            nfast = 0  # folios finalized by fin_fast whose charges are not added yet
            for folio, dst in zip(src_folios, dst_folios, strict=True):
                if fin_fast is not None and not lock_wq and fin_fast(folio, dst, reason):
                    nfast += 1
                    continue
                if nfast:  # charges land before anything that could flush them
                    _charge_fast(acc, _FINALIZE_FAST_CHARGES, nfast)
                    nr_succeeded += nfast
                    nfast = 0
                order = folio.order
                old_page_state, anon_vma = extract(folio)
                finalize(dst, folio, MIGRATEPAGE_SUCCESS, acc)
                finalize_success(folio, dst, old_page_state, anon_vma, reason, True, acc)
                nr_succeeded += 1 << order
                nr_thp_succeeded += 1 if order >= HPAGE_PMD_ORDER else 0  # _is_thp
            if nfast:
                _charge_fast(acc, _FINALIZE_FAST_CHARGES, nfast)
                nr_succeeded += nfast
            stats.nr_succeeded += nr_succeeded
            stats.nr_thp_succeeded += nr_thp_succeeded
            src_folios.clear()
            dst_folios.clear()
        src_folios[:0] = err_src
        dst_folios[:0] = err_dst

    # ------------------------------------------------------------------ latest batch copy
    def folio_supports_batch_copy(self, folio: Folio, reason: int) -> bool:
        """v5/v6: reason in the offload mask, refcount as expected, not movable_ops."""
        if folio.flags & PG_movable_ops:
            return False
        if not self.offload.migrate_should_offload(reason):
            return False
        return folio.refcount == self.folio_expected_refs(folio_mapping(folio), folio)

    # ------------------------------------------------------------------ batch
    def try_split_folio(self, folio: Folio, split_folios: list[Folio] | None, mode: int) -> int:
        """``try_split_folio``: lock, split into base pages onto ``split_folios``."""
        if split_folios is None:
            return -EBUSY
        if mode == MIGRATE_ASYNC:
            if not self.mm.folio_trylock(folio):
                return -EAGAIN
        else:
            cost.flush(self.kernel)
            self.mm.folio_lock(folio)
        tails: list[Folio] = []
        rc = split_folio_to_list(self.kernel, folio, tails)
        self.mm.folio_unlock(folio)
        if not rc:
            split_folios.extend(tails)
            split_folios.append(folio)  # list_move_tail(&folio->lru, split_folios)
            self.vm_events["thp_split_page"] += 1
        return rc

    def migrate_pages_batch(
        self,
        from_: list[Folio],
        get_new_folio: GetNewFolio,
        put_new_folio: PutNewFolio | None,
        private: Any,
        mode: int,
        reason: int,
        ret_folios: list[Folio],
        split_folios: list[Folio] | None,
        stats: MigratePagesStats,
        nr_pass: int,
    ) -> int:
        """``migrate_pages_batch``: unmap as many folios as possible, flush once, move."""
        kernel = self.kernel
        cfg = self.config
        latest = cfg.flavour == "latest"
        retry = 1
        thp_retry = 1
        nr_failed = 0
        nr_retry_pages = 0
        rc_saved = 0
        unmap_folios: list[Folio] = []  # latest: the standard list
        dst_folios: list[Folio] = []
        src_batch: list[Folio] = []
        dst_batch: list[Folio] = []
        nosplit = reason == MR_NUMA_MISPLACED
        jump: str | None = None
        cost.op(kernel, "migrate_pages_batch_call")
        mm_trace.phase(kernel, "unmap", folios=len(from_))

        unmap = self.migrate_folio_unmap
        acc = cost.charges(kernel)  # this process's pending charges, for the loop
        proc = kernel.sim._current
        # The one-step common case (_unmap_anon_fast) applies to this call?
        fast = (self.fast_paths and not latest and mode == MIGRATE_ASYNC and proc is not None
                and getattr(get_new_folio, "__func__", None) is MigrateCore.alloc_migration_target
                and getattr(get_new_folio, "__self__", None) is self and self.alloc_fault is None)
        fast_nid = private.nid if fast else NUMA_NO_NODE
        proc_data: dict[str, Any] = proc.data if proc is not None else {}
        unmap_fast = self._unmap_anon_fast
        nfast = 0  # folios unmapped by unmap_fast whose charges are not added yet
        self._unlocked_mm = None
        pass_ = 0
        while pass_ < nr_pass and retry and jump is None:
            retry = 0
            thp_retry = 0
            nr_retry_pages = 0
            keep: list[Folio] = []
            items = list(from_)
            i = 0
            while i < len(items):
                folio = items[i]
                i += 1
                if fast:
                    dst = unmap_fast(folio, folio.nid if fast_nid == NUMA_NO_NODE else fast_nid)
                    if dst is not None:  # MIGRATEPAGE_UNMAP
                        nfast += 1
                        unmap_folios.append(folio)
                        dst_folios.append(dst)
                        continue
                    if nfast:  # charges land before anything that could flush them
                        _charge_fast(acc, _UNMAP_FAST_CHARGES, nfast)
                        proc_data[_TLB_PENDING] = True  # try_to_migrate(TTU_BATCH_FLUSH)
                        nfast = 0
                    self._unlocked_mm = None
                order = folio.order
                is_large = order > 0  # folio_test_large
                is_thp = 1 if order >= HPAGE_PMD_ORDER else 0  # _is_thp
                nr_pages = 1 << order  # folio_nr_pages

                if not cfg.thp_migration_supported and is_thp:
                    nr_failed += 1
                    stats.nr_thp_failed += 1
                    if not self.try_split_folio(folio, split_folios, mode):
                        stats.nr_thp_split += 1
                        stats.nr_split += 1
                        continue
                    stats.nr_failed_pages += nr_pages
                    ret_folios.append(folio)
                    continue

                if latest and not folio.flags & PG_movable_ops and folio.refcount == 1:
                    # v6: the folio was freed from under us: just drop our reference
                    folio.flags &= ~(PG_active | PG_unevictable)
                    self.migrate_folio_done(folio, reason, acc)
                    stats.nr_succeeded += nr_pages
                    stats.nr_thp_succeeded += is_thp
                    continue

                rc, dst = unmap(get_new_folio, put_new_folio, private, folio, mode, reason,
                                ret_folios, acc)
                if rc == -ENOMEM:
                    nr_failed += 1
                    stats.nr_thp_failed += is_thp
                    if is_large and not nosplit:
                        ret = self.try_split_folio(folio, split_folios, mode)
                        if not ret:
                            stats.nr_thp_split += is_thp
                            stats.nr_split += 1
                            continue
                        if reason == MR_LONGTERM_PIN and ret == -EAGAIN:
                            retry += 1
                            thp_retry += is_thp
                            nr_retry_pages += nr_pages
                            nr_failed -= 1
                            stats.nr_thp_failed -= is_thp
                            keep.append(folio)
                            continue
                    stats.nr_failed_pages += nr_pages + nr_retry_pages
                    stats.nr_thp_failed += thp_retry
                    rc_saved = rc
                    keep.append(folio)
                    keep.extend(items[i:])
                    empty = not unmap_folios and not src_batch
                    jump = "out" if empty else "move"
                    break
                if rc == -EAGAIN:
                    retry += 1
                    thp_retry += is_thp
                    nr_retry_pages += nr_pages
                    keep.append(folio)
                elif rc == MIGRATEPAGE_SUCCESS:
                    stats.nr_succeeded += nr_pages
                    stats.nr_thp_succeeded += is_thp
                elif rc == MIGRATEPAGE_UNMAP:
                    assert dst is not None
                    if latest and self.offload.enabled and self.folio_supports_batch_copy(
                        folio, reason
                    ):
                        src_batch.append(folio)
                        dst_batch.append(dst)
                    else:
                        unmap_folios.append(folio)
                        dst_folios.append(dst)
                else:
                    nr_failed += 1
                    stats.nr_thp_failed += is_thp
                    stats.nr_failed_pages += nr_pages
            if nfast:
                _charge_fast(acc, _UNMAP_FAST_CHARGES, nfast)
                proc_data[_TLB_PENDING] = True  # try_to_migrate(TTU_BATCH_FLUSH)
                nfast = 0
            cost.op(kernel, "cond_resched", i)  # one per folio visited in this pass
            from_[:] = keep
            pass_ += 1
        self._unlocked_mm = None  # only valid inside the loop (no other task ran meanwhile)
        if jump is None:
            nr_failed += retry
            stats.nr_thp_failed += thp_retry
            stats.nr_failed_pages += nr_retry_pages

        if jump != "out":
            # move:
            mm_trace.phase(kernel, "tlb_flush")
            try_to_unmap_flush(kernel)
            mm_trace.phase(kernel, "move")
            c = _Counters()
            c.nr_failed = nr_failed
            if cfg.flavour == "seed":
                c.retry = 0
                self.migrate_folios_batch_move_seed(unmap_folios, dst_folios, put_new_folio,
                                                    private, mode, reason, ret_folios, stats, c)
            elif cfg.flavour == "v3":
                c.retry = 0
                self.migrate_folios_batch_move_v3(unmap_folios, dst_folios, put_new_folio,
                                                  private, mode, reason, ret_folios, stats, c)
            else:
                c.retry = 1
                if latest and src_batch:
                    t = self._copy_begin()
                    self.offload.migrate_offload_batch_copy(dst_batch, src_batch,
                                                            len(src_batch))
                    self._copy_end(t, sum(1 << f.order for f in src_batch))
            pass_ = 0
            while pass_ < nr_pass and c.retry:
                c.retry = 0
                c.thp_retry = 0
                c.nr_retry_pages = 0
                if src_batch:
                    self.migrate_folios_move(src_batch, dst_batch, put_new_folio, private, mode,
                                             reason, ret_folios, stats, c)
                if unmap_folios:
                    self.migrate_folios_move(unmap_folios, dst_folios, put_new_folio, private,
                                             mode, reason, ret_folios, stats, c)
                pass_ += 1
            nr_failed = c.nr_failed + c.retry
            stats.nr_thp_failed += c.thp_retry
            stats.nr_failed_pages += c.nr_retry_pages
            rc = rc_saved or nr_failed
        else:
            rc = rc_saved
        # out: cleanup remaining folios
        self.migrate_folios_undo(src_batch, dst_batch, put_new_folio, private, ret_folios)
        self.migrate_folios_undo(unmap_folios, dst_folios, put_new_folio, private, ret_folios)
        mm_trace.phase(kernel, None)
        return rc

    def migrate_pages_sync(
        self,
        from_: list[Folio],
        get_new_folio: GetNewFolio,
        put_new_folio: PutNewFolio | None,
        private: Any,
        mode: int,
        reason: int,
        ret_folios: list[Folio],
        split_folios: list[Folio],
        stats: MigratePagesStats,
    ) -> int:
        """``migrate_pages_sync``: one ASYNC batch pass (3 tries), then each leftover alone."""
        nr_failed = 0
        folios: list[Folio] = []
        astats = MigratePagesStats()
        rc = self.migrate_pages_batch(from_, get_new_folio, put_new_folio, private,
                                      MIGRATE_ASYNC, reason, folios, split_folios, astats,
                                      NR_MAX_MIGRATE_ASYNC_RETRY)
        stats.nr_succeeded += astats.nr_succeeded
        stats.nr_thp_succeeded += astats.nr_thp_succeeded
        stats.nr_thp_split += astats.nr_thp_split
        stats.nr_split += astats.nr_split
        if rc < 0:
            stats.nr_failed_pages += astats.nr_failed_pages
            stats.nr_thp_failed += astats.nr_thp_failed
            ret_folios.extend(folios)
            return rc
        stats.nr_thp_failed += astats.nr_thp_split
        nr_failed += astats.nr_split
        from_.extend(folios)
        folios = []
        while from_:
            single = [from_.pop(0)]
            rc = self.migrate_pages_batch(single, get_new_folio, put_new_folio, private, mode,
                                          reason, ret_folios, split_folios, stats,
                                          NR_MAX_MIGRATE_SYNC_RETRY)
            ret_folios.extend(single)
            if rc < 0:
                return rc
            nr_failed += rc
        return nr_failed

    # ------------------------------------------------------------------ hugetlb
    def unmap_and_move_huge_page(
        self,
        get_new_folio: GetNewFolio,
        put_new_folio: PutNewFolio | None,
        private: Any,
        src: Folio,
        force: bool,
        mode: int,
        reason: int,
        ret: list[Folio],
    ) -> int:
        """``unmap_and_move_huge_page``: one hugetlb folio, unmapped and moved on its own."""
        rc = -EAGAIN
        page_was_mapped = 0
        anon_vma: AnonVma | None = None
        if src.refcount == 1:
            self.mm.folio_putback_active_hugetlb(src)
            return MIGRATEPAGE_SUCCESS
        dst = get_new_folio(src, private)
        if dst is None:
            return -ENOMEM
        cost.op(self.kernel, "folio_lock")
        locked_src = False
        if not self.mm.folio_trylock(src):
            if force and mode in (MIGRATE_SYNC, MIGRATE_SYNC_NO_COPY):
                cost.flush(self.kernel)
                self.mm.folio_lock(src)
                locked_src = True
        else:
            locked_src = True
        if locked_src:
            if folio_test_anon(src):
                anon_vma = src.mapping
                assert anon_vma is not None
                anon_vma.refcount += 1
            if self.mm.folio_trylock(dst):
                if src.mapcount > 0:
                    try_to_migrate(self.kernel, src, 0)
                    page_was_mapped = 1
                if src.mapcount == 0:
                    rc = self.move_to_new_folio(dst, src, mode)
                if page_was_mapped:
                    remove_migration_ptes(self.kernel, src,
                                          dst if rc == MIGRATEPAGE_SUCCESS else src)
                self.mm.folio_unlock(dst)
            if anon_vma is not None:
                anon_vma.refcount -= 1
            if rc == MIGRATEPAGE_SUCCESS:
                cost.op(self.kernel, "hugetlb_move_state")  # move_hugetlb_state
                dst.flags |= PG_lru
                put_new_folio = None
            self.mm.folio_unlock(src)
        if rc == MIGRATEPAGE_SUCCESS:
            self.mm.folio_putback_active_hugetlb(src)
        elif rc != -EAGAIN:
            ret.append(src)
        if put_new_folio is not None:
            put_new_folio(dst, private)
        elif rc == MIGRATEPAGE_SUCCESS:
            self.mm.folio_put(dst)  # folio_putback_active_hugetlb(dst): drop the alloc ref
        else:
            self.mm.folio_put(dst)
        return rc

    def migrate_hugetlbs(
        self,
        from_: list[Folio],
        get_new_folio: GetNewFolio,
        put_new_folio: PutNewFolio | None,
        private: Any,
        mode: int,
        reason: int,
        stats: MigratePagesStats,
        ret_folios: list[Folio],
    ) -> int:
        """``migrate_hugetlbs``: hugetlb folios one at a time, never batched."""
        retry = 1
        nr_failed = 0
        nr_retry_pages = 0
        pass_ = 0
        while pass_ < NR_MAX_MIGRATE_PAGES_RETRY and retry:
            retry = 0
            nr_retry_pages = 0
            for folio in list(from_):
                if not folio.hugetlb:
                    continue
                nr_pages = folio.nr_pages
                cost.op(self.kernel, "cond_resched")
                rc = self.unmap_and_move_huge_page(get_new_folio, put_new_folio, private, folio,
                                                   pass_ > 2, mode, reason, ret_folios)
                if rc == -ENOMEM:
                    stats.nr_failed_pages += nr_pages + nr_retry_pages
                    return -ENOMEM
                if rc == -EAGAIN:
                    retry += 1
                    nr_retry_pages += nr_pages
                    continue
                from_.remove(folio)  # success: put back; failure: moved to ret_folios
                if rc == MIGRATEPAGE_SUCCESS:
                    stats.nr_succeeded += nr_pages
                else:
                    nr_failed += 1
                    stats.nr_failed_pages += nr_pages
            pass_ += 1
        nr_failed += retry
        stats.nr_failed_pages += nr_retry_pages
        return nr_failed

    # ------------------------------------------------------------------ entry point
    def migrate_pages(
        self,
        from_: list[Folio],
        get_new_folio: GetNewFolio,
        put_new_folio: PutNewFolio | None,
        private: Any,
        mode: int,
        reason: int,
        ret_succeeded: list[int] | None = None,
    ) -> int:
        """``migrate_pages``: migrate the isolated folios on ``from_``.

        Returns the number of folios not migrated or a negative errno; failed folios are left
        on ``from_`` for the caller's ``putback_movable_pages``. Records t1..t4.
        """
        kernel = self.kernel
        sim = kernel.sim
        cfg = self.config
        proc = sim.require_process()
        cost.flush(kernel)  # the caller's pending work happens before t1
        migrator = "kernel"
        if cfg.flavour in ("seed", "v3"):
            migrator = self.registry.get_active_migrator_name()
        elif cfg.flavour == "latest":
            migrator = self.offload.get_active_migrator_name()
        rec = MigrateRecord(
            t1=sim.now,
            flavour=cfg.flavour,
            config=cfg,
            mode=int(mode),
            reason=int(reason),
            nr_folios=len(from_),
            nr_pages=sum(1 << f.order for f in from_),
            migrator=migrator,
        )
        outer = proc.data.get("migrate_record")
        proc.data["migrate_record"] = rec
        # Emulator speed, not kernel behaviour: a large call allocates a million long-lived
        # objects (folios, sg entries, descriptors), and the cyclic collector would rescan the
        # whole heap several times meanwhile (a quarter of a 1 GiB DCBM migration's time).
        # Full collections wait until the call returns; the young generations are still
        # collected, so short-lived cycles (descriptors, IRQ processes) are freed as usual.
        # The core's own loops (isolation to unmap, metadata, finalize) create only long-lived
        # objects (dst folios, records), so there the collector is off altogether; it runs
        # during the copies (_copy_begin .. _copy_end), which leave short-lived cycles.
        gc_saved = gc.get_threshold() if len(from_) >= GC_PAUSE_FOLIOS else None
        gc_outer = proc.data.get(_GC_PAUSED_KEY)
        gc_was_enabled = gc.isenabled()
        if gc_saved is not None:
            gc.set_threshold(gc_saved[0], gc_saved[1], GC_PAUSE_THRESHOLD2)
            if gc_was_enabled:
                proc.data[_GC_PAUSED_KEY] = True
                gc.disable()
        try:
            with cost.deferred(kernel):
                cost.op(kernel, "migrate_pages_call")
                rc = self._migrate_pages(from_, get_new_folio, put_new_folio, private,
                                         MigrateMode(mode), MigrateReason(reason), rec.stats)
                cost.flush(kernel)  # everything charged inside the call lands before t4
        finally:
            proc.data["migrate_record"] = outer
            if gc_saved is not None:
                gc.set_threshold(*gc_saved)
                proc.data[_GC_PAUSED_KEY] = gc_outer
                if proc.data.pop(_GC_FROZEN_KEY, False):
                    gc.unfreeze()  # the loops' objects join the oldest generation
                if gc_was_enabled:
                    gc.enable()
        rec.t4 = sim.now
        rec.rc = rc
        self.records.append(rec)
        if ret_succeeded is not None:
            ret_succeeded[:] = [rec.stats.nr_succeeded]
        return rc

    def _migrate_pages(
        self,
        from_: list[Folio],
        get_new_folio: GetNewFolio,
        put_new_folio: PutNewFolio | None,
        private: Any,
        mode: MigrateMode,
        reason: MigrateReason,
        stats: MigratePagesStats,
    ) -> int:
        limit = self.config.nr_max_batched_migration
        ret_folios: list[Folio] = []
        split_folios: list[Folio] = []
        rc_gather = self.migrate_hugetlbs(from_, get_new_folio, put_new_folio, private, mode,
                                          reason, stats, ret_folios)
        if rc_gather >= 0:
            while True:  # again:
                nr_pages = 0
                cut = len(from_)
                rest: list[Folio] = []
                for idx, folio in enumerate(from_):
                    if folio.hugetlb:
                        ret_folios.append(folio)  # retried hugetlb folios are kept in list
                        continue
                    rest.append(folio)
                    nr_pages += 1 << folio.order  # folio_nr_pages
                    if nr_pages >= limit:
                        cut = idx + 1
                        break
                # list_cut_before(&folios, from, &folio2->lru): cut after the folio that
                # reached the limit; hugetlb folios met on the way went to ret_folios.
                folios = rest
                del from_[:cut]  # in place: no copy of the (long) rest per batch
                cost.op(self.kernel, "list_op")
                if mode == MIGRATE_ASYNC:
                    rc = self.migrate_pages_batch(folios, get_new_folio, put_new_folio, private,
                                                  mode, reason, ret_folios, split_folios, stats,
                                                  NR_MAX_MIGRATE_PAGES_RETRY)
                else:
                    rc = self.migrate_pages_sync(folios, get_new_folio, put_new_folio, private,
                                                 mode, reason, ret_folios, split_folios, stats)
                ret_folios.extend(folios)
                if rc < 0:
                    rc_gather = rc
                    ret_folios.extend(split_folios)
                    split_folios.clear()
                    break
                if split_folios:
                    self.migrate_pages_batch(split_folios, get_new_folio, put_new_folio, private,
                                             MIGRATE_ASYNC, reason, ret_folios, None, stats, 1)
                    ret_folios.extend(split_folios)
                    split_folios.clear()
                rc_gather += rc
                if not from_:
                    break
        # out:
        from_[:0] = ret_folios
        if not from_:
            rc_gather = 0
        ev = self.vm_events
        ev["pgmigrate_success"] += stats.nr_succeeded
        ev["pgmigrate_fail"] += stats.nr_failed_pages
        ev["thp_migration_success"] += stats.nr_thp_succeeded
        ev["thp_migration_fail"] += stats.nr_thp_failed
        ev["thp_migration_split"] += stats.nr_thp_split
        return rc_gather

    # ------------------------------------------------------------------ putback
    def putback_movable_pages(self, lst: list[Folio]) -> None:
        """``putback_movable_pages``: return isolated folios to the LRU (or hugetlb list)."""
        for folio in lst:
            cost.op(self.kernel, "putback_folio")
            if folio.hugetlb:
                self.mm.folio_putback_active_hugetlb(folio)
                continue
            if folio.flags & PG_movable_ops:
                folio.flags &= ~PG_isolated
                self.mm.folio_put(folio)
                continue
            self.mm.nr_isolated[folio.nid] -= folio.nr_pages
            self.mm.folio_putback_lru(folio)
        lst.clear()

    # ------------------------------------------------------------------ helpers for users
    def migrate_folios_to_node(
        self, folios: list[Folio], node: int, mode: int = MIGRATE_SYNC, reason: int = 3
    ) -> tuple[int, int]:
        """Isolate ``folios`` from the LRU, ``migrate_pages`` them to ``node`` with
        ``alloc_migration_target``, put back the failures. Returns (rc, pages migrated).

        For experiments that bypass move_pages(2) (e.g. MR_NUMA_MISPLACED promotion in
        MIGRATE_ASYNC, or MR_DEMOTION); ``reason`` defaults to MR_SYSCALL. Run in a process.
        """
        lst: list[Folio] = []
        for f in folios:
            cost.op(self.kernel, "isolate_folio")
            if f.hugetlb:
                self.mm.isolate_hugetlb(f, lst)
            elif self.mm.folio_isolate_lru(f):
                lst.append(f)
                self.mm.nr_isolated[f.nid] += f.nr_pages
        done: list[int] = [0]
        rc = self.migrate_pages(lst, self.alloc_migration_target, None,
                                MigrationTargetControl(nid=node, reason=reason), mode, reason,
                                done)
        if lst:
            self.putback_movable_pages(lst)
        return rc, done[0]

    def last_record(self) -> MigrateRecord:
        """The most recent migrate_pages() record."""
        return self.records[-1]


def poison_folio(folio: Folio) -> None:
    """Mark a folio hardware-poisoned: machine-check-safe copies of it fail (tests)."""
    folio.flags |= PG_hwpoison


__all__ = [
    "FLAVOURS",
    "MIGRATEPAGE_SUCCESS",
    "MIGRATEPAGE_UNMAP",
    "MIGRATE_ASYNC",
    "MIGRATE_SYNC",
    "MIGRATE_SYNC_LIGHT",
    "MIGRATE_SYNC_NO_COPY",
    "NR_MAX_MIGRATE_ASYNC_RETRY",
    "NR_MAX_MIGRATE_PAGES_RETRY",
    "NR_MAX_MIGRATE_SYNC_RETRY",
    "MigrateCore",
    "MigratePagesStats",
    "MigrateRecord",
    "MigrationConfig",
    "MigrationTargetControl",
    "PG_writeback",
    "poison_folio",
]
