"""The migration core's one-step common cases (``MigrateCore._unmap_anon_fast``,
``_prep_anon_fast``, ``_finalize_anon_fast``) against the general per-folio functions.

Each case builds the same machine twice, runs the same migrations with the fast paths on
and off, and requires every observable to be equal: each folio's placement, flags,
references, mappings, record and reverse map, the page tables, the allocators' free lists,
the stats, the t1..t4 records, every named CPU charge, the cores' busy cycles, the
simulated time, the statuses and the bytes every task reads. The workloads mix the common
case with every reason to leave it (shared, file-backed, THP, mlocked, locked, pinned,
movable folios, a full target node, debug page poisoning) so both paths run side by side.
"""

from __future__ import annotations

from typing import Any

import pytest

from drivers.mm.folio import (
    Folio,
    PG_active,
    PG_dirty,
    PG_mlocked,
    PG_referenced,
    PG_unevictable,
)
from drivers.mm.migrate import poison_folio
from drivers.mm.mm import VM_LOCKED, AddressSpace, Task
from drivers.mm.syscalls import MPOL_MF_MOVE_ALL
from emulator.experiments.stack import Machine, build_machine
from emulator.fault_injection import enable_page_poisoning
from emulator.frame_allocator import MAX_ORDER, PAGE_SIZE

BLOCK = PAGE_SIZE << MAX_ORDER


def _name(obj: Any) -> Any:
    """A run-independent name for an mm object (anon_vma, address_space, mm)."""
    if obj is None:
        return None
    return (type(obj).__name__, getattr(obj, "name", None), getattr(obj, "refcount", None))


def _folio_state(f: Folio) -> tuple[Any, ...]:
    private = f.private
    if isinstance(private, tuple):
        private = (_name(private[0]), private[1])
    elif private is not None:
        private = repr(private)
    return (f.phys, f.order, f.nid, f.flags, f.refcount, f.mapcount, _name(f.mapping),
            f.index, private, f.migrate_info, f.hugetlb,
            [(mm.name, va) for mm, va in f.mappers])


