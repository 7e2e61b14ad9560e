"""Memory-management state the migration core works on: tasks, mm_structs, VMAs, page
tables, anon_vmas, the page cache, folio allocation, folio locks and LRU isolation.

The port keeps the kernel's objects at the granularity migration needs
(include/linux/mm_types.h, mm/rmap.c, mm/filemap.c, mm/swap.c):

- ``Task``: pid, uid, ``CAP_SYS_NICE``, ``mems_allowed`` (cpuset) and an ``MmStruct``.
- ``MmStruct``: VMAs and the page table: ``ptes`` (one ``Pte`` per 4 KiB virtual page) and
  ``pmds`` (one ``Pte`` per 2 MiB PMD mapping a PMD-sized folio). A ``Pte`` is present
  (``migration`` false) or a migration entry that still names the source folio.
- Reverse map: ``Folio.mappers`` lists (mm, vaddr) where the whole folio is mapped, so
  ``try_to_migrate`` and ``remove_migration_ptes`` never search the page tables.
- ``AnonVma`` / ``AddressSpace`` are the two kinds of ``folio->mapping``; the page cache is
  ``AddressSpace.i_pages`` (index -> folio).

Folio locks sleep on a per-folio wait queue (``folio_wait_bit``), which is also where a task
touching a migration entry waits (``migration_entry_wait_on_locked``).
"""

from __future__ import annotations

import bisect
import gc
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from emulator.frame_allocator import PAGE_SHIFT, PAGE_SIZE, OutOfMemory
from emulator.memory import RamRegion
from emulator.sync import WaitQueue

from . import cost
from .folio import (
    HPAGE_PMD_NR,
    HPAGE_PMD_ORDER,
    Folio,
    PG_anon_exclusive,
    PG_locked,
    PG_lru,
    PG_swapbacked,
    PG_uptodate,
)

if TYPE_CHECKING:
    from drivers.kernel import Kernel

# vm_flags (include/linux/mm.h)
VM_READ = 0x1
VM_WRITE = 0x2
VM_EXEC = 0x4
VM_SHARED = 0x8
VM_LOCKED = 0x2000
VM_IO = 0x4000
VM_HUGETLB = 0x0040_0000
VM_PFNMAP = 0x400

MAX_NUMNODES = 64  # CONFIG_NODES_SHIFT = 6
_VMA_START = operator.attrgetter("start")  # the VMAs' sort key (bisect without a key list)
_FILL_PIECE = 16 << 20  # populate's pattern fill: bytes per numpy operation (bounded buffers)
NUMA_NO_NODE = -1


class AnonVma:
    """``struct anon_vma``: the mapping of anonymous folios (PAGE_MAPPING_ANON)."""

    anon = True

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.refcount = 1  # get_anon_vma / put_anon_vma

    def __repr__(self) -> str:
        return f"AnonVma({self.name!r})"


class AddressSpace:
    """``struct address_space`` of a file: the page cache ``i_pages`` (index -> folio).

    ``a_ops_migrate`` selects ``a_ops->migrate_folio``: "filemap" (``filemap_migrate_folio``,
    most filesystems and shmem), "buffer" (``buffer_migrate_folio``), "hugetlbfs", or None
    (no callback: ``fallback_migrate_folio``). ``unmovable`` models ``mapping_unmovable``.
    """

    anon = False

    def __init__(
        self, name: str = "", *, a_ops_migrate: str | None = "filemap", unmovable: bool = False
    ) -> None:
        self.name = name
        self.i_pages: dict[int, Folio] = {}
        self.a_ops_migrate = a_ops_migrate
        self.unmovable = unmovable
        self.writeback_fails = False  # writeout() result for fallback_migrate_folio

    def __repr__(self) -> str:
        return f"AddressSpace({self.name!r}, {len(self.i_pages)} folios)"


@dataclass
class Vma:
    """``struct vm_area_struct``: [start, end) with flags and its backing object."""

    mm: MmStruct
    start: int
    end: int
    flags: int = VM_READ | VM_WRITE
    anon_vma: AnonVma | None = None
    file: AddressSpace | None = None
    pgoff: int = 0  # file page offset of ``start``
    hugetlb: bool = False

    def contains(self, addr: int) -> bool:
        return self.start <= addr < self.end

    def linear_page_index(self, addr: int) -> int:
        """File/anon page index of ``addr`` (``linear_page_index``)."""
        return ((addr - self.start) >> PAGE_SHIFT) + self.pgoff

    def vma_migratable(self) -> bool:
        """``vma_migratable``: no VM_IO / VM_PFNMAP."""
        return not self.flags & (VM_IO | VM_PFNMAP)


