"""Bring up a whole emulated machine: platform, PTDMA engines, kernel, drivers, DCBM.

The experiments, the benchmarks and the trace all start here, so they measure the same
stack a user would assemble by hand (see README, "Using the emulator from Python").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drivers.dcbm.dcbm import Dcbm
from drivers.kernel import Kernel
from drivers.mm.migrate import MigrateCore, MigrateRecord
from drivers.mm.mm import Mm, Task
from drivers.mm.syscalls import MPOL_MF_MOVE, MmSyscalls
from drivers.ptdma.ptdma import PtDevice, PtdmaDriverConfig
from drivers.ptdma.ptdma_pci import ptdma_probe_all
from emulator.frame_allocator import PAGE_SIZE
from emulator.platform import Platform
from hdl_model.ptdma_engine import PtdmaEngine, attach_ptdma


@dataclass
class Machine:
    """An emulated machine with its software stack brought up."""

    platform: Platform
    kernel: Kernel
    engines: list[PtdmaEngine] = field(default_factory=list)
    pts: list[PtDevice] = field(default_factory=list)

    @property
    def mm(self) -> Mm:
        return self.kernel.subsystem(Mm)

    @property
    def core(self) -> MigrateCore:
        return self.kernel.subsystem(MigrateCore)

    @property
    def dcbm(self) -> Dcbm:
        return self.kernel.subsystem(Dcbm)

    @property
    def syscalls(self) -> MmSyscalls:
        return self.kernel.subsystem(MmSyscalls)

    def call(self, fn: Callable[..., Any], *args: Any, core: int = 0) -> Any:
        return self.platform.call(fn, *args, core=core)


def build_machine(
    *,
    preset: str = "zen3-epyc-2s",
    seed: int = 0,
    jitter: bool = False,
    n_engines: int = 0,
    iommu: str = "off",
    flavour: str = "generic",
    nr_max_batched_migration: int = 512,
    driver: PtdmaDriverConfig | None = None,
    engine_config: dict[str, Any] | None = None,
    kernel_release: str = "6.8",
    **overrides: Any,
) -> Machine:
    """Platform + ``n_engines`` PTDMA engines probed by the driver + a configured mm core."""
    plat = Platform(preset, seed=seed, iommu_mode=iommu, jitter=jitter, **overrides)
    kernel = Kernel(plat, kernel_release)
    m = Machine(plat, kernel)
    if n_engines:
        m.engines = attach_ptdma(plat, n_engines, **(engine_config or {}))
        m.pts = plat.call(ptdma_probe_all, kernel, driver or PtdmaDriverConfig())
    m.core.configure(flavour=flavour, nr_max_batched_migration=nr_max_batched_migration)
    return m


@dataclass
class Workload:
    """A process with ``nbytes`` of anonymous memory populated on ``src_node``."""

    task: Task
    addr: int
    nbytes: int
    order: int

    @property
    def folio_bytes(self) -> int:
        return PAGE_SIZE << self.order

    def pages(self) -> list[int]:
        """The start address of every folio (the program's ``pages`` array)."""
        step = self.folio_bytes
        return list(range(self.addr, self.addr + self.nbytes // step * step, step))


def populate_workload(
    m: Machine, nbytes: int, src_node: int, *, order: int = 0, core: int = 0, seed: int = 0
) -> Workload:
    """mmap + touch ``nbytes`` on ``src_node`` from ``core`` (as the test program does).

    The program's stores leave its most recent lines dirty in its CCD's L3, exactly as many
    as fit (``LlcModel`` keeps the last ``llc_bytes_per_ccd``).
    """
    mm = m.mm
    task = mm.create_process("bench")
    assert task.mm is not None
    addr = task.mm.mmap(nbytes)
    folios = mm.populate(task, addr, nbytes, src_node, order=order, seed=seed)
    ccd = m.platform.cpu.cores[core].ccd
    llc = m.platform.cpu.llc
    keep = llc.capacity_pages * PAGE_SIZE
    tail: list[Any] = []
    total = 0
    for f in reversed(folios):  # only the last L3-full of pages survives the touch loop
        if total >= keep:
            break
        tail.append(f)
        total += f.size
    for f in reversed(tail):
        llc.touch(ccd, f.phys, f.size)
    return Workload(task, addr, nbytes, order)


def move_pages_to(m: Machine, w: Workload, node: int, core: int = 0) -> tuple[int, list[int]]:
    """``move_pages(pid, pages, nodes=[node]*n, status, MPOL_MF_MOVE)`` from ``core``."""
    pages = w.pages()
    status = [-999] * len(pages)

    def call() -> int:
        return m.syscalls.move_pages(w.task.pid, pages, [node] * len(pages), status, MPOL_MF_MOVE)

    rc = m.call(call, core=core)
    return rc, status


def records_since(m: Machine, start: int) -> list[MigrateRecord]:
    return m.core.records[start:]
