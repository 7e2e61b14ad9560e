"""User tasks touching their memory while it migrates (the model is
tools/testing/selftests/mm/migration.c: threads read and write pages that another thread
keeps moving between nodes).

``user_read`` / ``user_write`` run inside a process and go through the task's page table.
A present entry is accessed with the CPU model's timed ``load`` / ``store``; a migration
entry takes the fault path (``do_swap_page`` -> ``migration_entry_wait`` ->
``migration_entry_wait_on_locked``): the task sleeps on the source folio's lock until the
move phase (or the undo) restores the mapping, then retries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from emulator.event_kernel import Process
from emulator.frame_allocator import PAGE_SHIFT, PAGE_SIZE

from .folio import PG_locked
from .mm import Mm, Task

if TYPE_CHECKING:
    from drivers.kernel import Kernel


class SegmentationFault(Exception):
    """An access to an address with no mapping (SIGSEGV)."""


class StaleMigrationEntry(Exception):
    """A migration entry whose folio is unlocked: no migration will ever restore it
    (a consequence of a faithful bug, e.g. the seed's kmalloc-break)."""


def _resolve(kernel: Kernel, task: Task, addr: int, write: bool) -> int:
    """Walk the page table for ``addr``, waiting out migration entries; returns phys."""
    mm = task.mm
    assert mm is not None
    mmsub = kernel.subsystem(Mm)
    while True:
        pte, idx = mm.lookup(addr)
        if pte is None:
            raise SegmentationFault(f"{task.name}: no mapping at {addr:#x}")
        folio = pte.folio
        if not pte.migration:
            return folio.phys + (idx << PAGE_SHIFT) + (addr & (PAGE_SIZE - 1))
        # do_swap_page -> migration_entry_wait -> migration_entry_wait_on_locked
        kernel.cpu.op("page_fault")
        pte, idx = mm.lookup(addr)  # re-read the entry under the PTL after the fault entry
        if pte is None or not pte.migration:
            continue
        folio = pte.folio
        mmsub.migration_waits += 1
        if not folio.flags & PG_locked:
            raise StaleMigrationEntry(f"{task.name}: {addr:#x} -> unlocked {folio!r}")
        t0 = kernel.sim.now
        mmsub.folio_wait_locked(folio)
        mmsub.migration_wait_ps += kernel.sim.now - t0


def user_read(kernel: Kernel, task: Task, addr: int, n: int) -> np.ndarray:
    """Timed loads of ``n`` bytes at ``addr`` by ``task`` (may wait on a migration)."""
    out = np.empty(n, np.uint8)
    pos = 0
    while pos < n:
        a = addr + pos
        chunk = min(n - pos, PAGE_SIZE - (a & (PAGE_SIZE - 1)))
        phys = _resolve(kernel, task, a, False)
        out[pos : pos + chunk] = kernel.cpu.load(phys, chunk)
        pos += chunk
    return out


def user_write(kernel: Kernel, task: Task, addr: int, data: np.ndarray | bytes) -> None:
    """Timed stores of ``data`` at ``addr`` by ``task`` (may wait on a migration)."""
    arr = np.frombuffer(bytes(data), np.uint8) if not isinstance(data, np.ndarray) else data
    pos = 0
    n = arr.size
    while pos < n:
        a = addr + pos
        chunk = min(n - pos, PAGE_SIZE - (a & (PAGE_SIZE - 1)))
        # Re-resolve right before the store: the store itself is atomic w.r.t. migration
        # because the bytes land at the call (the time is charged afterwards).
        phys = _resolve(kernel, task, a, True)
        kernel.cpu.store(phys, arr[pos : pos + chunk])
        pos += chunk


def user_read_u64(kernel: Kernel, task: Task, addr: int) -> int:
    """One 8-byte load."""
    return int(user_read(kernel, task, addr, 8).view("<u8")[0])


def user_write_u64(kernel: Kernel, task: Task, addr: int, value: int) -> None:
    """One 8-byte store."""
    user_write(kernel, task, addr, np.array([value], "<u8").view(np.uint8))


def spawn_task(kernel: Kernel, task: Task, fn: Callable[..., Any], *args: Any, core: int = 0,
               delay: int = 0) -> Process:
    """Run ``fn(*args)`` as a thread of ``task`` on ``core`` (``proc.data["task"] = task``,
    which the syscalls use as the caller)."""
    proc = kernel.sim.spawn(fn, *args, core=core, name=f"{task.name}/{task.pid}", delay=delay)
    proc.data["task"] = task
    return proc