class Pte:
    """A page-table entry: present (maps ``folio``) or a migration entry (names the source).

    ``write`` survives migration (writable vs readable migration entry), as in
    ``make_writable_migration_entry``.
    """

    __slots__ = ("folio", "idx", "migration", "write")

    def __init__(self, folio: Folio, idx: int = 0, write: bool = True) -> None:
        self.folio = folio
        self.idx = idx  # page of the folio this PTE maps (0 for a PMD entry)
        self.migration = False
        self.write = write

    def __repr__(self) -> str:
        kind = "migration" if self.migration else "present"
        return f"Pte({kind}, {self.folio!r})"


@dataclass
class Task:
    """``task_struct`` reduced to what move_pages/migrate_pages check."""

    pid: int
    name: str
    mm: MmStruct | None
    uid: int = 1000
    cap_sys_nice: bool = False
    mems_allowed: frozenset[int] = frozenset()

    def capable(self, cap: str) -> bool:
        """``capable(CAP_SYS_NICE)``; root (uid 0) has every capability."""
        return self.uid == 0 or (cap == "CAP_SYS_NICE" and self.cap_sys_nice)


@dataclass
class MmStruct:
    """``struct mm_struct``: VMAs sorted by start, the page tables, the owning task."""

    mm_subsys: Mm
    name: str
    vmas: list[Vma] = field(default_factory=list)
    ptes: dict[int, Pte] = field(default_factory=dict)  # vpn -> Pte
    pmds: dict[int, Pte] = field(default_factory=dict)  # vpn >> 9 -> Pte (PMD mapping)
    next_free: int = 0x7F00_0000_0000
    anon_vma: AnonVma = field(default_factory=AnonVma)
    owner: Task | None = None
    # the VMA find_vma found last (the old per-thread vmacache): runs of lookups in one VMA
    # skip the bisection; mmap, the only change to the VMA list, resets it
    _vma_hint: Vma | None = field(default=None, repr=False, compare=False)

    @property
    def nr_locked_vmas(self) -> int:
        """VMAs with VM_LOCKED (mlock): only then does unmapping look for them."""
        n = 0
        for v in self.vmas:  # a plain loop: asked once per unmapped folio
            if v.flags & VM_LOCKED:
                n += 1
        return n

    # ------------------------------------------------------------------ VMAs
    def find_vma(self, addr: int) -> Vma | None:
        """``vma_lookup``: the VMA containing ``addr``."""
        vma = self._vma_hint
        if vma is not None and vma.start <= addr < vma.end:
            return vma
        vmas = self.vmas
        i = bisect.bisect_right(vmas, addr, key=_VMA_START) - 1
        if i >= 0:
            vma = vmas[i]
            if addr < vma.end:  # vma.contains(addr): start <= addr by the bisection
                self._vma_hint = vma
                return vma
        return None

    def mmap(
        self,
        length: int,
        *,
        file: AddressSpace | None = None,
        pgoff: int = 0,
        flags: int = VM_READ | VM_WRITE,
        hugetlb: bool = False,
        addr: int | None = None,
        align: int = HPAGE_PMD_NR * PAGE_SIZE,
    ) -> int:
        """Create a VMA of ``length`` bytes (anonymous, or a file mapping at ``pgoff``)."""
        length = -(-length // PAGE_SIZE) * PAGE_SIZE
        if addr is None:
            addr = -(-self.next_free // align) * align
            self.next_free = addr + length + align  # leave a hole between VMAs
        if hugetlb:
            flags |= VM_HUGETLB
        vma = Vma(
            self,
            addr,
            addr + length,
            flags,
            anon_vma=None if file is not None else self.anon_vma,
            file=file,
            pgoff=pgoff,
            hugetlb=hugetlb,
        )
        starts = [v.start for v in self.vmas]
        self.vmas.insert(bisect.bisect_left(starts, addr), vma)
        self._vma_hint = None
        return addr

    # ------------------------------------------------------------------ page table
    def lookup(self, addr: int) -> tuple[Pte | None, int]:
        """(entry, page index within its folio) for ``addr``; (None, 0) if none."""
        vpn = addr >> PAGE_SHIFT
        pte = self.ptes.get(vpn)
        if pte is not None:
            return pte, pte.idx
        pmd = self.pmds.get(vpn >> HPAGE_PMD_ORDER)
        if pmd is not None:
            return pmd, vpn & (HPAGE_PMD_NR - 1)
        return None, 0

    def folio_at(self, addr: int) -> Folio | None:
        """``follow_page``/``folio_walk_start``: the folio mapped (or migrating) at addr."""
        pte, _ = self.lookup(addr)
        return pte.folio if pte is not None else None

    def set_entries(self, vaddr: int, folio: Folio, write: bool = True) -> None:
        """Install a present mapping of the whole ``folio`` at ``vaddr``."""
        vpn = vaddr >> PAGE_SHIFT
        if folio.order == HPAGE_PMD_ORDER and vpn % HPAGE_PMD_NR == 0:
            self.pmds[vpn >> HPAGE_PMD_ORDER] = Pte(folio, 0, write)
        else:
            for i in range(folio.nr_pages):
                self.ptes[vpn + i] = Pte(folio, i, write)

    def entries(self, vaddr: int, folio: Folio) -> Iterator[Pte]:
        """The entries mapping ``folio`` at ``vaddr`` (page_vma_mapped_walk)."""
        vpn = vaddr >> PAGE_SHIFT
        if folio.order == HPAGE_PMD_ORDER and vpn % HPAGE_PMD_NR == 0:
            pmd = self.pmds.get(vpn >> HPAGE_PMD_ORDER)
            if pmd is not None:
                yield pmd
            return
        get = self.ptes.get
        for i in range(folio.nr_pages):
            e = get(vpn + i)
            if e is not None:
                yield e

    # ------------------------------------------------------------------ back door
    def _phys(self, addr: int) -> tuple[int, Folio]:
        pte, idx = self.lookup(addr)
        if pte is None:
            raise KeyError(f"{self.name}: no page at {addr:#x}")
        f = pte.folio
        return f.phys + (idx << PAGE_SHIFT) + (addr & (PAGE_SIZE - 1)), f

    def read_bytes(self, addr: int, n: int) -> np.ndarray:
        """Untimed read through the page table (test back door; follows migration entries)."""
        out = np.empty(n, np.uint8)
        pos = 0
        while pos < n:
            a = addr + pos
            chunk = min(n - pos, PAGE_SIZE - (a & (PAGE_SIZE - 1)))
            phys, _ = self._phys(a)
            out[pos : pos + chunk] = self.mm_subsys.kernel.mem.read(phys, chunk)
            pos += chunk
        return out

    def write_bytes(self, addr: int, data: np.ndarray | bytes) -> None:
        """Untimed write through the page table (test back door, for initial contents)."""
        arr = np.frombuffer(bytes(data), np.uint8) if not isinstance(data, np.ndarray) else data
        pos = 0
        n = arr.size
        while pos < n:
            a = addr + pos
            chunk = min(n - pos, PAGE_SIZE - (a & (PAGE_SIZE - 1)))
            phys, _ = self._phys(a)
            self.mm_subsys.kernel.mem.write(phys, arr[pos : pos + chunk])
            pos += chunk

    def page_nodes(self, addr: int, npages: int) -> list[int]:
        """Node of each base page of [addr, addr + npages pages) (-ENOENT if unmapped)."""
        out = []
        for i in range(npages):
            f = self.folio_at(addr + i * PAGE_SIZE)
            out.append(f.nid if f is not None else -2)
        return out

    def __repr__(self) -> str:
        return f"MmStruct({self.name!r}, {len(self.vmas)} vmas)"


class Mm:
    """The kernel's memory-management state (one per Kernel): tasks, folio allocation,
    folio locks, LRU isolation. ``kernel.subsystem(Mm)``."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.platform = kernel.platform
        self.frames = kernel.platform.frames  # per-node FrameAllocator (a fixed list)
        self.tasks: dict[int, Task] = {}
        self._next_pid = 100
        self._lock_wq: dict[int, WaitQueue] = {}
        self.nr_nodes = self.platform.nr_nodes
        self.node_memory = frozenset(range(self.nr_nodes))  # node_states[N_MEMORY]
        self.nr_isolated = [0] * self.nr_nodes  # NR_ISOLATED_ANON + FILE, pages
        self.folios_freed = 0
        self.migration_waits = 0  # faults that hit a migration entry
        self.migration_wait_ps = 0  # simulated time tasks spent waiting on them
        self.root = Task(0, "root", None, uid=0, cap_sys_nice=True, mems_allowed=self.node_memory)

    # ------------------------------------------------------------------ tasks
    def create_process(
        self,
        name: str = "task",
        *,
        uid: int = 1000,
        cap_sys_nice: bool = False,
        mems_allowed: Iterable[int] | None = None,
    ) -> Task:
        """A new task with an empty ``mm_struct`` (fork+exec of a program)."""
        pid = self._next_pid
        self._next_pid += 1
        mm = MmStruct(self, name)
        mm.anon_vma = AnonVma(name)
        allowed = frozenset(mems_allowed) if mems_allowed is not None else self.node_memory
        task = Task(pid, name, mm, uid=uid, cap_sys_nice=cap_sys_nice, mems_allowed=allowed)
        mm.owner = task
        self.tasks[pid] = task
        return task

    def find_task_by_vpid(self, pid: int) -> Task | None:
        """``find_task_by_vpid``."""
        return self.tasks.get(pid)

    # ------------------------------------------------------------------ folios
    def alloc_folio(self, node: int, order: int = 0, *, hugetlb: bool = False) -> Folio | None:
        """``__folio_alloc(gfp | __GFP_THISNODE, order, nid)``: None when the node is full."""
        try:
            phys = self.frames[node].alloc_pages(order)
        except OutOfMemory:
            return None
        return Folio(phys, order, node, 0, None, 0, 1, hugetlb)

    def alloc_folios_bulk(self, node: int, order: int, count: int) -> list[Folio]:
        """``count`` folios of ``order`` on ``node`` (population of large buffers)."""
        addrs = self.platform.frames[node].alloc_pages_bulk(order, count)
        return [Folio(a, order, node, refcount=1) for a in addrs.tolist()]

    def free_folio(self, folio: Folio) -> None:
        """Return the folio's frames to its node (``free_pages_prepare`` + free)."""
        self.frames[folio.nid].free_pages_block(folio.phys, folio.order)
        folio.refcount = 0
        folio.flags = 0
        self.folios_freed += 1

    def folio_put(self, folio: Folio) -> None:
        """``folio_put``: drop a reference, free the folio at zero."""
        ref = folio.refcount - 1
        folio.refcount = ref
        if ref == 0:
            self.free_folio(folio)
        elif ref < 0:
            raise RuntimeError(f"folio_put underflow on {folio!r}")

    # ------------------------------------------------------------------ locks
    def folio_trylock(self, folio: Folio) -> bool:
        """``folio_trylock``."""
        if folio.flags & PG_locked:
            return False
        folio.flags |= PG_locked
        return True

    def folio_lock(self, folio: Folio) -> None:
        """``folio_lock``: sleep on the folio's wait queue until the lock is free."""
        while folio.flags & PG_locked:
            self.folio_wait_locked(folio)
        folio.flags |= PG_locked

    def folio_unlock(self, folio: Folio) -> None:
        """``folio_unlock``: clear PG_locked and wake every waiter on the folio."""
        flags = folio.flags
        if not flags & PG_locked:
            raise RuntimeError(f"folio_unlock of an unlocked folio {folio!r}")
        lock_wq = self._lock_wq
        if not lock_wq:  # nobody sleeps on any folio (the common case): no lookups
            folio.flags = flags & ~PG_locked
            return
        wq = lock_wq.get(id(folio))
        if wq is not None and len(wq):
            cost.flush(self.kernel)  # the waker's own pending work happens before the wake
        folio.flags &= ~PG_locked
        wq = lock_wq.pop(id(folio), None)
        if wq is not None:
            wq.wake_all()

    def folio_has_waiters(self, folio: Folio) -> bool:
        """True when some task sleeps on the folio (PG_waiters)."""
        lock_wq = self._lock_wq
        if not lock_wq:
            return False
        wq = lock_wq.get(id(folio))
        return wq is not None and len(wq) > 0

    def folio_wait_locked(self, folio: Folio) -> None:
        """Sleep until the folio is unlocked (``folio_wait_bit(folio, PG_locked)``)."""
        if not folio.flags & PG_locked:
            return
        wq = self._lock_wq.get(id(folio))
        if wq is None:
            wq = WaitQueue(self.kernel.sim, "folio_lock")
            self._lock_wq[id(folio)] = wq
        wq.wait()

    # ------------------------------------------------------------------ LRU
    def folio_isolate_lru(self, folio: Folio) -> bool:
        """``folio_isolate_lru``: take it off the LRU with a reference; False if not on it."""
        if not folio.flags & PG_lru:
            return False
        folio.flags &= ~PG_lru
        folio.refcount += 1
        return True

    def folio_putback_lru(self, folio: Folio) -> None:
        """``folio_putback_lru``: back on the LRU, drop the isolation reference."""
        folio.flags |= PG_lru
        self.folio_put(folio)

    def isolate_hugetlb(self, folio: Folio, pagelist: list[Folio]) -> bool:
        """``isolate_hugetlb``: for hugetlb folios PG_lru here means "migratable, on the list"."""
        if not folio.hugetlb or not folio.flags & PG_lru:
            return False
        folio.flags &= ~PG_lru
        folio.refcount += 1
        pagelist.append(folio)
        return True

    def folio_putback_active_hugetlb(self, folio: Folio) -> None:
        """``folio_putback_active_hugetlb``."""
        folio.flags |= PG_lru
        self.folio_put(folio)

    # ------------------------------------------------------------------ population
    def populate(
        self,
        task: Task,
        addr: int,
        length: int,
        node: int,
        *,
        order: int = 0,
        fill: str | None = "pattern",
        seed: int = 0,
    ) -> list[Folio]:
        """Fault in [addr, addr+length) with folios of ``order`` on ``node`` (MAP_POPULATE).

        Anonymous VMAs get fresh anonymous folios; file VMAs get page-cache folios (created
        in the file's ``i_pages`` unless already cached, then just mapped); hugetlb VMAs get
        hugetlb folios (order 9). ``fill="pattern"`` writes distinct contents per page (a
        seeded random 4 KiB block with the page number stamped in), ``fill=None`` leaves
        pages zero. Returns the folios mapped, in address order.

        The cyclic garbage collector is paused meanwhile: population only creates objects
        that stay alive, and a million new folios and PTEs would otherwise trigger repeated
        full collections (a third of a 1 GiB population's time).
        """
        gc_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._populate(task, addr, length, node, order, fill, seed)
        finally:
            if gc_enabled:
                gc.enable()

    def _populate(
        self, task: Task, addr: int, length: int, node: int, order: int, fill: str | None,
        seed: int,
    ) -> list[Folio]:
        """The body of ``populate``."""
        mm = task.mm
        assert mm is not None
        vma = mm.find_vma(addr)
        if vma is None or addr + length > vma.end:
            raise ValueError(f"[{addr:#x}, +{length:#x}) is not inside one VMA")
        if vma.hugetlb:
            order = HPAGE_PMD_ORDER
        nr = 1 << order
        fsize = PAGE_SIZE << order
        if addr % fsize or length % fsize:
            raise ValueError(f"range must be aligned to the folio size {fsize:#x}")
        count = length // fsize
        folios: list[Folio] = []
        new: list[Folio] = []
        if vma.file is not None:
            cache = vma.file.i_pages
            for k in range(count):
                index = vma.linear_page_index(addr + k * fsize)
                f = cache.get(index)
                if f is None:
                    f2 = self.alloc_folio(node, order, hugetlb=vma.hugetlb)
                    if f2 is None:
                        raise OutOfMemory(f"node {node}: cannot populate")
                    f = f2
                    f.mapping = vma.file
                    f.index = index
                    f.refcount = 1 if vma.hugetlb else nr  # page-cache references
                    f.flags |= PG_lru | PG_uptodate
                    cache[index] = f
                    new.append(f)
                folios.append(f)
        else:
            if vma.hugetlb:
                folios = []
                for _ in range(count):
                    f2 = self.alloc_folio(node, order, hugetlb=True)
                    if f2 is None:
                        raise OutOfMemory(f"node {node}: no hugetlb page")
                    folios.append(f2)
            else:
                folios = self.alloc_folios_bulk(node, order, count)
            for k, f in enumerate(folios):
                f.mapping = vma.anon_vma
                f.index = vma.linear_page_index(addr + k * fsize)
                f.refcount = 0  # the mapping below takes the reference
                f.flags |= PG_lru | PG_swapbacked | PG_uptodate | PG_anon_exclusive
            new = folios
        for k, f in enumerate(folios):
            va = addr + k * fsize
            mm.set_entries(va, f)
            f.mappers.append((mm, va))
            f.mapcount += 1
            f.refcount += 1
        if fill == "pattern" and new:
            self._fill_pattern(new, seed)
        return folios

    def _fill_pattern(self, folios: list[Folio], seed: int) -> None:
        """Distinct page contents, written in long contiguous runs (no per-byte Python)."""
        rng = np.random.default_rng(seed)
        block = rng.integers(0, 256, PAGE_SIZE, dtype=np.uint8)
        mem = self.kernel.mem
        # Group physically contiguous folios into runs; one numpy write per run.
        runs: list[tuple[int, int]] = []
        for f in sorted(folios, key=lambda x: x.phys):
            if runs and runs[-1][0] + runs[-1][1] == f.phys:
                runs[-1] = (runs[-1][0], runs[-1][1] + f.size)
            else:
                runs.append((f.phys, f.size))
        stamp = np.array([seed], "<u8").view(np.uint8)
        for start, size in runs:
            # Each piece is filled in place in its RAM chunk when it lies in one (no temporary
            # buffer: every byte is touched once), else through a buffer of at most one piece.
            pos = 0
            while pos < size:
                addr = start + pos
                n = min(_FILL_PIECE - addr % _FILL_PIECE, size - pos)  # aligned: in one chunk
                pos += n
                npages = n // PAGE_SIZE
                ram = mem.find(addr)
                view = ram.view(addr - ram.base, n) if isinstance(ram, RamRegion) else None
                buf = np.empty(n, np.uint8) if view is None else view
                pages = buf.reshape(npages, PAGE_SIZE)
                pages[:] = block
                pfns = (addr >> PAGE_SHIFT) + np.arange(npages, dtype=np.int64)
                pages[:, :8] = pfns.astype("<u8").view(np.uint8).reshape(npages, 8)
                pages[:, 8:16] = stamp
                if view is None:
                    mem.write(addr, buf)

    def share_mapping(self, src: Task, addr: int, length: int, dst: Task) -> int:
        """Map the folios of src's [addr, addr+length) into ``dst`` too (fork-style sharing
        of anonymous memory, or a second mapping of a cached file). Returns dst's address."""
        smm, dmm = src.mm, dst.mm
        assert smm is not None and dmm is not None
        svma = smm.find_vma(addr)
        assert svma is not None
        daddr = dmm.mmap(length, file=svma.file, pgoff=svma.linear_page_index(addr),
                         flags=svma.flags, hugetlb=svma.hugetlb)
        dvma = dmm.find_vma(daddr)
        assert dvma is not None
        if svma.file is None:
            dvma.anon_vma = svma.anon_vma
        off = 0
        while off < length:
            f = smm.folio_at(addr + off)
            if f is None:
                off += PAGE_SIZE
                continue
            dmm.set_entries(daddr + off, f)
            f.mappers.append((dmm, daddr + off))
            f.mapcount += 1
            f.refcount += 1
            off += f.size
        return daddr

    def checksum(self, task: Task, addr: int, npages: int) -> np.ndarray:
        """Per-page 64-bit checksums of the task's view of [addr, +npages pages)."""
        mm = task.mm
        assert mm is not None
        out = np.empty(npages, np.uint64)
        mem = self.kernel.mem
        weights = np.arange(1, PAGE_SIZE // 8 + 1, dtype=np.uint64)
        for i in range(npages):
            phys, _ = mm._phys(addr + i * PAGE_SIZE)
            words = mem.read(phys, PAGE_SIZE).view("<u8")
            out[i] = np.bitwise_xor.reduce(words * weights) ^ np.uint64(words.sum())
        return out

    def folios_of(self, task: Task, addr: int, length: int) -> list[Folio]:
        """The distinct folios mapped in [addr, addr+length), in address order."""
        mm = task.mm
        assert mm is not None
        out: list[Folio] = []
        seen: set[int] = set()
        off = 0
        while off < length:
            f = mm.folio_at(addr + off)
            if f is not None and id(f) not in seen:
                seen.add(id(f))
                out.append(f)
            off += PAGE_SIZE
        return out

    def folio_state(self, folio: Folio) -> dict[str, Any]:
        """A readable summary of a folio (debugging aid)."""
        return {
            "phys": hex(folio.phys),
            "order": folio.order,
            "nid": folio.nid,
            "refcount": folio.refcount,
            "mapcount": folio.mapcount,
            "flags": hex(folio.flags),
            "mappers": [(m.name, hex(v)) for m, v in folio.mappers],
        }
