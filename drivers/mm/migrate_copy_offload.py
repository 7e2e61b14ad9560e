"""Latest offload interface (linux-design §5.1): include/linux/migrate_copy_offload.h and
mm/migrate_copy_offload.c of the v4..v6 series and the dev tree.

One active migrator, registered with a reason mask. The migration path enters an SRCU
read-side section around the static call (``migrate_offload_batch_copy``), and
``migrate_offload_unregister`` waits in ``synchronize_srcu`` until no batch copy is still
inside the migrator before dropping its module reference (the v4 fix of the seed's
updater-side lock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator.sync import Mutex

from .errno import EBUSY, EINVAL, ENODEV
from .folio import Folio
from .folio_copy import migrate_folios_mc_copy
from .migrate_mode import MIGRATE_REASON_NAMES, MR_TYPES
from .module import module_put, try_module_get
from .srcu import SrcuStruct

if TYPE_CHECKING:
    from drivers.kernel import Kernel

MIGRATOR_NAME_LEN = 32
MIGRATE_OFFLOAD_REASONS_ALLOWED = (1 << MR_TYPES) - 1


@dataclass
class OffloadMigrator:
    """``struct migrator`` (latest): ``offload_copy(dst, src, folio_cnt) -> 0 | -errno``.

    Contract: set ``FOLIO_CONTENT_COPIED`` in ``dst.migrate_info`` for every folio copied;
    unmarked folios get a per-folio CPU copy in the move phase. A migrator may decline a
    batch (return an error without marking anything).
    """

    name: str
    offload_copy: Callable[[list[Folio], list[Folio], int], int]
    owner: object | None = None


def parse_reason_mask(text: str) -> int:
    """Parse a reason mask: a number (hex ``0x..`` or decimal), ``all``, ``none``, or
    comma-separated ``migrate_reason_names``. Returns the mask or ``-EINVAL``."""
    s = text.strip().lower()
    if s == "all":
        return MIGRATE_OFFLOAD_REASONS_ALLOWED
    if s in ("none", ""):
        return 0
    try:
        value = int(s, 0)
    except ValueError:
        value = -1
    if value >= 0:
        return value & MIGRATE_OFFLOAD_REASONS_ALLOWED
    mask = 0
    for tok in s.split(","):
        tok = tok.strip()
        if tok not in MIGRATE_REASON_NAMES:
            return -EINVAL
        mask |= 1 << MIGRATE_REASON_NAMES.index(tok)
    return mask


def format_reason_mask(mask: int) -> str:
    """Format a mask back as comma-separated reason names, or ``none``."""
    names = [n for i, n in enumerate(MIGRATE_REASON_NAMES) if mask & (1 << i)]
    return ",".join(names) if names else "none"


class MigrateCopyOffload:
    """mm/migrate_copy_offload.c state for one kernel: ``migrate_offload_enabled`` static key,
    ``active_migrator``, ``active_reason_mask``, ``migrate_offload_mutex``,
    ``migrate_offload_srcu`` and the static call ``migrate_offload_batch_copy_fn``."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.enabled = False  # DEFINE_STATIC_KEY_FALSE(migrate_offload_enabled)
        self.active: OffloadMigrator | None = None
        self.active_reason_mask = 0
        self.mutex = Mutex(kernel.sim, "migrate_offload_mutex")
        self.srcu = SrcuStruct(kernel.sim, "migrate_offload_srcu")
        self._batch_copy_fn: Callable[[list[Folio], list[Folio], int], int] = self._default_copy
        self.batches = 0
        self.batches_offloaded = 0

    def _default_copy(self, dst: list[Folio], src: list[Folio], cnt: int) -> int:
        return migrate_folios_mc_copy(self.kernel, dst, src, cnt)

    # ------------------------------------------------------------------ registration
    def migrate_offload_register(self, m: OffloadMigrator, reason_mask: int) -> int:
        """Make ``m`` the active migrator for the reasons in ``reason_mask``.

        -EINVAL without ``offload_copy``; -EBUSY if a migrator is already active; -ENODEV if
        its module is going away. The mask is clamped to MIGRATE_OFFLOAD_REASONS_ALLOWED.
        """
        if m is None or m.offload_copy is None:
            return -EINVAL
        reason_mask &= MIGRATE_OFFLOAD_REASONS_ALLOWED
        self.mutex.lock()
        try:
            if self.active is not None:
                return -EBUSY
            if not try_module_get(m.owner):
                return -ENODEV
            self.active = m
            self.active_reason_mask = reason_mask
            self._batch_copy_fn = m.offload_copy  # static_call_update
            self.enabled = True  # static_branch_enable
        finally:
            self.mutex.unlock()
        reasons = format_reason_mask(reason_mask)
        self.kernel.printk(f"migrate_offload: {m.name} registered, reasons {reasons}")
        return 0

    def migrate_offload_unregister(self, m: OffloadMigrator) -> int:
        """Deactivate ``m`` (-EINVAL if it is not the active one), then wait in
        ``synchronize_srcu`` until no batch copy is inside it before ``module_put``."""
        self.mutex.lock()
        if self.active is not m:
            self.mutex.unlock()
            return -EINVAL
        self.enabled = False  # static_branch_disable
        self.active_reason_mask = 0
        self._batch_copy_fn = self._default_copy  # static_call_update back to the default
        self.active = None
        self.mutex.unlock()
        self.srcu.synchronize_srcu()
        module_put(m.owner)
        self.kernel.printk(f"migrate_offload: {m.name} unregistered")
        return 0

    def migrate_offload_set_reason_mask(self, m: OffloadMigrator, mask: int) -> int:
        """Change the reason mask of the active migrator ``m`` (-EINVAL otherwise)."""
        self.mutex.lock()
        try:
            if self.active is not m:
                return -EINVAL
            self.active_reason_mask = mask & MIGRATE_OFFLOAD_REASONS_ALLOWED
            return 0
        finally:
            self.mutex.unlock()

    parse_reason_mask = staticmethod(parse_reason_mask)
    format_reason_mask = staticmethod(format_reason_mask)

    def get_active_migrator_name(self) -> str:
        """Name of the active migrator, or "kernel" for the default CPU copy."""
        return self.active.name if self.active is not None else "kernel"

    # ------------------------------------------------------------------ call side
    def migrate_should_offload(self, reason: int) -> bool:
        """``migrate_should_offload``: static key on and ``reason`` in the active mask."""
        return self.enabled and bool(self.active_reason_mask & (1 << int(reason)))

    def migrate_offload_batch_copy(self, dst: list[Folio], src: list[Folio], cnt: int) -> int:
        """``srcu_read_lock``; static_call(migrate_offload_batch_copy_fn); ``srcu_read_unlock``."""
        idx = self.srcu.srcu_read_lock()
        self.batches += 1
        if self._batch_copy_fn != self._default_copy:
            self.batches_offloaded += 1
        try:
            return int(self._batch_copy_fn(dst, src, cnt))
        finally:
            self.srcu.srcu_read_unlock(idx)
