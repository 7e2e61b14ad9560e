"""move_pages(2) and migrate_pages(2) (mm/migrate.c kernel_move_pages, mm/mempolicy.c
kernel_migrate_pages) over the port's tasks and the migration core.

Both end in ``migrate_pages(..., MIGRATE_SYNC, MR_SYSCALL)`` through
``do_move_pages_to_node`` / ``migrate_to_node``, so they batch through the ASYNC first pass
of ``migrate_pages_sync``. Semantics follow v6.8: per-page status from
``add_page_for_migration`` (target node, -EFAULT, -ENOENT, -EACCES, -EBUSY), a positive
return for pages that could not be migrated, -ENOMEM and other fatal errors as the return
value, -ESRCH / -EPERM / -EINVAL / -ENODEV / -EACCES for bad arguments.

Call them from a process (they block in simulated time). The caller is the ``Task`` in
``sim.current.data["task"]`` if set, else the privileged root task; pass ``caller=`` to
choose explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableSequence, Sequence
from typing import TYPE_CHECKING

from emulator.frame_allocator import PAGE_SHIFT, PAGE_SIZE

from . import cost
from .errno import EACCES, EBUSY, EFAULT, EINVAL, ENODEV, ENOENT, EPERM, ESRCH
from .folio import Folio
from .migrate import MigrateCore, MigrationTargetControl
from .migrate_mode import MIGRATE_SYNC, MR_SYSCALL
from .mm import MAX_NUMNODES, NUMA_NO_NODE, VM_IO, VM_PFNMAP, Mm, MmStruct, Task

if TYPE_CHECKING:
    from drivers.kernel import Kernel

MPOL_MF_STRICT = 1 << 0
MPOL_MF_MOVE = 1 << 1
MPOL_MF_MOVE_ALL = 1 << 2


_ADD_PAGE_CHARGES = ("follow_page", "isolate_folio")  # what add_page_for_migration charges


def _add_tally(acc: cost.Charges, tally: dict[str, int]) -> None:
    """Add the charges counted in ``tally`` to the process's accumulator and reset it."""
    for name, n in tally.items():
        if n:
            acc[name] += n
            tally[name] = 0


