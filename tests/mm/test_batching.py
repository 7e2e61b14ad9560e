"""migrate_pages() batch cut (NR_MAX_BATCHED_MIGRATION) and the ASYNC/SYNC structure."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.mm.folio import Folio
from drivers.mm.migrate import (
    MIGRATE_ASYNC,
    MIGRATE_SYNC,
    MigrateCore,
    MigrationConfig,
    MigrationTargetControl,
)
from drivers.mm.migrate_mode import MR_SYSCALL

from .helpers import Env, make_env, move, populate


def spy_batches(env: Env) -> list[tuple[int, int, int, int]]:
    """Record (folios, pages, mode, nr_pass) of every migrate_pages_batch call."""
    calls: list[tuple[int, int, int, int]] = []
    orig = env.core.migrate_pages_batch

    def spy(from_: list[Folio], g: Any, p: Any, priv: Any, mode: int, reason: int, ret: Any,
            split: Any, stats: Any, nr_pass: int) -> int:
        calls.append((len(from_), sum(f.nr_pages for f in from_), int(mode), nr_pass))
        return orig(from_, g, p, priv, mode, reason, ret, split, stats, nr_pass)

    env.core.migrate_pages_batch = spy  # type: ignore[method-assign]
    return calls


def isolate_all(env: Env, folios: list[Folio]) -> list[Folio]:
    out: list[Folio] = []
    for f in folios:
        assert env.sys._isolate(f, out)
    return out


def direct(env: Env, folios: list[Folio], mode: int, node: int = 0) -> int:
    mtc = MigrationTargetControl(nid=node)
    lst = isolate_all(env, folios)
    rc = env.call(env.core.migrate_pages, lst, env.core.alloc_migration_target, None, mtc,
                  mode, MR_SYSCALL)
    env.call(env.core.putback_movable_pages, lst)
    return int(rc)


@pytest.mark.parametrize("flavour", ["generic", "seed", "v3", "latest"])
def test_512_order0_per_batch(flavour: str) -> None:
    env = make_env(flavour)
    r = populate(env, 1300, node=1)
    calls = spy_batches(env)
    rc, _ = move(env, r, 0)
    assert rc == 0
    # move_pages -> MIGRATE_SYNC -> migrate_pages_sync: one ASYNC pass (3 tries) per batch
    assert calls == [(512, 512, MIGRATE_ASYNC, 3), (512, 512, MIGRATE_ASYNC, 3),
                     (276, 276, MIGRATE_ASYNC, 3)]


def test_one_thp_per_batch_with_default_limit() -> None:
    env = make_env("latest")
    r = populate(env, 3 * 512, node=1, order=9)
    calls = spy_batches(env)
    assert move(env, r, 0)[0] == 0
    assert calls == [(1, 512, MIGRATE_ASYNC, 3)] * 3


def test_cut_after_the_folio_that_reaches_the_limit() -> None:
    env = make_env("generic")
    small = populate(env, 511, node=1)
    thp = populate(env, 1024, node=1, order=9, task=small.task)
    tail = populate(env, 5, node=1, task=small.task)
    calls = spy_batches(env)
    folios = small.folios + thp.folios + tail.folios
    assert direct(env, folios, MIGRATE_ASYNC) == 0
    # 511 + 512 = 1023 pages >= 512 at the THP: the batch ends after it (2*512-1 pages)
    assert calls[0] == (512, 1023, MIGRATE_ASYNC, 10)
    assert calls[1] == (1, 512, MIGRATE_ASYNC, 10)  # the second THP alone reaches 512
    assert calls[2] == (5, 5, MIGRATE_ASYNC, 10)
    assert all(f.nid == 0 for f in env.mm.folios_of(small.task, small.addr, 511 * 4096))


def test_pud_limit_batches_several_thps() -> None:
    env = make_env("v3", nr_max_batched_migration=262144)
    r = populate(env, 4 * 512, node=1, order=9)
    calls = spy_batches(env)
    assert move(env, r, 0)[0] == 0
    assert calls == [(4, 2048, MIGRATE_ASYNC, 3)]


def test_sync_leftovers_go_one_by_one_with_seven_passes() -> None:
    env = make_env("generic")
    r = populate(env, 8, node=1)
    r.folios[3].refcount += 1  # a pin: -EAGAIN on every try
    calls = spy_batches(env)
    rc, _ = move(env, r, 0)
    assert rc == 1
    assert calls[0] == (8, 8, MIGRATE_ASYNC, 3)
    assert calls[1:] == [(1, 1, MIGRATE_SYNC, 7)]


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        MigrationConfig(flavour="v9")
    with pytest.raises(ValueError):
        MigrationConfig(nr_max_batched_migration=0)
    assert MigrationConfig(flavour="seed").batch_all_modes is False
    assert MigrationConfig(flavour="v3").batch_all_modes is True
    assert MigrationConfig(flavour="seed", batch_modes="all").batch_all_modes is True
    env = make_env()
    core = env.kernel.subsystem(MigrateCore)
    assert core.configure(flavour="seed").flavour == "seed"


def test_migrate_folios_to_node_async_uses_ten_passes() -> None:
    env = make_env("generic")
    r = populate(env, 600, node=1)
    r.folios[7].refcount += 1
    calls = spy_batches(env)
    rc, done = env.call(env.core.migrate_folios_to_node, r.folios, 0, MIGRATE_ASYNC, 5)
    assert rc == 1 and done == 599
    assert calls == [(512, 512, MIGRATE_ASYNC, 10), (88, 88, MIGRATE_ASYNC, 10)]
    assert env.core.records[-1].reason == 5
    assert env.mm.nr_isolated == [0, 0]
