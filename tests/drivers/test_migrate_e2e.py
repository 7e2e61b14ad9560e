"""End to end: move_pages(2) -> migrate_pages() -> batch copy through DCBM on PTDMA, for
each DCBM form with its migration-core flavour; the task sees the same bytes afterwards."""

from __future__ import annotations

import pytest

from drivers.dcbm.dcbm import Dcbm
from drivers.mm.migrate import MigrateCore
from drivers.mm.mm import Mm
from drivers.mm.syscalls import MPOL_MF_MOVE, MmSyscalls
from emulator.frame_allocator import PAGE_SIZE
from tests.drivers.conftest import make_stack

FLAVOUR = {"v1": "seed", "v3": "v3", "latest": "latest"}


@pytest.mark.parametrize(("version", "order"), [
    ("v1", 0), ("v1", 9), ("v3", 0), ("v3", 9), ("latest", 0), ("latest", 9)])
def test_move_pages_through_dcbm(version: str, order: int) -> None:
    s = make_stack(4)
    k = s.kernel
    k.subsystem(MigrateCore).configure(flavour=FLAVOUR[version])
    d = k.subsystem(Dcbm)
    assert s.call(d.enable, version, 4) == 0
    mm = k.subsystem(Mm)
    sysc = k.subsystem(MmSyscalls)
    task = mm.create_process("app")
    assert task.mm is not None
    npages = 1024
    addr = task.mm.mmap(npages * PAGE_SIZE)
    mm.populate(task, addr, npages * PAGE_SIZE, 1, order=order, seed=3)
    before = mm.checksum(task, addr, npages)
    step = PAGE_SIZE << order
    pages = [addr + i * step for i in range(npages >> order)]
    status = [-999] * len(pages)
    rc = s.call(sysc.move_pages, task.pid, pages, [0] * len(pages), status, MPOL_MF_MOVE)
    assert rc == 0 and status == [0] * len(pages)
    assert (mm.checksum(task, addr, npages) == before).all()
    assert set(task.mm.page_nodes(addr, npages)) == {0}
    if version == "v1" and order == 9:
        assert d.folios_migrated == 0  # v1's can_migrate_dma: order-0 only, THPs go to the CPU
    else:
        assert d.folios_migrated == len(pages)
    assert d.folios_failures == 0
