"""Seed patch 4/5 (Mike Day) migrator registry: include/linux/migrate_dma.h, mm/migrate_dma.c.

One global migrator (here: one per Kernel) whose copy routine is reached through a static
call. v2/v3 5/9 rename the file to migrate_offc.{h,c} with the same shape (``offc``), an int
return and a folio count; ``MigratorRegistry.offc`` selects that form (default copy
``folios_mc_copy``). The posted flaws stay visible (linux-design §2.4):

- the SRCU read lock is taken by the *updater* around the update, not by the migration path
  around the static call, so ``stop_offloading()`` returns while a batch copy may still be
  running inside the old migrator (``reader_side_srcu=True`` is the v4 fix, for what-if runs);
- ``dispatch_to_dma`` is written by start/stop but never read (dead state);
- one global migrator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator.sync import Mutex

from .folio import Folio
from .folio_copy import folios_copy, folios_mc_copy
from .module import module_put, try_module_get
from .srcu import SrcuStruct

if TYPE_CHECKING:
    from drivers.kernel import Kernel

MIGRATOR_NAME_LEN = 32


@dataclass
class Migrator:
    """``struct migrator``: a named batch-copy routine and its per-pair eligibility check.

    ``migrate_dma(dst_list, src_list, folio_cnt)`` copies the batch; v1 returns nothing (None),
    v2/v3 return 0 or a negative errno. ``can_migrate_dma(dst, src)`` may refuse a pair, which
    then goes to the per-folio CPU path.
    """

    name: str
    migrate_dma: Callable[[list[Folio], list[Folio], int], int | None]
    can_migrate_dma: Callable[[Folio, Folio], bool] | None = None
    owner: object | None = None


def can_dma_migrate(dst: Folio, src: Folio) -> bool:
    """Default eligibility (``can_dma_migrate``): every pair may be batch-copied."""
    return True


class MigratorRegistry:
    """The registry's globals (``migrator``, ``migrator_mut``, ``mig_srcu``, ``dispatch_to_dma``,
    static calls ``_folios_copy`` and ``_can_dma_migrate``) for one kernel."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.offc = False  # v2/v3 "offc" form: default copy folios_mc_copy, int return
        self.reader_side_srcu = False  # False = seed/v2/v3 as posted (updater-side lock)
        self.migrator_mut = Mutex(kernel.sim, "migrator_mut")
        self.mig_srcu = SrcuStruct(kernel.sim, "mig_srcu")
        self.dispatch_to_dma = 0  # atomic_t, written by start/stop, never read (dead state)
        self.name = "kernel"  # migrator.name
        self.owner: object | None = None  # migrator.owner
        self.kernel_migrator = Migrator("kernel", self._kernel_copy, can_dma_migrate)
        self.active: Migrator = self.kernel_migrator
        # static calls
        self._folios_copy: Callable[[list[Folio], list[Folio], int], int | None] = (
            self._kernel_copy
        )
        self._can_dma_migrate: Callable[[Folio, Folio], bool] = can_dma_migrate
        self.updates = 0
        self.inflight = 0  # batch copies currently inside the static call (observability)

    # ------------------------------------------------------------------ defaults
    def _kernel_copy(self, dst: list[Folio], src: list[Folio], nr: int) -> int | None:
        """The "kernel" migrator: ``folios_copy`` (v1) or ``folios_mc_copy`` (v2/v3 offc)."""
        if self.offc:
            return folios_mc_copy(self.kernel, dst, src, nr)
        folios_copy(self.kernel, dst, src)
        return None

    # ------------------------------------------------------------------ update side
    def dma_update_migrator(self, mig: Migrator | None) -> None:
        """``dma_update_migrator`` (``offc_update_migrator`` in v2/v3), faithful to the posting.

        mutex_lock; srcu_read_lock (by the updater!); copy the name; static_call_update both
        calls (or reset them); module_put(old owner); try_module_get(new owner); srcu_read_unlock;
        mutex_unlock; call_srcu + srcu_barrier. No reader holds mig_srcu on the migration path,
        so the barrier never waits for a batch copy in flight.
        """
        self.migrator_mut.lock()
        idx = self.mig_srcu.srcu_read_lock()
        self.name = (mig.name if mig else "kernel")[: MIGRATOR_NAME_LEN - 1]
        if mig is not None:
            self._folios_copy = mig.migrate_dma
            self._can_dma_migrate = mig.can_migrate_dma or can_dma_migrate
        else:
            self._folios_copy = self._kernel_copy
            self._can_dma_migrate = can_dma_migrate
        if self.owner is not None:
            module_put(self.owner)
        self.owner = mig.owner if mig else None
        if self.owner is not None:
            try_module_get(self.owner)  # result ignored, as posted
        self.active = mig if mig is not None else self.kernel_migrator
        self.updates += 1
        self.mig_srcu.srcu_read_unlock(idx)
        self.migrator_mut.unlock()
        self.mig_srcu.call_srcu(self._srcu_mig_cb)
        self.mig_srcu.srcu_barrier()

    def _srcu_mig_cb(self) -> None:
        """``srcu_mig_cb``: ``static_call_query(_folios_copy)`` (does nothing useful)."""

    offc_update_migrator = dma_update_migrator

    def start_offloading(self, m: Migrator) -> None:
        """``start_offloading``: install ``m`` and set the (unused) ``dispatch_to_dma`` flag."""
        self.dma_update_migrator(m)
        if self.dispatch_to_dma == 0:  # atomic_cmpxchg(&dispatch_to_dma, 0, 1)
            self.dispatch_to_dma = 1

    def stop_offloading(self) -> None:
        """``stop_offloading``: back to the "kernel" migrator, clear ``dispatch_to_dma``."""
        self.dma_update_migrator(None)
        if self.dispatch_to_dma == 1:  # atomic_cmpxchg(&dispatch_to_dma, 1, 0)
            self.dispatch_to_dma = 0

    def get_active_migrator_name(self) -> str:
        """``get_active_migrator_name``."""
        return self.name

    # ------------------------------------------------------------------ call side
    def folios_copy_dispatch(self, dst: list[Folio], src: list[Folio], nr: int) -> int:
        """``static_call(_folios_copy)(dst, src[, nr])`` from the batch move; None counts as 0.

        As posted, no SRCU read lock protects the call; ``reader_side_srcu`` adds one.
        """
        idx = self.mig_srcu.srcu_read_lock() if self.reader_side_srcu else -1
        self.inflight += 1
        try:
            rc = self._folios_copy(dst, src, nr)
        finally:
            self.inflight -= 1
            if idx >= 0:
                self.mig_srcu.srcu_read_unlock(idx)
        return 0 if rc is None else int(rc)

    def can_dma_migrate(self, dst: Folio, src: Folio) -> bool:
        """``static_call(_can_dma_migrate)(dst, src)``."""
        return bool(self._can_dma_migrate(dst, src))
