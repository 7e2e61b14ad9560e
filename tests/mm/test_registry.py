"""The seed/offc migrator registry and the latest copy-offload registry, with a fake
migrator: dispatch, eligibility, module pinning, SRCU behaviour on unregistration."""

from __future__ import annotations

import numpy as np

from drivers.mm.errno import EBUSY, EINVAL, ENODEV
from drivers.mm.migrate_copy_offload import (
    MIGRATE_OFFLOAD_REASONS_ALLOWED,
    MigrateCopyOffload,
    OffloadMigrator,
    format_reason_mask,
    parse_reason_mask,
)
from drivers.mm.migrate_dma import Migrator, MigratorRegistry
from drivers.mm.migrate_mode import MR_COMPACTION, MR_DEMOTION, MR_SYSCALL
from drivers.mm.module import Module

from .helpers import SLOW_COPY, FakeMigrator, checksums, make_env, move, populate


def test_seed_registry_dispatch_and_state() -> None:
    env = make_env("seed")
    reg = env.kernel.subsystem(MigratorRegistry)
    fake = FakeMigrator(env)
    mod = Module("fake")
    m = Migrator("DCBM", fake, None, mod)
    assert reg.get_active_migrator_name() == "kernel"
    env.call(reg.start_offloading, m)
    assert reg.get_active_migrator_name() == "DCBM"
    assert reg.dispatch_to_dma == 1 and mod.refcnt == 1
    r = populate(env, 600, node=1)
    before = checksums(env, r)
    assert move(env, r, 0)[0] == 0
    assert fake.calls == [512, 88]
    assert env.core.records[-1].migrator == "DCBM"
    assert np.array_equal(checksums(env, r), before)
    env.call(reg.stop_offloading)
    assert reg.get_active_migrator_name() == "kernel"
    assert reg.dispatch_to_dma == 0 and mod.refcnt == 0
    assert move(env, r, 1)[0] == 0
    assert fake.calls == [512, 88]  # back on the kernel's folios_copy


def test_seed_batch_only_in_async_mode() -> None:
    env = make_env("seed")
    fake = FakeMigrator(env)
    env.call(env.kernel.subsystem(MigratorRegistry).start_offloading, Migrator("f", fake))
    r = populate(env, 4, node=1)
    r.folios[0].refcount += 1  # forces the SYNC one-by-one pass for this folio
    rc, _ = move(env, r, 0)
    assert rc == 1
    assert fake.calls == [3]  # the ASYNC pass batched 3; the SYNC retries never batch


def test_seed_srcu_flaw_stop_does_not_wait_for_inflight_copy() -> None:
    env = make_env("seed")
    reg = env.kernel.subsystem(MigratorRegistry)
    fake = FakeMigrator(env, sleep_ps=SLOW_COPY)
    env.call(reg.start_offloading, Migrator("slow", fake))
    r = populate(env, 64, node=1)
    sim = env.kernel.sim
    done: dict[str, int] = {}

    def migrate() -> None:
        st = [0] * 64
        env.sys.move_pages(r.task.pid, r.folio_addrs, [0] * 64, st, 1 << 1)

    def stopper() -> None:
        env.kernel.sim.sleep(1)
        while fake.inside == 0:
            env.kernel.sim.sleep(1_000_000)
        reg.stop_offloading()
        done["stop"] = sim.now
        done["inside"] = fake.inside

    p1 = sim.spawn(migrate, core=0)
    p2 = sim.spawn(stopper, core=1)
    env.platform.run()
    assert p1.finished and p2.finished
    assert done["inside"] == 1  # stop_offloading returned with the batch still inside
    assert done["stop"] < fake.left_at[0]


