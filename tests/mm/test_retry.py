"""Retries and fallbacks: -EAGAIN from a pinned folio, -ENOMEM from the dst allocation, THP
split, machine-check fallbacks, the latest core's FOLIO_CONTENT_COPIED marker."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.mm.errno import ENOMEM
from drivers.mm.folio import FOLIO_CONTENT_COPIED, Folio, PG_lru
from drivers.mm.migrate import poison_folio
from drivers.mm.migrate_copy_offload import MigrateCopyOffload, OffloadMigrator
from drivers.mm.migrate_dma import Migrator, MigratorRegistry

from .helpers import FakeMigrator, checksums, make_env, move, populate


@pytest.mark.parametrize("flavour", ["generic", "seed", "v3", "latest"])
def test_pinned_folio_fails_after_ten_tries_and_is_restored(flavour: str) -> None:
    env = make_env(flavour)
    r = populate(env, 16, node=1)
    pinned = r.folios[5]
    pinned.refcount += 1  # e.g. a GUP pin
    before = checksums(env, r)
    moves: list[Folio] = []
    orig = env.core.migrate_folio_move

    def spy(put, priv, src, dst, mode, reason, ret):  # type: ignore[no-untyped-def]
        moves.append(src)
        return orig(put, priv, src, dst, mode, reason, ret)

    env.core.migrate_folio_move = spy  # type: ignore[method-assign]
    rc, _status = move(env, r, 0)
    assert rc == 1  # one page could not be migrated
    nodes = r.task.mm.page_nodes(r.addr, 16)  # type: ignore[union-attr]
    assert nodes[5] == 1 and nodes[:5] == [0] * 5 and nodes[6:] == [0] * 10
    assert np.array_equal(checksums(env, r), before)
    pte, _ = r.task.mm.lookup(r.addr + 5 * 4096)  # type: ignore[union-attr]
    assert pte is not None and not pte.migration and pte.folio is pinned
    assert pinned.refcount == 2 and pinned.mapcount == 1 and pinned.flags & PG_lru
    # 3 ASYNC passes + 7 SYNC passes of the move step for the pinned folio
    assert sum(1 for f in moves if f is pinned) == 10
    assert env.core.records[-1].stats.nr_failed_pages == 1


@pytest.mark.parametrize("flavour", ["generic", "seed", "latest"])
def test_enomem_from_dst_allocation(flavour: str) -> None:
    env = make_env(flavour)
    r = populate(env, 32, node=1)
    before = checksums(env, r)
    allocs = {"n": 0}

    def fail_after_10(src: Folio) -> bool:
        allocs["n"] += 1
        return allocs["n"] > 10

    env.core.alloc_fault = fail_after_10
    rc, _ = move(env, r, 0)
    assert rc == -ENOMEM
    nodes = r.task.mm.page_nodes(r.addr, 32)  # type: ignore[union-attr]
    assert nodes == [0] * 10 + [1] * 22  # the unmapped ones were still moved
    assert np.array_equal(checksums(env, r), before)
    for f in env.mm.folios_of(r.task, r.addr, 32 * 4096):
        assert f.flags & PG_lru and f.refcount == 1  # put back
    assert env.mm.nr_isolated == [0, 0]


def test_thp_enomem_splits_and_retries_base_pages() -> None:
    env = make_env("generic")
    r = populate(env, 512, node=1, order=9)
    before = checksums(env, r)
    env.core.alloc_fault = lambda src: src.order > 0  # no free 2 MiB block on the target
    rc, _ = move(env, r, 0)
    rec = env.core.records[-1]
    assert rec.stats.nr_thp_split == 1
    assert rc == 0  # every split page migrated: migrate_pages returns 0
    folios = env.mm.folios_of(r.task, r.addr, 512 * 4096)
    assert len(folios) == 512 and all(f.order == 0 and f.nid == 0 for f in folios)
    assert np.array_equal(checksums(env, r), before)


def test_v3_batch_copy_error_falls_back_to_serial_copy() -> None:
    env = make_env("v3")
    r = populate(env, 8, node=1)
    poison_folio(r.folios[2])
    before = checksums(env, r)
    rc, _ = move(env, r, 0)
    assert rc == 1
    nodes = r.task.mm.page_nodes(r.addr, 8)  # type: ignore[union-attr]
    assert nodes == [0, 0, 1, 0, 0, 0, 0, 0]
    assert np.array_equal(checksums(env, r), before)


def test_latest_declined_batch_is_copied_per_folio() -> None:
    env = make_env("latest")
    fake = FakeMigrator(env, rc=-16)  # -EBUSY: no channel free
    reg = env.kernel.subsystem(MigrateCopyOffload)
    assert reg.migrate_offload_register(OffloadMigrator("busy", fake), 1 << 3) == 0
    r = populate(env, 64, node=1)
    before = checksums(env, r)
    assert move(env, r, 0)[0] == 0
    assert fake.calls == [64]
    assert np.array_equal(checksums(env, r), before)
    assert env.core.records[-1].copy_sections == 1 + 64  # the refused call + 64 CPU copies


def test_latest_marker_consumed_so_a_retry_copies_again() -> None:
    env = make_env("latest")
    fake = FakeMigrator(env)
    reg = env.kernel.subsystem(MigrateCopyOffload)
    assert reg.migrate_offload_register(OffloadMigrator("fake", fake), 1 << 3) == 0
    r = populate(env, 4, node=1, file=True)
    before = checksums(env, r)
    fails = {id(r.folios[1]): 1}  # the page-cache ref freeze races once

    def freeze_fault(src: Folio) -> bool:
        left = fails.get(id(src), 0)
        if left:
            fails[id(src)] = left - 1
            return True
        return False

    env.core.ref_freeze_fault = freeze_fault
    copies: list[tuple[Folio, Folio]] = []
    orig = env.core._timed_folio_copy

    def spy(dst: Folio, src: Folio) -> int:
        copies.append((dst, src))
        return orig(dst, src)

    env.core._timed_folio_copy = spy  # type: ignore[method-assign]
    assert move(env, r, 0)[0] == 0
    assert fake.calls == [4]
    # only the folio whose first move attempt failed after consuming its marker is
    # copied again, on the CPU
    assert [s for _, s in copies] == [r.folios[1]]
    assert np.array_equal(checksums(env, r), before)
    assert all(not f.migrate_info & FOLIO_CONTENT_COPIED
               for f in env.mm.folios_of(r.task, r.addr, 4 * 4096))


def test_seed_can_migrate_false_goes_to_cpu_loop() -> None:
    env = make_env("seed")
    fake = FakeMigrator(env)
    env.call(env.kernel.subsystem(MigratorRegistry).start_offloading,
             Migrator("order0-only", fake, lambda d, s: s.order == 0))
    small = populate(env, 4, node=1)
    thp = populate(env, 512, node=1, order=9, task=small.task)
    before = checksums(env, small), checksums(env, thp)
    folios = [*small.folios, *thp.folios]
    lst: list[Folio] = []
    for f in folios:
        env.sys._isolate(f, lst)
    from drivers.mm.migrate import MIGRATE_ASYNC, MigrationTargetControl
    from drivers.mm.migrate_mode import MR_SYSCALL

    rc = env.call(env.core.migrate_pages, lst, env.core.alloc_migration_target, None,
                  MigrationTargetControl(nid=0), MIGRATE_ASYNC, MR_SYSCALL)
    assert rc == 0
    assert fake.calls == [4]  # the THP was refused and moved by the per-folio loop
    assert np.array_equal(checksums(env, small), before[0])
    assert np.array_equal(checksums(env, thp), before[1])
    assert env.core.records[-1].copy_sections == 2


@pytest.mark.parametrize("bug", [True, False])
def test_seed_kmalloc_break(bug: bool) -> None:
    env = make_env("seed", seed_kmalloc_break=bug)
    r = populate(env, 8, node=1)
    before = checksums(env, r)
    env.core.kmalloc_fault = lambda n: n == 5
    rc, _ = move(env, r, 0)
    if bug:
        assert env.core.bug_events  # the finalize loop walked past mig_info
        pte, _ = r.task.mm.lookup(r.addr + 7 * 4096)  # type: ignore[union-attr]
        assert pte is not None and pte.migration  # a stale migration entry is left behind
    else:
        assert rc == 0 and not env.core.bug_events
        assert set(r.task.mm.page_nodes(r.addr, 8)) == {0}  # type: ignore[union-attr]
        assert np.array_equal(checksums(env, r), before)
