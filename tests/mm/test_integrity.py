"""Data integrity of every migration path, anonymous and file-backed, 4 KiB and 2 MiB."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.mm.folio import PG_locked, PG_lru
from drivers.mm.migrate_copy_offload import MigrateCopyOffload, OffloadMigrator
from drivers.mm.migrate_dma import Migrator, MigratorRegistry
from drivers.mm.mtcopy import MtCopy

from .helpers import Env, FakeMigrator, Region, checksums, make_env, move, populate

PATHS = ["generic", "seed", "seed+fake", "v3", "v3+fake", "v3+mtcopy", "latest",
         "latest+fake", "latest+mtcopy"]


def setup_path(path: str) -> tuple[Env, FakeMigrator | None]:
    flavour, _, extra = path.partition("+")
    env = make_env(flavour)
    fake = None
    if extra == "fake":
        fake = FakeMigrator(env)
        if flavour == "latest":
            rc = env.kernel.subsystem(MigrateCopyOffload).migrate_offload_register(
                OffloadMigrator("fake", fake), 1 << 3)
            assert rc == 0
        else:
            env.call(env.kernel.subsystem(MigratorRegistry).start_offloading,
                     Migrator("fake", fake))
    elif extra == "mtcopy":
        mt = env.kernel.subsystem(MtCopy)
        mt.interface = "offload" if flavour == "latest" else "offc"
        assert env.call(mt.set_offloading, True) == 0
    return env, fake


def check_migrated(env: Env, r: Region, before: np.ndarray, node: int) -> None:
    assert np.array_equal(checksums(env, r), before)
    assert set(r.task.mm.page_nodes(r.addr, r.npages)) == {node}  # type: ignore[union-attr]
    for f in env.mm.folios_of(r.task, r.addr, r.npages * 4096):
        assert f.nid == node
        assert f.flags & PG_lru and not f.flags & PG_locked
        assert f.mapcount == 1
        cache = f.nr_pages if r.file is not None else 0
        assert f.refcount == 1 + cache
        if r.file is not None:
            assert r.file.i_pages[f.index] is f


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", ["anon", "file"])
@pytest.mark.parametrize("order", [0, 9])
def test_move_pages_integrity(path: str, kind: str, order: int) -> None:
    env, fake = setup_path(path)
    npages = 1024 if order == 0 else 2048
    r = populate(env, npages, node=1, order=order, file=kind == "file")
    before = checksums(env, r)
    used_before = env.platform.frames[1].allocated_pages
    rc, status = move(env, r, 0)
    assert rc == 0
    assert status == [0] * len(status)
    check_migrated(env, r, before, 0)
    assert env.platform.frames[1].allocated_pages == used_before - npages  # sources freed
    rec = env.core.records[-1]
    assert rec.t1 < rec.t4 and rec.t2 is not None and rec.t3 is not None
    assert rec.t1 <= rec.t2 <= rec.t3 <= rec.t4
    assert 0 < rec.F < 1
    assert rec.stats.nr_succeeded == npages
    if fake is not None:
        assert sum(fake.calls) == len(r.folio_addrs)
    # and back again, through the same path
    rc, _ = move(env, r, 1)
    assert rc == 0
    check_migrated(env, r, before, 1)


def test_hugetlb_integrity_and_never_batched() -> None:
    env = make_env("seed")
    fake = FakeMigrator(env)
    env.call(env.kernel.subsystem(MigratorRegistry).start_offloading, Migrator("fake", fake))
    r = populate(env, 2048, node=1, hugetlb=True)
    assert all(f.hugetlb for f in r.folios)
    before = checksums(env, r)
    seen: list[int] = []
    orig = env.core.migrate_pages_batch

    def spy(from_, *a, **kw):  # type: ignore[no-untyped-def]
        seen.append(len(from_))
        return orig(from_, *a, **kw)

    env.core.migrate_pages_batch = spy  # type: ignore[method-assign]
    rc, status = move(env, r, 0)
    assert rc == 0 and status == [0] * 4
    assert np.array_equal(checksums(env, r), before)
    assert all(f.nid == 0 and f.hugetlb for f in env.mm.folios_of(r.task, r.addr, 2048 * 4096))
    assert seen == [] or all(n == 0 for n in seen)  # hugetlb never reaches the batch path
    assert fake.calls == []  # nor the batch copy
    assert env.core.records[-1].copy_sections == 4  # one copy per hugetlb folio


def test_shared_file_folio_moves_all_mappings() -> None:
    env = make_env("latest")
    r = populate(env, 64, node=1, file=True)
    other = env.mm.create_process("reader")
    addr2 = env.mm.share_mapping(r.task, r.addr, 64 * 4096, other)
    before = checksums(env, r)
    root = env.mm.root
    from drivers.mm.syscalls import MPOL_MF_MOVE_ALL

    rc, status = move(env, r, 0, flags=MPOL_MF_MOVE_ALL, caller=root)
    assert rc == 0 and status == [0] * 64
    assert np.array_equal(env.mm.checksum(other, addr2, 64), before)
    for f in env.mm.folios_of(other, addr2, 64 * 4096):
        assert f.nid == 0 and f.mapcount == 2 and f.refcount == 3