def test_latest_register_errors() -> None:
    env = make_env("latest")
    reg = env.kernel.subsystem(MigrateCopyOffload)
    a = OffloadMigrator("a", FakeMigrator(env), Module("a"))
    b = OffloadMigrator("b", FakeMigrator(env))
    assert reg.migrate_offload_register(OffloadMigrator("x", None), 1) == -EINVAL  # type: ignore[arg-type]
    dead = Module("dead")
    dead.live = False
    assert reg.migrate_offload_register(OffloadMigrator("d", FakeMigrator(env), dead), 1) == -ENODEV
    assert reg.migrate_offload_register(a, 1 << 40 | 1 << MR_SYSCALL) == 0
    assert reg.active_reason_mask == 1 << MR_SYSCALL  # clamped to the allowed reasons
    assert reg.migrate_offload_register(b, 1) == -EBUSY
    assert env.call(reg.migrate_offload_unregister, b) == -EINVAL
    assert reg.migrate_offload_set_reason_mask(b, 1) == -EINVAL
    assert reg.migrate_offload_set_reason_mask(a, 1 << MR_DEMOTION) == 0
    assert reg.migrate_should_offload(MR_DEMOTION) and not reg.migrate_should_offload(MR_SYSCALL)
    assert a.owner.refcnt == 1  # type: ignore[union-attr]
    assert env.call(reg.migrate_offload_unregister, a) == 0
    assert a.owner.refcnt == 0 and not reg.enabled  # type: ignore[union-attr]
    assert not reg.migrate_should_offload(MR_DEMOTION)


def test_reason_mask_parsing() -> None:
    assert parse_reason_mask("all") == MIGRATE_OFFLOAD_REASONS_ALLOWED
    assert parse_reason_mask("none") == 0
    assert parse_reason_mask("0x9") == 9
    assert parse_reason_mask("8") == 8
    assert parse_reason_mask("compaction,demotion") == (1 << MR_COMPACTION) | (1 << MR_DEMOTION)
    assert parse_reason_mask("syscall_or_cpuset") == 1 << MR_SYSCALL
    assert parse_reason_mask("bogus") == -EINVAL
    assert format_reason_mask(0) == "none"
    assert format_reason_mask((1 << MR_COMPACTION) | (1 << MR_DEMOTION)) == "compaction,demotion"


def test_latest_reason_not_in_mask_uses_cpu() -> None:
    env = make_env("latest")
    fake = FakeMigrator(env)
    reg = env.kernel.subsystem(MigrateCopyOffload)
    assert reg.migrate_offload_register(OffloadMigrator("f", fake), 1 << MR_DEMOTION) == 0
    r = populate(env, 16, node=1)
    assert move(env, r, 0)[0] == 0  # MR_SYSCALL is not offloaded
    assert fake.calls == []
    assert env.core.records[-1].copy_sections == 16


def test_latest_unregister_waits_for_the_batch_in_flight() -> None:
    env = make_env("latest")
    reg = env.kernel.subsystem(MigrateCopyOffload)
    fake = FakeMigrator(env, sleep_ps=SLOW_COPY)
    m = OffloadMigrator("slow", fake, Module("slow"))
    assert reg.migrate_offload_register(m, 1 << MR_SYSCALL) == 0
    r = populate(env, 64, node=1)
    before = checksums(env, r)
    sim = env.kernel.sim
    out: dict[str, int] = {}

    def migrate() -> None:
        st = [0] * 64
        out["rc"] = env.sys.move_pages(r.task.pid, r.folio_addrs, [0] * 64, st, 1 << 1)

    def unregister() -> None:
        while fake.inside == 0:
            sim.sleep(1_000_000)
        out["called"] = sim.now
        out["ret"] = reg.migrate_offload_unregister(m)
        out["returned"] = sim.now
        out["inside"] = fake.inside

    sim.spawn(migrate, core=0)
    sim.spawn(unregister, core=1)
    env.platform.run()
    assert out["ret"] == 0 and out["rc"] == 0
    assert out["inside"] == 0
    assert out["returned"] >= fake.left_at[0] > out["called"]  # blocked until it left
    assert m.owner.refcnt == 0  # type: ignore[union-attr]
    assert np.array_equal(checksums(env, r), before)


def test_v3_offc_default_is_folios_mc_copy_and_can_refuse() -> None:
    env = make_env("v3")
    reg = env.kernel.subsystem(MigratorRegistry)
    assert reg.offc
    r = populate(env, 8, node=1)
    assert move(env, r, 0)[0] == 0
    assert env.core.records[-1].copy_sections == 1  # one batch copy by folios_mc_copy
    fake = FakeMigrator(env)
    # v2/v3 check can_migrate_offc in _move_to_new_folio_prep, which the CPU path also
    # uses: a refused pair can never migrate
    env.call(reg.start_offloading, Migrator("picky", fake, lambda d, s: False))
    rc, _ = move(env, r, 1)
    assert rc == 8 and fake.calls == []