def snapshot(m: Machine, tasks: list[Task], extra: list[Folio]) -> dict[str, Any]:
    """Everything a user of the machine could observe."""
    mm = m.mm
    folios: dict[int, Folio] = {id(f): f for f in extra}
    tables = []
    for t in tasks:
        assert t.mm is not None
        ptes = []
        for vpn, e in sorted(t.mm.ptes.items()):
            folios[id(e.folio)] = e.folio
            ptes.append((vpn, e.folio.phys, e.idx, e.migration, e.write))
        pmds = []
        for k, e in sorted(t.mm.pmds.items()):
            folios[id(e.folio)] = e.folio
            pmds.append((k, e.folio.phys, e.migration, e.write))
        tables.append((t.name, ptes, pmds, _name(t.mm.anon_vma)))
    cpu = m.platform.cpu
    return {
        "tables": tables,
        "folios": sorted(_folio_state(f) for f in folios.values()),
        "frames": [(fa.free_lists(), fa.allocated_blocks(), fa.allocated_pages, fa._bump)
                   for fa in m.platform.frames],
        "records": [(r.t1, r.t2, r.t3, r.t4, r.copy_ps, r.copy_sections, r.copied_pages,
                     r.rc, r.nr_folios, r.nr_pages, r.stats) for r in m.core.records],
        "vm_events": dict(m.core.vm_events),
        "isolated": list(mm.nr_isolated),
        "freed": mm.folios_freed,
        "op_counts": dict(cpu.op_counts),
        "op_cycles": dict(cpu.op_cycles_charged),
        "busy": [c.busy_cycles for c in cpu.cores],
        "now": m.platform.sim.now,
        "bytes": [mm.checksum(t, v.start, (v.end - v.start) // PAGE_SIZE).tolist()
                  for t in tasks if t.mm is not None for v in t.mm.vmas
                  if all(t.mm.folio_at(a) is not None
                         for a in range(v.start, v.end, PAGE_SIZE))],
    }


def scenario(fast: bool, dcbm: tuple[str, int] | None, poison: bool, full_target: bool,
             **build: Any) -> dict[str, Any]:
    """Build a machine and move a mixed workload node 1 -> 0 -> 1 with move_pages()."""
    m = build_machine(**build)
    m.core.fast_paths = fast
    if dcbm is not None:
        assert m.call(m.dcbm.enable, dcbm[0], dcbm[1]) == 0
    if poison:
        enable_page_poisoning(m)
    mm = m.mm
    a = mm.create_process("a")
    b = mm.create_process("b")
    c = mm.create_process("c")  # has an mlocked VMA: none of its folios takes the fast path
    assert a.mm is not None and b.mm is not None and c.mm is not None
    # the common case: private anonymous pages
    plain = a.mm.mmap(300 * PAGE_SIZE)
    mm.populate(a, plain, 300 * PAGE_SIZE, 1, seed=1)
    # shared with b (mapcount 2: MPOL_MF_MOVE_ALL needed, never the fast path)
    shared = a.mm.mmap(40 * PAGE_SIZE)
    mm.populate(a, shared, 40 * PAGE_SIZE, 1, seed=2)
    mm.share_mapping(a, shared, 20 * PAGE_SIZE, b)
    # file-backed, a THP, an mlocked VMA
    fileaddr = a.mm.mmap(30 * PAGE_SIZE, file=AddressSpace("f"))
    mm.populate(a, fileaddr, 30 * PAGE_SIZE, 1, seed=3)
    thp = a.mm.mmap(2 * BLOCK)
    mm.populate(a, thp, 2 * BLOCK, 1, order=MAX_ORDER, seed=4)
    locked = c.mm.mmap(20 * PAGE_SIZE)
    c.mm.find_vma(locked).flags |= VM_LOCKED  # type: ignore[union-attr]
    mm.populate(c, locked, 20 * PAGE_SIZE, 1, seed=5)
    # a few odd folios inside the plain range: pinned, mlocked
    odd = [mm.folios_of(a, plain + k * PAGE_SIZE, PAGE_SIZE)[0] for k in (77, 150, 299)]
    odd[0].refcount += 1  # a GUP pin: folio_migrate_mapping refuses
    odd[1].flags |= PG_mlocked
    for k, f in enumerate(mm.folios_of(a, plain, 300 * PAGE_SIZE)):  # LRU and page state
        f.flags |= (PG_active if k % 3 == 0 else 0) | (PG_dirty if k % 5 == 0 else 0) | \
            (PG_unevictable | PG_referenced if k % 7 == 0 else 0)
    poison_folio(odd[2])  # machine check on copy: the batch falls back, this one is undone
    odd[2].flags |= PG_unevictable
    if full_target:  # node 0 keeps only ~100 free pages: allocations fail part-way
        fa = m.platform.frames[0]
        fa.alloc_contig(fa.free_pages * PAGE_SIZE - BLOCK)
        for _ in range(BLOCK // PAGE_SIZE - 100):
            fa.alloc_pages(0)
    tasks = [a, b, c]
    results = []
    for node in (0, 1):
        for t, start, npages in ((a, plain, 300), (a, shared, 40), (a, fileaddr, 30),
                                 (a, thp, 2 * BLOCK // PAGE_SIZE), (c, locked, 20)):
            pages = [start + i * PAGE_SIZE for i in range(npages)]
            status = [-999] * npages
            rc = m.call(lambda t=t, p=pages, n=node, st=status: m.syscalls.move_pages(
                t.pid, p, [n] * len(p), st, MPOL_MF_MOVE_ALL, caller=mm.root))
            results.append((rc, status))
    snap = snapshot(m, tasks, odd)
    snap["results"] = results
    return snap


CASES = {
    "v3-dcbm-x16-iommu": ({"flavour": "v3", "kernel_release": "6.16", "n_engines": 16,
                           "iommu": "translated", "nr_max_batched_migration": 1024},
                          ("v3", 16), False, False),
    "v3-kernel-copy": ({"flavour": "v3", "nr_max_batched_migration": 128}, None, False,
                       False),
    "v3-dcbm-poison": ({"flavour": "v3", "n_engines": 4, "jitter": True, "seed": 3},
                       ("v3", 4), True, False),
    "v3-full-target": ({"flavour": "v3", "nr_max_batched_migration": 512}, None, False,
                       True),
    "generic": ({"flavour": "generic", "nr_max_batched_migration": 64}, None, False, False),
    "seed-dcbm-v1": ({"flavour": "seed", "n_engines": 2}, ("v1", 2), False, False),
    "latest-dcbm": ({"flavour": "latest", "n_engines": 8}, ("latest", 8), False, False),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_paths_change_nothing(case: str) -> None:
    build, dcbm, poison, full = CASES[case]
    slow = scenario(False, dcbm, poison, full, **build)
    fast = scenario(True, dcbm, poison, full, **build)
    for key in slow:
        assert fast[key] == slow[key], key


def test_fast_paths_do_run() -> None:
    """The workload above really takes the fast paths (and the general ones)."""
    calls = {"unmap": 0, "prep": 0, "fin": 0}
    m = build_machine(flavour="v3", nr_max_batched_migration=256)
    core = m.core
    for name, key in (("_unmap_anon_fast", "unmap"), ("_prep_anon_fast", "prep"),
                      ("_finalize_anon_fast", "fin")):
        orig = getattr(core, name)

        def spy(*args: Any, _orig: Any = orig, _key: str = key) -> Any:
            r = _orig(*args)
            calls[_key] += isinstance(r, Folio) or (r is not None and r in (0, True))
            return r

        setattr(core, name, spy)
    a = m.mm.create_process("a")
    assert a.mm is not None
    addr = a.mm.mmap(64 * PAGE_SIZE)
    m.mm.populate(a, addr, 64 * PAGE_SIZE, 1)
    status = [-999] * 64
    pages = [addr + i * PAGE_SIZE for i in range(64)]
    assert m.call(lambda: m.syscalls.move_pages(a.pid, pages, [0] * 64, status,
                                                caller=m.mm.root)) == 0
    assert calls == {"unmap": 64, "prep": 64, "fin": 64}
