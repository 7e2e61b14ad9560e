"""Property-based fuzzing of move_pages(2) and migrate_pages(2) with random arguments.

Random callers (root, the owner, another user), pids, page addresses (mapped, THP tails,
shared, unpopulated, outside every VMA, unaligned, duplicated), node lists, status array
lengths, flags, node masks and ``maxnode``: the calls return only the errnos their man pages
document, store only documented per-page statuses, and never corrupt state: every page keeps
its contents and stays mapped exactly as before (rmap, mapcount, refcount, LRU, no
migration entry), no folio stays isolated, frames per node add up, and a valid migration
afterwards still works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from drivers.mm.errno import (
    EACCES,
    EBUSY,
    EFAULT,
    EINVAL,
    EIO,
    ENODEV,
    ENOENT,
    ENOMEM,
    EPERM,
    ESRCH,
    errname,
)
from drivers.mm.folio import Folio, PG_locked, PG_lru
from drivers.mm.mm import Task
from drivers.mm.syscalls import MPOL_MF_MOVE, MPOL_MF_MOVE_ALL, MPOL_MF_STRICT
from emulator.experiments.stack import Machine, build_machine
from emulator.frame_allocator import PAGE_SIZE
from tests.reliability.profiles import FUZZ, FUZZ_SLOW

MOVE_PAGES_ERRNOS = {-EACCES, -EFAULT, -EINVAL, -ENODEV, -ENOENT, -ENOMEM, -EPERM, -ESRCH}
STATUS_ERRNOS = {-EACCES, -EBUSY, -EFAULT, -EIO, -EINVAL, -ENOENT, -ENOMEM}
MIGRATE_PAGES_ERRNOS = {-EFAULT, -EINVAL, -ENOMEM, -EPERM, -ESRCH}
UNSET = -999


@dataclass
class World:
    """A machine with three tasks: ``a`` owns private 4 KiB pages, a THP, pages shared with
    ``b`` and an unpopulated range; ``other`` belongs to another user."""

    m: Machine
    a: Task
    b: Task
    other: Task
    private: int
    thp: int
    shared: int
    hole: int
    baseline: list[int]

    def regions(self) -> list[tuple[Task, int, int]]:
        """(task, addr, pages) of every populated range."""
        return [(self.a, self.private, 16), (self.a, self.thp, 512), (self.a, self.shared, 8)]


def make_world(flavour: str) -> World:
    m = build_machine(seed=11, flavour=flavour)
    mm = m.mm
    base = [fa.allocated_pages for fa in m.platform.frames]
    a = mm.create_process("a", uid=1000)
    b = mm.create_process("b", uid=1000)
    other = mm.create_process("other", uid=2000)
    assert a.mm is not None
    private = a.mm.mmap(16 * PAGE_SIZE)
    mm.populate(a, private, 16 * PAGE_SIZE, 1, seed=1)
    thp = a.mm.mmap(512 * PAGE_SIZE)
    mm.populate(a, thp, 512 * PAGE_SIZE, 0, order=9, seed=2)
    shared = a.mm.mmap(8 * PAGE_SIZE)
    mm.populate(a, shared, 8 * PAGE_SIZE, 1, seed=3)
    mm.share_mapping(a, shared, 8 * PAGE_SIZE, b)
    hole = a.mm.mmap(4 * PAGE_SIZE)  # a VMA nobody touched: -ENOENT pages
    return World(m, a, b, other, private, thp, shared, hole, base)


def snapshot(w: World) -> dict[str, Any]:
    """Contents and placement of every populated page."""
    mm = w.m.mm
    out: dict[str, Any] = {}
    for task, addr, n in w.regions():
        assert task.mm is not None
        out[f"{addr:#x}"] = (mm.checksum(task, addr, n), task.mm.page_nodes(addr, n))
    return out


def invariants(w: World) -> list[str]:
    """What must hold whatever a syscall did."""
    problems: list[str] = []
    m = w.m
    folios: dict[int, Folio] = {}
    for task in (w.a, w.b):
        assert task.mm is not None
        for vma in task.mm.vmas:
            for a in range(vma.start, vma.end, PAGE_SIZE):
                pte, _ = task.mm.lookup(a)
                if pte is None:
                    continue
                if pte.migration:
                    problems.append(f"{task.name} {a:#x}: migration entry left")
                folios.setdefault(id(pte.folio), pte.folio)
    per_node = [0] * m.platform.nr_nodes
    for f in folios.values():
        per_node[f.nid] += f.nr_pages
        if f.mapcount != len(f.mappers) or f.refcount != f.mapcount:
            problems.append(f"{f!r}: refcount {f.refcount}, mapcount {f.mapcount}, rmap "
                            f"{len(f.mappers)}")
        if f.flags & PG_locked or not f.flags & PG_lru:
            problems.append(f"{f!r}: flags {f.flags:#x} (locked or off the LRU)")
        if f.migrate_info or f.private is not None:
            problems.append(f"{f!r}: migration state left")
    for n, fa in enumerate(m.platform.frames):
        if fa.allocated_pages != w.baseline[n] + per_node[n]:
            problems.append(f"node {n}: {fa.allocated_pages} pages allocated, expected "
                            f"{w.baseline[n] + per_node[n]}")
    if any(m.mm.nr_isolated):
        problems.append(f"nr_isolated {m.mm.nr_isolated}")
    return problems


# --------------------------------------------------------------------------- strategies
NODES = st.one_of(st.sampled_from([0, 1]), st.sampled_from([0, 1, -1, 2, 63, 64, 1 << 20]))
FLAGS = st.one_of(st.sampled_from([MPOL_MF_MOVE, MPOL_MF_MOVE_ALL]),
                  st.sampled_from([0, MPOL_MF_MOVE | MPOL_MF_MOVE_ALL, MPOL_MF_STRICT, 1 << 3,
                                   0xFF]))
WHERE = st.one_of(st.sampled_from(["private", "thp", "shared"]),
                  st.sampled_from(["private", "hole", "outside", "kernel"]))


@st.composite
def page_addrs(draw: st.DrawFn) -> list[tuple[str, int]]:
    return draw(st.lists(st.tuples(WHERE, st.integers(0, 511 * PAGE_SIZE + 4095)),
                         max_size=24))


def resolve(w: World, kind: str, off: int) -> int:
    if kind == "private":
        return w.private + off % (16 * PAGE_SIZE)
    if kind == "thp":
        return w.thp + off
    if kind == "shared":
        return w.shared + off % (8 * PAGE_SIZE)
    if kind == "hole":
        return w.hole + off % (4 * PAGE_SIZE)
    if kind == "outside":
        return 0x1000 + off
    return 0xFFFF_8000_0000_0000 + off


@st.composite
def move_calls(draw: st.DrawFn) -> dict[str, Any]:
    pages = draw(page_addrs())
    nodes = None if draw(st.integers(0, 5)) == 0 else draw(
        st.lists(NODES, min_size=max(0, len(pages) - draw(st.integers(0, 2))),
                 max_size=len(pages) + 1))
    return {"caller": draw(st.sampled_from(["root", "a", "other"])),
            "pid": draw(st.sampled_from(["a", "a", "self", "b", "missing"])),
            "pages": pages, "nodes": nodes,
            "status_len": max(0, len(pages) - draw(st.sampled_from([0, 0, 0, 1, 3]))),
            "flags": draw(FLAGS)}


MASKS = st.one_of(st.sampled_from([1, 2, 3, [0], [1], [0, 1]]),
                  st.one_of(st.none(), st.integers(0, (1 << 70) - 1),
                            st.lists(st.integers(-2, 70), max_size=4)))


@st.composite
def migrate_calls(draw: st.DrawFn) -> dict[str, Any]:
    return {"caller": draw(st.sampled_from(["root", "a", "other"])),
            "pid": draw(st.sampled_from(["a", "self", "b", "missing"])),
            "maxnode": draw(st.one_of(st.sampled_from([3, 64]), st.sampled_from(
                [0, 1, 2, 65, 1024, 32769, 1 << 20]))),
            "old": draw(MASKS), "new": draw(MASKS)}


def who(w: World, name: str) -> Task:
    return {"root": w.m.mm.root, "a": w.a, "b": w.b, "other": w.other}[name]


def pid_of(w: World, name: str) -> int:
    return {"a": w.a.pid, "b": w.b.pid, "self": 0, "missing": 31337}[name]


# --------------------------------------------------------------------------- the property
def check_calls(flavour: str, calls: list[tuple[str, dict[str, Any]]]) -> None:
    w = make_world(flavour)
    before = snapshot(w)
    sysc = w.m.syscalls
    for kind, c in calls:
        caller = who(w, c["caller"])
        if kind == "move":
            pages = [resolve(w, k, off) for k, off in c["pages"]]
            status = [UNSET] * c["status_len"]
            rc = w.m.call(lambda c=c, pages=pages, status=status, caller=caller:
                          sysc.move_pages(pid_of(w, c["pid"]), pages, c["nodes"], status,
                                          c["flags"], caller=caller))
            assert rc >= 0 or rc in MOVE_PAGES_ERRNOS, f"move_pages: {errname(rc)}"
            for s in status:
                assert s == UNSET or s in (0, 1) or s in STATUS_ERRNOS, f"status {s}"
            if rc == 0 and c["nodes"] is not None:
                # A folio reported on a node is on it, as of its last such report: a folio
                # named twice (by any of its addresses) for two nodes moves twice, in page
                # order (the groups migrate in order and a folio is queued once at a time),
                # so an earlier report is stale, as in the kernel.
                task = {"a": w.a, "b": w.b, "self": caller}.get(c["pid"])  # whose pages
                mmst = task.mm if task is not None else None
                last: dict[int, tuple[Any, int]] = {}
                for addr, s in zip(pages, status, strict=False):
                    f = mmst.folio_at(addr) if mmst is not None else None
                    if s in (0, 1) and f is not None:
                        last[id(f)] = (f, s)
                for f, s in last.values():
                    assert f.nid == s
        else:
            rc = w.m.call(lambda c=c, caller=caller: sysc.migrate_pages(
                pid_of(w, c["pid"]), c["maxnode"], c["old"], c["new"], caller=caller))
            assert rc >= 0 or rc in MIGRATE_PAGES_ERRNOS, f"migrate_pages: {errname(rc)}"
        assert invariants(w) == []
    after = snapshot(w)
    for key, (ck, _nodes) in before.items():
        assert np.array_equal(after[key][0], ck), f"contents of {key} changed"
    # a valid migration afterwards still works: everything of ``a`` to node 0, by root
    assert w.a.mm is not None
    pages = [a for _, addr, n in w.regions() for a in range(addr, addr + n * PAGE_SIZE,
                                                             PAGE_SIZE)]
    status = [UNSET] * len(pages)
    rc = w.m.call(sysc.move_pages, w.a.pid, pages, [0] * len(pages), status,
                  MPOL_MF_MOVE_ALL)
    assert rc == 0 and invariants(w) == []
    assert all(s == 0 or s == -EBUSY for s in status)  # THP tails: the head moved them
    assert set(w.a.mm.page_nodes(w.private, 16)) == {0}
    final = snapshot(w)
    for key, (ck, _nodes) in before.items():
        assert np.array_equal(final[key][0], ck)


CALLS = st.lists(st.one_of(st.tuples(st.just("move"), move_calls()),
                           st.tuples(st.just("migrate"), migrate_calls())),
                 min_size=1, max_size=4)


@FUZZ
@given(st.sampled_from(["generic", "latest"]), CALLS)
# One page named three times (the last time by another address in it), for node 0 twice and
# then node 1 (found by the long run): it moves to 0, is busy (queued) the second time, then
# moves to 1.
@example("generic", [("move", {"caller": "root", "pid": "a", "nodes": [0, 0, 1],
                               "pages": [("private", 0)] * 3, "status_len": 3, "flags": 2})])
@example("generic", [("move", {"caller": "root", "pid": "a", "nodes": [0, 0, 1],
                               "pages": [("private", 0), ("private", 0), ("private", 1)],
                               "status_len": 3, "flags": 2})])
# Another process's page (b's, by root): the check looks in b's page table, not a's.
@example("generic", [("move", {"caller": "root", "pid": "b", "nodes": [0],
                               "pages": [("private", 0)], "status_len": 1, "flags": 4})])
def test_random_syscall_arguments_never_corrupt_state(
        flavour: str, calls: list[tuple[str, dict[str, Any]]]) -> None:
    check_calls(flavour, calls)


@pytest.mark.slow
@FUZZ_SLOW
@given(st.sampled_from(["generic", "seed", "v3", "latest"]), CALLS)
def test_random_syscall_arguments_never_corrupt_state_long(
        flavour: str, calls: list[tuple[str, dict[str, Any]]]) -> None:
    check_calls(flavour, calls)
