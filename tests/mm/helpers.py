"""Helpers for the mm tests: a kernel with processes, populated memory and syscalls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drivers.kernel import Kernel
from drivers.mm.folio import FOLIO_CONTENT_COPIED, Folio
from drivers.mm.folio_copy import folios_mc_copy
from drivers.mm.migrate import MigrateCore
from drivers.mm.mm import AddressSpace, Mm, Task
from drivers.mm.syscalls import MPOL_MF_MOVE, MmSyscalls
from emulator.event_kernel import US
from emulator.frame_allocator import PAGE_SIZE
from emulator.platform import Platform


@dataclass
class Env:
    """A platform, its kernel and the mm subsystems."""

    platform: Platform
    kernel: Kernel
    mm: Mm
    core: MigrateCore
    sys: MmSyscalls

    def call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        """Run ``fn`` as a process to completion."""
        return self.platform.call(lambda: fn(*args, **kw))


def make_env(flavour: str = "generic", **cfg: Any) -> Env:
    """A fresh two-node platform with the migration core in ``flavour``."""
    p = Platform("zen3-epyc-2s", seed=1)
    k = Kernel(p)
    core = k.subsystem(MigrateCore)
    core.configure(flavour=flavour, **cfg)
    return Env(p, k, k.subsystem(Mm), core, k.subsystem(MmSyscalls))


@dataclass
class Region:
    """A populated range of a task."""

    task: Task
    addr: int
    npages: int
    order: int
    file: AddressSpace | None = None
    folios: list[Folio] = field(default_factory=list)

    @property
    def folio_addrs(self) -> list[int]:
        step = PAGE_SIZE << self.order
        return [self.addr + i * step for i in range(self.npages >> self.order)]

    @property
    def page_addrs(self) -> list[int]:
        return [self.addr + i * PAGE_SIZE for i in range(self.npages)]


def populate(env: Env, npages: int, node: int = 1, order: int = 0, *, file: bool = False,
             task: Task | None = None, hugetlb: bool = False, seed: int = 0) -> Region:
    """A task (new unless given) with ``npages`` base pages of distinct data on ``node``."""
    t = task or env.mm.create_process("app")
    assert t.mm is not None
    f = AddressSpace("file") if file else None
    addr = t.mm.mmap(npages * PAGE_SIZE, file=f, hugetlb=hugetlb)
    folios = env.mm.populate(t, addr, npages * PAGE_SIZE, node, order=order, seed=seed)
    return Region(t, addr, npages, 9 if hugetlb else order, f, folios)


def checksums(env: Env, r: Region) -> np.ndarray:
    """Per-page checksums of the region as its task sees it."""
    return env.mm.checksum(r.task, r.addr, r.npages)


def move(env: Env, r: Region, node: int, *, per_page: bool = False, flags: int = MPOL_MF_MOVE,
         caller: Task | None = None) -> tuple[int, list[int]]:
    """move_pages() of every folio (or every page) of the region to ``node``."""
    pages = r.page_addrs if per_page else r.folio_addrs
    status = [-999] * len(pages)
    rc = env.call(env.sys.move_pages, r.task.pid, pages, [node] * len(pages), status, flags,
                  caller=caller)
    return rc, status


class FakeMigrator:
    """A test batch copier: copies on the CPU (one copy_many), can sleep first, counts
    calls, optionally declines or fails, and marks FOLIO_CONTENT_COPIED (latest contract)."""

    def __init__(self, env: Env, *, sleep_ps: int = 0, rc: int = 0, mark: bool = True,
                 copy: bool = True) -> None:
        self.env = env
        self.sleep_ps = sleep_ps
        self.rc = rc
        self.mark = mark
        self.copy = copy
        self.calls: list[int] = []
        self.inside = 0
        self.entered_at: list[int] = []
        self.left_at: list[int] = []

    def __call__(self, dst: list[Folio], src: list[Folio], n: int) -> int:
        sim = self.env.kernel.sim
        self.calls.append(n)
        self.inside += 1
        self.entered_at.append(sim.now)
        try:
            if self.sleep_ps:
                sim.sleep(self.sleep_ps)
            if self.rc:
                return self.rc
            if self.copy:
                rc = folios_mc_copy(self.env.kernel, dst, src, n)
                if rc:
                    return rc
            if self.mark:
                for d in dst[:n]:
                    d.migrate_info |= FOLIO_CONTENT_COPIED
            return 0
        finally:
            self.inside -= 1
            self.left_at.append(sim.now)


SLOW_COPY = 50 * US