class MmSyscalls:
    """The two migration syscalls of one kernel (``kernel.subsystem(MmSyscalls)``)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.mm = kernel.subsystem(Mm)
        self.core = kernel.subsystem(MigrateCore)

    # ------------------------------------------------------------------ helpers
    def current_task(self, caller: Task | None) -> Task:
        """The calling task: ``caller``, the process's ``data["task"]``, else root."""
        if caller is not None:
            return caller
        proc = self.kernel.sim.current
        if proc is not None and isinstance(proc.data.get("task"), Task):
            task: Task = proc.data["task"]
            return task
        return self.mm.root

    def _ptrace_may_access(self, caller: Task, task: Task) -> bool:
        """``ptrace_may_access(PTRACE_MODE_READ_REALCREDS)``: same uid or CAP_SYS_PTRACE."""
        return caller.uid == 0 or caller.uid == task.uid or caller is task

    def find_mm_struct(self, pid: int, caller: Task) -> tuple[MmStruct | None, frozenset[int], int]:
        """``find_mm_struct``: (mm, cpuset mems of the task, 0) or (None, _, -errno)."""
        if pid == 0:
            if caller.mm is None:
                return None, frozenset(), -EINVAL
            return caller.mm, caller.mems_allowed, 0
        task = self.mm.find_task_by_vpid(pid)
        if task is None:
            return None, frozenset(), -ESRCH
        if not self._ptrace_may_access(caller, task):
            return None, frozenset(), -EPERM
        if task.mm is None:
            return None, frozenset(), -EINVAL
        return task.mm, task.mems_allowed, 0

    def _isolate(
        self, folio: Folio, pagelist: list[Folio], acc: cost.Charges | None = None
    ) -> bool:
        """``folio_isolate_lru`` + list add + NR_ISOLATED accounting (or isolate_hugetlb)."""
        if acc is None:
            acc = cost.charges(self.kernel)
        acc["isolate_folio"] += 1
        mm = self.mm
        if folio.hugetlb:
            return mm.isolate_hugetlb(folio, pagelist)
        if not mm.folio_isolate_lru(folio):
            return False
        pagelist.append(folio)
        mm.nr_isolated[folio.nid] += 1 << folio.order
        return True

    # ------------------------------------------------------------------ move_pages
    def add_page_for_migration(
        self, mm: MmStruct, addr: int, node: int, pagelist: list[Folio], migrate_all: bool,
        acc: cost.Charges | None = None,
    ) -> int:
        """``add_page_for_migration``: 1 queued, 0 already on ``node``, or -errno.
        ``acc``: the caller's ``cost.charges`` (looked up when not given)."""
        if acc is None:
            acc = cost.charges(self.kernel)
        acc["follow_page"] += 1
        vma = mm.find_vma(addr)
        if vma is None or vma.flags & (VM_IO | VM_PFNMAP):  # !vma_migratable(vma)
            return -EFAULT
        pte = mm.ptes.get(addr >> PAGE_SHIFT)  # follow_page: the PTE, else a PMD mapping
        folio = pte.folio if pte is not None else mm.folio_at(addr)
        if folio is None:
            return -ENOENT
        if folio.nid == node:
            return 0
        if folio.mapcount > 1 and not migrate_all:
            return -EACCES
        # (v6.8 isolates a hugetlb folio only through its head page; the folio-based
        # __add_folio_for_migration of later kernels, followed here, isolates it from any.)
        if not self._isolate(folio, pagelist, acc):
            return -EBUSY
        return 1

    def do_move_pages_to_node(self, pagelist: list[Folio], node: int) -> int:
        """``do_move_pages_to_node``: migrate_pages(SYNC, MR_SYSCALL); put back leftovers."""
        mtc = MigrationTargetControl(nid=node, reason=MR_SYSCALL)
        core = self.core  # get_new_folio: alloc_migration_target itself (no wrapper call)
        err = core.migrate_pages(pagelist, core.alloc_migration_target, None, mtc, MIGRATE_SYNC,
                                 MR_SYSCALL)
        if err:
            self.core.putback_movable_pages(pagelist)
        return err

    def _store_status(self, status: MutableSequence[int], start: int, value: int, nr: int) -> int:
        cost.op(self.kernel, "store_status", nr)
        for k in range(start, start + nr):
            if k >= len(status):
                return -EFAULT
            status[k] = value
        return 0

    def _move_and_store(
        self, node: int, pagelist: list[Folio], status: MutableSequence[int], start: int,
        i: int, nr_pages: int,
    ) -> int:
        """``move_pages_and_store_status``."""
        if not pagelist:
            return 0
        err = self.do_move_pages_to_node(pagelist, node)
        if err:
            if err > 0:
                err += nr_pages - i
            return err
        return self._store_status(status, start, node, i - start)

    def do_pages_move(
        self, mm: MmStruct, task_nodes: frozenset[int], pages: Sequence[int],
        nodes: Sequence[int], status: MutableSequence[int], flags: int,
    ) -> int:
        """``do_pages_move``: group consecutive pages by target node, migrate each group."""
        nr_pages = len(pages)
        current_node = NUMA_NO_NODE
        pagelist: list[Folio] = []
        start = 0
        err = 0
        i = 0
        cost.op(self.kernel, "lru_cache_disable")
        jumped_out = False
        nr_nodes = len(nodes)
        node_memory = self.mm.node_memory
        migrate_all = bool(flags & MPOL_MF_MOVE_ALL)
        add_page = self.add_page_for_migration
        acc = cost.charges(self.kernel)  # this process's pending charges
        # add_page_for_migration's charges, counted in a plain dict (cheaper than the
        # accumulator) and added before anything that could flush them: _move_and_store
        tally = dict.fromkeys(_ADD_PAGE_CHARGES, 0)
        while i < nr_pages:
            if i >= nr_nodes:
                err = -EFAULT
                break
            p = pages[i]
            node = nodes[i]
            if node < 0 or node >= MAX_NUMNODES or node not in node_memory:
                err = -ENODEV
                break
            if node not in task_nodes:
                err = -EACCES
                break
            if current_node == NUMA_NO_NODE:
                current_node = node
                start = i
            elif node != current_node:
                _add_tally(acc, tally)
                err = self._move_and_store(current_node, pagelist, status, start, i, nr_pages)
                if err:
                    jumped_out = True
                    break
                start = i
                current_node = node
            err = add_page(mm, p, current_node, pagelist, migrate_all, tally)
            if err > 0:
                i += 1
                continue
            err = self._store_status(status, i, err if err else current_node, 1)
            if err:
                break
            _add_tally(acc, tally)
            err = self._move_and_store(current_node, pagelist, status, start, i, nr_pages)
            if err:
                if err > 0:
                    err -= 1
                jumped_out = True
                break
            current_node = NUMA_NO_NODE
            i += 1
        _add_tally(acc, tally)
        if not jumped_out:
            # out_flush: make sure we do not overwrite the existing error
            err1 = self._move_and_store(current_node, pagelist, status, start, i, nr_pages)
            if err >= 0:
                err = err1
        return err

    def do_pages_stat(
        self, mm: MmStruct, pages: Sequence[int], status: MutableSequence[int]
    ) -> int:
        """``do_pages_stat``: the node of each page, -EFAULT or -ENOENT."""
        for i, addr in enumerate(pages):
            cost.op(self.kernel, "follow_page")
            vma = mm.find_vma(addr)
            if vma is None:
                err = -EFAULT
            else:
                f = mm.folio_at(addr)
                err = f.nid if f is not None else -ENOENT
            if i >= len(status):
                return -EFAULT
            status[i] = err
        return 0

    def move_pages(
        self,
        pid: int,
        pages: Sequence[int],
        nodes: Sequence[int] | None,
        status: MutableSequence[int],
        flags: int = MPOL_MF_MOVE,
        *,
        caller: Task | None = None,
    ) -> int:
        """``move_pages(pid, count, pages, nodes, status, flags)``; ``nodes=None`` queries."""
        kernel = self.kernel
        with cost.deferred(kernel):
            cost.op(kernel, "syscall_entry")
            me = self.current_task(caller)
            if flags & ~(MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
                return -EINVAL
            if flags & MPOL_MF_MOVE_ALL and not me.capable("CAP_SYS_NICE"):
                return -EPERM
            mm, task_nodes, err = self.find_mm_struct(pid, me)
            if mm is None:
                return err
            if nodes is not None:
                return self.do_pages_move(mm, task_nodes, pages, nodes, status, flags)
            return self.do_pages_stat(mm, pages, status)

    # ------------------------------------------------------------------ migrate_pages
    @staticmethod
    def _get_nodes(mask: int | Iterable[int] | None, maxnode: int) -> tuple[int, int]:
        """``get_nodes``: (nodemask, 0), or -EINVAL for a set bit at or above MAX_NUMNODES.

        As in the kernel, ``maxnode`` is decremented first (only maxnode - 1 bits count).
        """
        maxnode -= 1
        if mask is None or maxnode <= 0:
            return 0, 0
        if maxnode > PAGE_SIZE * 8:
            return 0, -EINVAL
        if isinstance(mask, int):
            bits = mask
        else:
            bits = 0
            for n in mask:
                if n < 0:
                    return 0, -EINVAL
                bits |= 1 << n
        bits &= (1 << maxnode) - 1
        if bits >> MAX_NUMNODES:
            return 0, -EINVAL
        return bits, 0

    @staticmethod
    def _node_remap(oldbit: int, old: list[int], new: list[int]) -> int:
        """``node_remap``: the n-th set bit of ``old`` maps to the (n mod w)-th of ``new``."""
        if oldbit not in old or not new:
            return oldbit
        return new[old.index(oldbit) % len(new)]

    def migrate_to_node(self, mm: MmStruct, source: int, dest: int, flags: int) -> int:
        """``migrate_to_node``: queue every folio of ``mm`` on ``source`` and migrate it."""
        pagelist: list[Folio] = []
        nr_failed = 0
        seen: set[int] = set()
        for vma in mm.vmas:
            if not vma.vma_migratable():
                continue
            addr = vma.start
            while addr < vma.end:
                cost.op(self.kernel, "queue_pages_pte")
                f = mm.folio_at(addr)
                if f is None:
                    addr += PAGE_SIZE
                    continue
                step = PAGE_SIZE
                if f.order:
                    for m, va in f.mappers:
                        if m is mm and va <= addr < va + f.size:
                            step = va + f.size - addr
                if id(f) in seen or f.nid != source:
                    addr += step
                    continue
                seen.add(id(f))
                movable = flags & MPOL_MF_MOVE_ALL or f.mapcount <= 1
                if movable and not self._isolate(f, pagelist):
                    nr_failed += 1
                addr += step
        err = 0
        if pagelist:
            mtc = MigrationTargetControl(nid=dest, reason=MR_SYSCALL)
            err = self.core.migrate_pages(pagelist, self.core.alloc_migration_target, None, mtc,
                                          MIGRATE_SYNC, MR_SYSCALL)
            if err:
                self.core.putback_movable_pages(pagelist)
        if err >= 0:
            err += nr_failed
        return err

    def do_migrate_pages(self, mm: MmStruct, old: int, new: int, flags: int) -> int:
        """``do_migrate_pages``: move node by node, avoiding moves onto pending sources."""
        old_l = [n for n in range(MAX_NUMNODES) if old >> n & 1]
        new_l = [n for n in range(MAX_NUMNODES) if new >> n & 1]
        tmp = list(old_l)
        nr_failed = 0
        err = 0
        cost.op(self.kernel, "lru_cache_disable")
        while tmp:
            source = NUMA_NO_NODE
            dest = 0
            for s in tmp:
                if len(old_l) != len(new_l) and s in new_l:
                    continue
                d = self._node_remap(s, old_l, new_l)
                if s == d:
                    continue
                source, dest = s, d
                if dest not in tmp:
                    break
            if source == NUMA_NO_NODE:
                break
            tmp.remove(source)
            err = self.migrate_to_node(mm, source, dest, flags)
            if err > 0:
                nr_failed += err
            if err < 0:
                break
        if err < 0:
            return err
        return min(nr_failed, 2**31 - 1)

    def migrate_pages(
        self,
        pid: int,
        maxnode: int,
        old_nodes: int | Iterable[int] | None,
        new_nodes: int | Iterable[int] | None,
        *,
        caller: Task | None = None,
    ) -> int:
        """``migrate_pages(pid, maxnode, old_nodes, new_nodes)``: masks as ints or node lists.

        Returns the number of pages that could not be moved, or -errno.
        """
        kernel = self.kernel
        with cost.deferred(kernel):
            cost.op(kernel, "syscall_entry")
            me = self.current_task(caller)
            old, err = self._get_nodes(old_nodes, maxnode)
            if err:
                return err
            new, err = self._get_nodes(new_nodes, maxnode)
            if err:
                return err
            task = me if pid == 0 else self.mm.find_task_by_vpid(pid)
            if task is None:
                return -ESRCH
            if not self._ptrace_may_access(me, task):
                return -EPERM
            task_nodes = set(task.mems_allowed)  # cpuset_mems_allowed(task)
            new_set = {n for n in range(MAX_NUMNODES) if new >> n & 1}
            if not new_set <= task_nodes and not me.capable("CAP_SYS_NICE"):
                return -EPERM
            new_set &= set(me.mems_allowed)
            if not new_set:
                return -EINVAL  # err was set to -EINVAL before the checks
            new = sum(1 << n for n in new_set)
            if task.mm is None:
                return -EINVAL
            flags = MPOL_MF_MOVE_ALL if me.capable("CAP_SYS_NICE") else MPOL_MF_MOVE
            return self.do_migrate_pages(task.mm, old, new, flags)


def sys_move_pages(
    kernel: Kernel, pid: int, pages: Sequence[int], nodes: Sequence[int] | None,
    status: MutableSequence[int], flags: int = MPOL_MF_MOVE, *, caller: Task | None = None,
) -> int:
    """``move_pages(2)`` on ``kernel`` (see ``MmSyscalls.move_pages``)."""
    return kernel.subsystem(MmSyscalls).move_pages(pid, pages, nodes, status, flags, caller=caller)


def sys_migrate_pages(
    kernel: Kernel, pid: int, maxnode: int, old_nodes: int | Iterable[int] | None,
    new_nodes: int | Iterable[int] | None, *, caller: Task | None = None,
) -> int:
    """``migrate_pages(2)`` on ``kernel`` (see ``MmSyscalls.migrate_pages``)."""
    return kernel.subsystem(MmSyscalls).migrate_pages(pid, maxnode, old_nodes, new_nodes,
                                                      caller=caller)


__all__ = [
    "EBUSY",
    "MPOL_MF_MOVE",
    "MPOL_MF_MOVE_ALL",
    "MPOL_MF_STRICT",
    "MmSyscalls",
    "sys_migrate_pages",
    "sys_move_pages",
]
