"""User tasks reading and writing pages while they migrate (selftests/mm/migration.c)."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.mm.migrate_copy_offload import MigrateCopyOffload, OffloadMigrator
from drivers.mm.mm import Mm
from drivers.mm.syscalls import MPOL_MF_MOVE
from drivers.mm.tasks import spawn_task, user_read_u64, user_write_u64
from emulator.event_kernel import US

from .helpers import SLOW_COPY, FakeMigrator, make_env, populate

NPAGES = 64


@pytest.mark.parametrize("flavour", ["generic", "seed", "v3", "latest"])
@pytest.mark.parametrize("order", [0, 9])
def test_tasks_see_their_writes_across_migrations(flavour: str, order: int) -> None:
    env = make_env(flavour)
    if flavour == "latest":
        reg = env.kernel.subsystem(MigrateCopyOffload)
        reg.migrate_offload_register(OffloadMigrator("slow", FakeMigrator(env, sleep_ps=SLOW_COPY)),
                                     1 << 3)
    npages = NPAGES if order == 0 else 1024
    r = populate(env, npages, node=1, order=order)
    k = env.kernel
    sim = k.sim
    t = r.task
    last: dict[int, int] = {}
    errors: list[str] = []
    rounds = 6
    state = {"migrating": True}

    def writer(wid: int) -> None:
        i = 0
        while state["migrating"]:
            page = (i * 7 + wid) % npages
            addr = r.addr + page * 4096 + 8 * wid
            value = (wid << 48) | i
            user_write_u64(k, t, addr, value)
            last[addr] = value
            got = user_read_u64(k, t, addr)
            if got != value:
                errors.append(f"writer {wid}: {addr:#x} read {got:#x} after writing {value:#x}")
            i += 1
            sim.sleep(2 * US)

    def migrator() -> None:
        for n in range(rounds):
            node = 0 if n % 2 == 0 else 1
            addrs = [r.addr + i * (4096 << order) for i in range(npages >> order)]
            st = [0] * len(addrs)
            rc = env.sys.move_pages(t.pid, addrs, [node] * len(addrs), st, MPOL_MF_MOVE)
            assert rc == 0, rc
            sim.sleep(5 * US)
        state["migrating"] = False

    writers = [spawn_task(k, t, writer, w, core=2 + w) for w in range(3)]
    mig = spawn_task(k, t, migrator, core=0)
    env.platform.run()
    assert mig.finished and all(w.finished for w in writers)
    assert not errors
    mm = env.kernel.subsystem(Mm)
    assert mm.migration_waits > 0  # tasks really hit migration entries and slept
    assert mm.migration_wait_ps > 0
    for addr, value in last.items():
        got = np.frombuffer(t.mm.read_bytes(addr, 8).tobytes(), "<u8")[0]  # type: ignore[union-attr]
        assert got == value
    assert len(env.core.records) == rounds


def test_reader_blocked_on_migration_entry_until_restore() -> None:
    env = make_env("latest")
    reg = env.kernel.subsystem(MigrateCopyOffload)
    fake = FakeMigrator(env, sleep_ps=SLOW_COPY)
    reg.migrate_offload_register(OffloadMigrator("slow", fake), 1 << 3)
    r = populate(env, 1, node=1)
    k = env.kernel
    sim = k.sim
    seen: dict[str, int] = {}
    expected = int(np.frombuffer(r.task.mm.read_bytes(r.addr, 8).tobytes(), "<u8")[0])  # type: ignore[union-attr]

    def reader() -> None:
        while not fake.inside:
            sim.sleep(1 * US)
        seen["start"] = sim.now
        seen["value"] = user_read_u64(k, r.task, r.addr)
        seen["end"] = sim.now

    def migrate() -> None:
        st = [0]
        env.sys.move_pages(r.task.pid, [r.addr], [0], st, MPOL_MF_MOVE)

    spawn_task(k, r.task, reader, core=3)
    spawn_task(k, r.task, migrate, core=0)
    env.platform.run()
    assert seen["value"] == expected
    assert seen["end"] > fake.left_at[0] > seen["start"]  # waited for the whole batch copy
    rec = env.core.records[-1]
    assert seen["end"] <= rec.t4
