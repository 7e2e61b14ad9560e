"""The seed's t1..t4 instrumentation and the CPU cost model."""

from __future__ import annotations

import pytest

from drivers.mm.migrate_dma import Migrator, MigratorRegistry
from drivers.mm.tasks import StaleMigrationEntry, user_read
from emulator.event_kernel import NS

from .helpers import FakeMigrator, make_env, move, populate


@pytest.mark.parametrize("flavour", ["generic", "seed", "v3", "latest"])
def test_t1_to_t4_per_call(flavour: str) -> None:
    env = make_env(flavour)
    r = populate(env, 1024, node=1)
    assert move(env, r, 0)[0] == 0
    assert len(env.core.records) == 1  # move_pages to one node = one migrate_pages call
    rec = env.core.records[0]
    assert rec.flavour == flavour and rec.config.flavour == flavour
    assert rec.nr_pages == 1024 and rec.nr_folios == 1024
    assert rec.t1 <= rec.t2 <= rec.t3 <= rec.t4  # type: ignore[operator]
    assert 0 < rec.copy_ps <= rec.t3 - rec.t2  # type: ignore[operator]
    assert 0 < rec.F < 1
    # generic copies folio by folio; batch flavours copy once per 512-page batch
    assert rec.copy_sections == (1024 if flavour in ("generic", "latest") else 2)
    mig, copy = rec.cycles_per_page()
    assert mig > copy > 0


def test_record_excludes_syscall_work_and_counts_named_costs() -> None:
    env = make_env("generic")
    r = populate(env, 1, node=1)
    t0 = env.kernel.sim.now
    assert move(env, r, 0)[0] == 0
    rec = env.core.records[0]
    cpu = env.kernel.cpu
    per_call = cpu.op_cycles["migrate_pages_call"]
    assert rec.total_ps >= per_call * 500  # 2 GHz: 500 ps per cycle
    assert rec.t1 - t0 >= (cpu.op_cycles["syscall_entry"] + cpu.op_cycles["follow_page"]) * 500
    for name in ("migrate_pages_call", "unmap_per_mapping", "tlb_flush_batch",
                 "metadata_copy", "pte_restore_per_mapping", "lru_add", "alloc_dst_folio"):
        assert cpu.op_counts[name] == 1, name


def test_cost_model_scales_with_preset() -> None:
    env = make_env("generic")
    env.kernel.cpu.op_cycles["migrate_pages_call"] += 10_000
    r = populate(env, 1, node=1)
    move(env, r, 0)
    slow = env.core.records[0].total_ps
    env2 = make_env("generic")
    r2 = populate(env2, 1, node=1)
    move(env2, r2, 0)
    fast = env2.core.records[0].total_ps
    assert slow - fast == 10_000 * 500


def test_seed_kmalloc_break_leaves_a_task_hanging_on_a_dead_entry() -> None:
    env = make_env("seed")
    env.call(env.kernel.subsystem(MigratorRegistry).start_offloading,
             Migrator("fake", FakeMigrator(env)))
    r = populate(env, 4, node=1)
    env.core.kmalloc_fault = lambda n: n == 2
    move(env, r, 0)
    with pytest.raises(StaleMigrationEntry):
        env.call(user_read, env.kernel, r.task, r.addr + 3 * 4096, 8)
    assert env.kernel.sim.now > 0 * NS
