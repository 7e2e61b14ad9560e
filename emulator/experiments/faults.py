"""``dcbm-emu faults``: the fault campaign. Migrations under injected faults, nothing lost.

A campaign runs *cells*: one migrator (the CPU path, mtcopy, DCBM v1, v3 or latest) x one
folio size (4 KiB or 2 MiB) x one fault kind (``emulator.fault_injection.FAULT_KINDS``).
A cell builds a machine, populates a process's memory on node 1, moves it once without
faults (the warm-up, which also sets the time horizon of time-armed faults), then moves it
back and forth ``iterations`` times with a seeded fault armed for each move (move_pages(2)
and migrate_pages(2) alternately). After every move it checks:

- data: per-page checksums of every page equal the ones taken at population;
- mappings: every page mapped exactly once, no migration entry left, refcounts, LRU, locks,
  isolation counts, frames per node, channels held, DMA and IOMMU mappings (``audit``);
- status: move_pages' per-page status and return value agree with where pages are;
- hangs: a hung engine is found by a timeout (the engine watchdog or the driver's own).

At the end of the cell every engine a fault hit must have carried a later migration
successfully (its channel recovered; up to ``probes`` extra clean moves are made to prove
it), offloading is switched off and nothing may be leaked.

Some faults make a faithful port lose data or hang whatever the harness does; those cells
(``CampaignConfig.hazard``) are left out of a run unless ``known_hazards`` is set, and the
summary lists them with the reason. The default configuration (strict PTDMA error
reporting, a 10 ms engine watchdog, v1 without its trailing CPU copy, the seed's kmalloc
fix) is one in which nothing is lost; tests/reliability shows each hazard on its own.
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from drivers.dmaengine.dmaengine import DmaEngine
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
from drivers.mm.mm import Task
from drivers.mm.mtcopy import MtCopy
from drivers.mm.syscalls import MPOL_MF_MOVE
from drivers.ptdma.ptdma import PtdmaDriverConfig
from emulator.event_kernel import US, S
from emulator.fault_injection import (
    DEVICE_KINDS,
    FAULT_KINDS,
    ArmedFault,
    Baseline,
    FaultInjector,
    FaultPlan,
    MtCopyProbe,
    audit,
    enable_page_poisoning,
    set_engine_watchdog,
)
from emulator.frame_allocator import PAGE_SIZE
from hdl_model.descriptor import CMD_TIMEOUT

from .stack import Machine, build_machine, populate_workload

MIGRATORS = ("cpu", "mtcopy", "dcbm-v1", "dcbm-v3", "dcbm-latest")
FLAVOUR = {"cpu": "generic", "mtcopy": "v3", "dcbm-v1": "seed", "dcbm-v3": "v3",
           "dcbm-latest": "latest"}
APPLICABLE: dict[str, tuple[str, ...]] = {
    "cpu": ("alloc", "busy"),
    "mtcopy": ("alloc", "busy", "slab"),
    "dcbm-v1": FAULT_KINDS,
    "dcbm-v3": tuple(k for k in FAULT_KINDS if k != "slab"),
    "dcbm-latest": tuple(k for k in FAULT_KINDS if k != "slab"),
}
ORDERS = (0, 9)


def applicable(migrator: str, order: int, kind: str) -> bool:
    """Can ``kind`` reach ``migrator`` at all? (v1 copies order-0 folios only, by polling:
    its THPs take the CPU path, and its engine never raises a completion MSI.)"""
    if kind not in APPLICABLE[migrator]:
        return False
    if migrator == "dcbm-v1" and kind == "msi_lost":
        return False
    return not (migrator == "dcbm-v1" and order and kind in DEVICE_KINDS)
SRC_NODE, DST_NODE = 1, 0
STATUS_UNSET = -999  # what the caller puts in move_pages' status array beforehand
# errnos move_pages(2) may return, and may store per page (man 2 move_pages)
MOVE_PAGES_ERRNOS = frozenset({-EACCES, -EFAULT, -EINVAL, -ENODEV, -ENOENT, -ENOMEM, -EPERM,
                               -ESRCH})
MOVE_PAGES_STATUS_ERRNOS = frozenset({-EACCES, -EBUSY, -EFAULT, -EIO, -EINVAL, -ENOENT,
                                      -ENOMEM})
MIGRATE_PAGES_ERRNOS = frozenset({-EFAULT, -EINVAL, -ENOMEM, -EPERM, -ESRCH})

# Why a cell is left out of the default campaign: the faithful port loses data or hangs.
E28 = ("a PTDMA error completes as DMA_COMPLETE/NOERROR (linux-design §6.5, ptdma-model E28), "
       "so DCBM takes the folio as copied")
V3_STATUS = ("v3 waits only for the last descriptor's callback and never checks a status "
             "(linux-design §4): an engine error goes unnoticed in either reporting mode")
V3_HANG = ("v3's 10 s timeout falls back to the CPU but pt_terminate_all does not stop the "
           "engine (§6.5): without a watchdog the channel stays hung, with one (<10 s) the "
           "error goes unnoticed")
LATEST_MSI = ("the latest DCBM waits without a timeout and terminates nothing (§5.3): a lost "
              "completion MSI blocks the migration forever")
NO_WATCHDOG_V1 = ("without a watchdog a hung engine never recovers: dma_sync_wait times out "
                  "after 5 s for every later page (§2.5)")
NO_WATCHDOG_LATEST = "without a watchdog a hang blocks the latest DCBM forever (§5.3)"
KMALLOC_BREAK = ("the seed's kmalloc-break (linux-design §2.3) leaves folios with stale "
                 "migration entries")


@dataclass(frozen=True)
class CampaignConfig:
    """What a campaign runs and on which configuration of the ports."""

    seed: int = 0
    runs: int = 1
    iterations: int = 6  # faulted migrations per cell and run
    migrators: tuple[str, ...] = MIGRATORS
    orders: tuple[int, ...] = ORDERS
    kinds: tuple[str, ...] = FAULT_KINDS
    error_reporting: str = "strict"  # PtdmaDriverConfig.error_reporting
    watchdog_ms: float = 10.0  # engine CMD_TIMEOUT; 0 = as the driver leaves it (off)
    v1_double_copy: bool = False  # v1's posted trailing CPU copy (masks every DMA fault)
    seed_kmalloc_break: bool = False  # the seed's kmalloc-break bug (MigrationConfig)
    known_hazards: bool = False  # also run the cells where the faithful port loses data
    n_engines: int = 2
    pages_4k: int = 64  # base pages of a 4 KiB-folio workload
    thps: int = 2  # THPs of a 2 MiB-folio workload
    hung_task_s: float = 120.0  # hung_task_timeout_secs: a migration longer than this hung
    probes: int = 4  # extra clean moves allowed to prove a faulted channel recovered
    threads: int = 4  # mtcopy threads

    def __post_init__(self) -> None:
        for mig in self.migrators:
            if mig not in MIGRATORS:
                raise ValueError(f"migrator {mig!r} not in {MIGRATORS}")
        for k in self.kinds:
            if k not in FAULT_KINDS:
                raise ValueError(f"fault kind {k!r} not in {FAULT_KINDS}")
        for o in self.orders:
            if o not in ORDERS:
                raise ValueError(f"folio order {o} not in {ORDERS}")
        if self.error_reporting not in ("faithful", "strict"):
            raise ValueError("error_reporting is 'faithful' or 'strict'")

    def hazard(self, migrator: str, kind: str) -> str | None:
        """Why the faithful port cannot survive ``kind`` under this configuration, or None."""
        device_error = kind in ("bus", "iommu") or (kind == "hang" and self.watchdog_ms > 0)
        if migrator == "dcbm-v3" and device_error:
            return V3_HANG if kind == "hang" else V3_STATUS
        if migrator == "dcbm-v3" and kind == "hang":
            return V3_HANG
        if device_error and self.error_reporting == "faithful" and (
            migrator == "dcbm-latest" or (migrator == "dcbm-v1" and not self.v1_double_copy)
        ):
            return E28
        if migrator == "dcbm-latest" and kind == "msi_lost":
            return LATEST_MSI
        if kind == "hang" and self.watchdog_ms <= 0:
            if migrator == "dcbm-v1" and not self.v1_double_copy:
                return NO_WATCHDOG_V1
            if migrator == "dcbm-latest":
                return NO_WATCHDOG_LATEST
        if kind == "slab" and migrator == "dcbm-v1" and self.seed_kmalloc_break:
            return KMALLOC_BREAK
        return None

    def cells(self) -> tuple[list[tuple[str, int, str]], list[tuple[str, str, str]]]:
        """(cells to run, cells left out as (migrator, kind, reason))."""
        run: list[tuple[str, int, str]] = []
        skipped: list[tuple[str, str, str]] = []
        for mig in self.migrators:
            for kind in self.kinds:
                if kind not in APPLICABLE[mig]:
                    continue
                why = self.hazard(mig, kind)
                if why is not None and not self.known_hazards:
                    skipped.append((mig, kind, why))
                    continue
                run.extend((mig, order, kind) for order in self.orders
                           if applicable(mig, order, kind))
        return run, skipped

    def describe(self) -> str:
        """One line naming the configuration the campaign ran."""
        wd = f"{self.watchdog_ms:g} ms" if self.watchdog_ms > 0 else "off (driver default)"
        return (f"PTDMA error reporting {self.error_reporting}; engine CMD_TIMEOUT watchdog "
                f"{wd}; DCBM v1 double copy {'on' if self.v1_double_copy else 'off'}; seed "
                f"kmalloc-break {'kept' if self.seed_kmalloc_break else 'fixed'}; known "
                f"hazards {'included' if self.known_hazards else 'left out'}; "
                f"{self.n_engines} PTDMA engines; seed {self.seed}, {self.runs} run(s) x "
                f"{self.iterations} faulted migrations per cell")


@dataclass
class StepResult:
    """One migration of a cell: the fault armed for it and what came of it."""

    step: int
    label: str  # the armed fault's label ("bus/read/SLVERR"), "" for a clean probe
    syscall: str
    rc: int
    injected: int = 0  # times the fault hit
    survived: bool = False
    lost_pages: int = 0
    fallbacks: int = 0
    channels_faulted: int = 0
    channels_recovered: int = 0  # engines this step proved working again (credited to the
    recovered_labels: list[str] = field(default_factory=list)  # faults that had hit them)
    hangs: int = 0
    hangs_detected: int = 0
    sim_ps: int = 0


@dataclass
class CellResult:
    """What one cell (migrator x folio order x fault kind, one run) did."""

    migrator: str
    order: int
    kind: str
    run: int
    seed: int
    hazard: str | None = None
    armed: Counter[str] = field(default_factory=Counter)
    fired: Counter[str] = field(default_factory=Counter)
    migrations: int = 0
    survived: int = 0
    bytes_verified: int = 0
    lost_pages: int = 0
    fallbacks: int = 0  # folios (or batches refused) handed back to the CPU copy
    channels_faulted: int = 0
    channels_recovered: int = 0
    hangs: int = 0
    hangs_detected: int = 0
    hung_migrations: int = 0
    late_completions: int = 0  # PTDMA driver diagnostics (premature completions)
    leaks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    wall_s: float = 0.0
    sim_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Nothing lost, leaked, hung or inconsistent."""
        return not (self.lost_pages or self.leaks or self.problems or self.hung_migrations)


def cell_seed(seed: int, run: int, migrator: str, order: int, kind: str) -> int:
    """A stable per-cell seed (independent of which other cells run)."""
    return zlib.crc32(f"{seed}/{run}/{migrator}/{order}/{kind}".encode()) & 0x7FFF_FFFF


# ====================================================================== one cell
@dataclass
class _Cell:
    """A cell's machine and the state carried between its migrations."""

    cfg: CampaignConfig
    migrator: str
    order: int
    kind: str
    m: Machine
    task: Task
    addr: int
    npages: int
    ref: np.ndarray
    base: Baseline
    channels_held: int
    probe: MtCopyProbe | None
    res: CellResult
    node: int = SRC_NODE
    ok_desc: list[int] = field(default_factory=list)
    unrecovered: dict[int, str] = field(default_factory=dict)  # engine -> fault that hit it
    bad: set[int] = field(default_factory=set)  # pages whose content was lost

    @property
    def dcbm(self) -> bool:
        return self.migrator.startswith("dcbm-")


def _build(cfg: CampaignConfig, migrator: str, order: int, kind: str, run: int) -> _Cell:
    seed = cell_seed(cfg.seed, run, migrator, order, kind)
    dcbm = migrator.startswith("dcbm-")
    iommu = "translated" if kind == "iommu" else ("passthrough" if dcbm else "off")
    m = build_machine(seed=seed, n_engines=cfg.n_engines if dcbm else 0, iommu=iommu,
                      flavour=FLAVOUR[migrator],
                      driver=PtdmaDriverConfig(error_reporting=cfg.error_reporting))
    if FLAVOUR[migrator] == "seed":
        m.core.configure(seed_kmalloc_break=cfg.seed_kmalloc_break)
    probe = None
    if migrator == "mtcopy":
        mt = m.kernel.subsystem(MtCopy)
        probe = MtCopyProbe(mt)
        if mt.set_threads(cfg.threads) or m.call(mt.set_offloading, True):
            raise RuntimeError("mtcopy would not start")
    elif dcbm:
        version = migrator.removeprefix("dcbm-")
        if version == "v1" and m.dcbm.store("v1_double_copy", int(cfg.v1_double_copy)) < 0:
            raise RuntimeError("v1_double_copy not accepted")
        rc = m.call(m.dcbm.enable, version, cfg.n_engines)
        if rc:
            raise RuntimeError(f"DCBM {version} would not start: {errname(rc)}")
        set_engine_watchdog(m, cfg.watchdog_ms)
    enable_page_poisoning(m)
    held = sum(pt.dma_dev.channels[0].client_count for pt in m.pts)
    base = Baseline.capture(m)
    npages = cfg.pages_4k if order == 0 else cfg.thps << 9
    w = populate_workload(m, npages * PAGE_SIZE, SRC_NODE, order=order, seed=seed)
    ref = m.mm.checksum(w.task, w.addr, npages)
    res = CellResult(migrator, order, kind, run, seed, hazard=cfg.hazard(migrator, kind))
    return _Cell(cfg, migrator, order, kind, m, w.task, w.addr, npages, ref, base, held, probe,
                 res, ok_desc=[0] * len(m.engines))


def _folio_addrs(c: _Cell) -> list[int]:
    """One address per folio mapped in the workload (folios change size after a split)."""
    mm = c.task.mm
    assert mm is not None
    out = []
    addr, end = c.addr, c.addr + c.npages * PAGE_SIZE
    while addr < end:
        f = mm.folio_at(addr)
        out.append(addr)
        addr += f.size if f is not None else PAGE_SIZE
    return out


@dataclass
class _Step:
    """One migration's call and outcome."""

    syscall: str
    node: int
    addrs: list[int]
    status: list[int]
    rc: int = 0
    hung: bool = False
    duration_ps: int = 0


def _migrate(c: _Cell, node: int, syscall: str) -> _Step:
    """move_pages or migrate_pages of the whole workload to ``node``, as root, with a
    hung-task limit on its simulated duration."""
    m = c.m
    addrs = _folio_addrs(c)
    st = _Step(syscall, node, addrs, [STATUS_UNSET] * len(addrs))
    pid = c.task.pid

    def call() -> int:
        if syscall == "move_pages":
            return m.syscalls.move_pages(pid, addrs, [node] * len(addrs), st.status,
                                         MPOL_MF_MOVE)
        return m.syscalls.migrate_pages(pid, 3, [1 - node], [node])

    sim = m.platform.sim
    t0 = sim.now
    proc = m.platform.spawn(call, core=0, name=f"campaign:{syscall}")
    sim.run_until(lambda: proc.finished, timeout=int(c.cfg.hung_task_s * S))
    st.duration_ps = sim.now - t0
    if not proc.finished:
        st.hung = True
        return st
    if proc.exception is not None:
        raise proc.exception
    st.rc = int(proc.result)
    return st


def _check_status(c: _Cell, st: _Step) -> list[str]:
    """Return value and per-page status against where the pages really are."""
    mm = c.task.mm
    assert mm is not None
    out: list[str] = []
    nodes = {a: f.nid for a in st.addrs if (f := mm.folio_at(a)) is not None}
    off_target = sum(1 for a in st.addrs if nodes.get(a) != st.node)
    if st.syscall == "move_pages":
        if st.rc < 0 and st.rc not in MOVE_PAGES_ERRNOS:
            out.append(f"move_pages returned undocumented {errname(st.rc)}")
        for a, s in zip(st.addrs, st.status, strict=True):
            if s == st.node and nodes.get(a) != s:
                out.append(f"status says page {a:#x} is on node {s}, it is on {nodes.get(a)}")
            elif s == STATUS_UNSET and st.rc == 0:
                out.append(f"move_pages returned 0 without a status for {a:#x}")
            elif s not in (st.node, STATUS_UNSET) and s not in MOVE_PAGES_STATUS_ERRNOS:
                out.append(f"page {a:#x}: undocumented status {s}")
        if st.rc == 0 and any(s < 0 and s != STATUS_UNSET for s in st.status):
            pass  # per-page errors with a 0 return are allowed (EBUSY, ENOENT ...)
        elif st.rc == 0 and off_target:
            out.append(f"move_pages returned 0 but {off_target} folios are not on {st.node}")
        if st.rc > 0 and not off_target:
            out.append(f"move_pages returned {st.rc} but every folio is on {st.node}")
    else:
        if st.rc < 0 and st.rc not in MIGRATE_PAGES_ERRNOS:
            out.append(f"migrate_pages returned undocumented {errname(st.rc)}")
        if st.rc == 0 and off_target:
            out.append(f"migrate_pages returned 0 but {off_target} folios are not on {st.node}")
        if st.rc > 0 and not off_target:
            out.append(f"migrate_pages returned {st.rc} but every folio is on {st.node}")
    return out


def _timeouts(c: _Cell) -> int:
    """Timeouts seen so far: engine CMD_TIMEOUT errors the driver logged, dma_sync_wait
    timeouts, v3 wait timeouts."""
    n = sum(1 for pt in c.m.pts for _, code, _ in pt.errors_logged if code == CMD_TIMEOUT)
    n += c.m.kernel.subsystem(DmaEngine).sync_wait_timeouts
    n += sum(1 for _, msg in c.m.kernel.log if "DMA timeout on channel" in msg)
    return n


def _fallbacks(c: _Cell) -> int:
    if c.dcbm:
        d = c.m.dcbm
        return d.folios_failures + d.batches_refused
    if c.probe is not None:
        return c.probe.fallback_folios()
    return 0


def _one_move(c: _Cell, inj: FaultInjector | None, step: int, specs: list[Any]) -> bool:
    """Arm, migrate, disarm, verify one step; False if the cell cannot go on (hung)."""
    res = c.res
    target = DST_NODE if c.node == SRC_NODE else SRC_NODE
    syscall = "move_pages" if step % 2 == 0 else "migrate_pages"
    timeouts0, fallbacks0 = _timeouts(c), _fallbacks(c)
    armed: list[ArmedFault] = inj.arm(step, specs) if inj is not None and specs else []
    label = ",".join(a.spec.label for a in armed)
    st = _migrate(c, target, syscall)
    res.migrations += 1
    res.sim_s += st.duration_ps / S
    sr = StepResult(step, label, syscall, st.rc, sim_ps=st.duration_ps)
    res.steps.append(sr)
    if st.hung:
        res.hung_migrations += 1
        res.problems.append(f"step {step}: {syscall} did not return within "
                            f"{c.cfg.hung_task_s:g} s (hung task) after {label or 'no fault'}")
        return False
    done = inj.disarm() if inj is not None and specs else []
    sr.injected = sum(a.hits for a in done)
    c.node = target
    ck = c.m.mm.checksum(c.task, c.addr, c.npages)
    bad = set(np.nonzero(ck != c.ref)[0].tolist())
    sr.lost_pages = lost = len(bad - c.bad)  # pages this step lost (once lost, stays lost)
    c.bad |= bad
    res.bytes_verified += c.npages * PAGE_SIZE
    problems = _check_status(c, st)
    problems += audit(c.m, c.task, c.base, expect_channels=c.channels_held)
    sr.hangs = sum(a.hits for a in done if a.spec.kind == "hang")
    if sr.hangs:
        detected = _timeouts(c) - timeouts0
        sr.hangs_detected = min(sr.hangs, detected)
        if detected < 1:
            problems.append(f"{sr.hangs} hang(s) fired, no timeout noticed them")
    sr.fallbacks = _fallbacks(c) - fallbacks0
    # channel recovery: an engine a fault hit must carry a later step's DMA successfully
    for i, e in enumerate(c.m.engines):
        if i in c.unrecovered and e.counters.descriptors > c.ok_desc[i]:
            sr.recovered_labels.append(c.unrecovered.pop(i))
            sr.channels_recovered += 1
    for a in done:
        if a.spec.kind in ("bus", "hang", "iommu", "msi_lost") and a.hits:
            for i in sorted(a.engines):
                if i not in c.unrecovered:  # a channel already awaiting recovery counts once
                    sr.channels_faulted += 1
                    c.unrecovered[i] = a.spec.label
    c.ok_desc = [e.counters.descriptors for e in c.m.engines]
    if lost:
        problems.insert(0, f"{lost} pages lost after {label or 'no fault'}")
    res.problems.extend(f"step {step}: {p}" for p in problems[:8])
    sr.survived = not lost and not problems
    res.survived += sr.survived
    res.lost_pages += lost
    res.fallbacks += sr.fallbacks
    res.channels_faulted += sr.channels_faulted
    res.channels_recovered += sr.channels_recovered
    res.hangs += sr.hangs
    res.hangs_detected += sr.hangs_detected
    return True


class _BusySampler:
    """Samples whether any engine works, every ``period_ps``, to find a step's DMA phase."""

    period_ps = 2 * US

    def __init__(self, m: Machine) -> None:
        self.m = m
        self.t0 = m.platform.sim.now
        self.busy: list[int] = []
        self.ev = m.platform.sim.schedule(0, self._sample) if m.engines else None

    def _sample(self) -> None:
        sim = self.m.platform.sim
        if any(e.busy for e in self.m.engines):
            self.busy.append(sim.now - self.t0)
        self.ev = sim.schedule(self.period_ps, self._sample)

    def stop(self) -> tuple[int, int] | None:
        """(start, length) of the sampled DMA phase, None if no engine worked."""
        if self.ev is not None:
            self.ev.cancel()
        if not self.busy:
            return None
        return self.busy[0], max(self.period_ps, self.busy[-1] - self.busy[0])


def run_cell(cfg: CampaignConfig, migrator: str, order: int, kind: str, run: int = 0
             ) -> CellResult:
    """Run one cell and return its result (see the module docstring)."""
    t_wall = time.perf_counter()
    c = _build(cfg, migrator, order, kind, run)
    res = c.res
    busy = _BusySampler(c.m)  # warm-up: no fault; it sets the horizon and the DMA window
    ok = _one_move(c, None, -1, [])
    window = busy.stop()
    horizon = max(50 * US, int(res.sim_s * S))
    res.migrations = res.survived = res.bytes_verified = 0  # only faulted moves count
    res.sim_s = 0.0
    res.steps.clear()
    plan = FaultPlan.generate(res.seed, (kind,), cfg.iterations)
    inj = FaultInjector(c.m, c.task, horizon_ps=horizon, max_hold_ps=4 * horizon,
                        mt_probe=c.probe, dma_window=window)
    for step, specs in enumerate(plan.steps):
        if not ok:
            break
        ok = _one_move(c, inj, step, specs)
    for k in range(cfg.probes):  # prove every faulted channel carries DMA again
        if not ok or not c.unrecovered:
            break
        ok = _one_move(c, None, cfg.iterations + k, [])
    if ok and c.unrecovered:
        res.problems.append(f"channels of engines {sorted(c.unrecovered)} never carried a "
                            f"successful descriptor after {sorted(set(c.unrecovered.values()))} "
                            f"({cfg.probes} probes)")
    res.armed, res.fired = inj.armed, inj.fired
    res.late_completions = sum(len(pt.late_completions) for pt in c.m.pts)
    if ok:
        if c.dcbm:
            rc = c.m.call(c.m.dcbm.disable)
            if rc:
                res.problems.append(f"DCBM disable failed: {errname(rc)}")
        elif c.probe is not None:
            c.m.call(c.m.kernel.subsystem(MtCopy).set_offloading, False)
        res.leaks = audit(c.m, c.task, c.base, expect_channels=0)
    res.wall_s = time.perf_counter() - t_wall
    return res


# ====================================================================== campaign
@dataclass
class CampaignResult:
    """Every cell of a campaign, the cells left out, and the configuration."""

    config: CampaignConfig
    cells: list[CellResult]
    skipped: list[tuple[str, str, str]]
    wall_s: float = 0.0

    @property
    def lost_pages(self) -> int:
        return sum(r.lost_pages for r in self.cells)

    @property
    def leaks(self) -> int:
        return sum(len(r.leaks) for r in self.cells)

    @property
    def problems(self) -> int:
        return sum(len(r.problems) for r in self.cells)

    @property
    def ok(self) -> bool:
        """Nothing lost, leaked, hung or inconsistent in any cell."""
        return all(r.ok for r in self.cells)

    def to_json(self) -> dict[str, Any]:
        """The campaign as plain data (config, cells, skipped cells)."""
        cells = []
        for r in self.cells:
            d = asdict(r)
            d["armed"], d["fired"] = dict(r.armed), dict(r.fired)
            cells.append(d)
        return {"config": asdict(self.config), "description": self.config.describe(),
                "ok": self.ok, "lost_pages": self.lost_pages, "leaks": self.leaks,
                "cells": cells,
                "skipped": [{"migrator": a, "kind": b, "reason": c} for a, b, c in self.skipped]}


def run_campaign(cfg: CampaignConfig,
                 progress: Callable[[CellResult], None] | None = None) -> CampaignResult:
    """Every cell of ``cfg`` for every run."""
    t0 = time.perf_counter()
    cells, skipped = cfg.cells()
    out: list[CellResult] = []
    for run in range(cfg.runs):
        for mig, order, kind in cells:
            r = run_cell(cfg, mig, order, kind, run)
            out.append(r)
            if progress is not None:
                progress(r)
    return CampaignResult(cfg, out, skipped, time.perf_counter() - t0)


def quick_config(**changes: Any) -> CampaignConfig:
    """The ``--quick`` campaign: every cell, three faulted migrations each."""
    return replace(CampaignConfig(iterations=3), **changes)


# ====================================================================== reporting
def _size(order: int) -> str:
    return "4 KiB" if order == 0 else "2 MiB"


def summary_tables(res: CampaignResult) -> list[Table]:
    """The rich tables: by fault, by migrator and folio size, and the cells left out."""
    by_kind = Table(title="Faults injected (one row per fault; a step = one faulted move)")
    cols = ("fault", "armed", "injected", "steps", "survived", "lost pages", "fallbacks",
            "channels hit/recovered", "hangs detected")
    for col in cols:
        by_kind.add_column(col, justify="left" if col == "fault" else "right")
    armed: Counter[str] = Counter()
    fired: Counter[str] = Counter()
    for r in res.cells:
        armed.update(r.armed)
        fired.update(r.fired)
    steps = [sr for r in res.cells for sr in r.steps]
    recovered: Counter[str] = Counter(lab for sr in steps for lab in sr.recovered_labels)
    for lab in sorted(armed, key=lambda x: (FAULT_KINDS.index(x.split("/")[0]), x)):
        ss = [sr for sr in steps if sr.label == lab]
        hit = sum(sr.channels_faulted for sr in ss)
        hangs = sum(sr.hangs for sr in ss)
        by_kind.add_row(
            lab, str(armed[lab]), str(fired[lab]), str(len(ss)),
            str(sum(sr.survived for sr in ss)), str(sum(sr.lost_pages for sr in ss)),
            str(sum(sr.fallbacks for sr in ss)),
            f"{hit}/{recovered[lab]}" if hit else "-",
            f"{sum(sr.hangs_detected for sr in ss)}/{hangs}" if hangs else "-",
            style="red" if any(sr.lost_pages or not sr.survived for sr in ss) else None,
        )
    by_mig = Table(title="Migrations, by migrator and folio size")
    for col in ("migrator", "folios", "cells", "moves", "survived", "MiB verified",
                "fallbacks", "late compl.", "leaks", "problems", "wall s"):
        by_mig.add_column(col, justify="left" if col in ("migrator", "folios") else "right")
    for mig in MIGRATORS:
        for order in ORDERS:
            rs = [r for r in res.cells if r.migrator == mig and r.order == order]
            if not rs:
                continue
            leaks = sum(len(r.leaks) for r in rs)
            probs = sum(len(r.problems) for r in rs)
            by_mig.add_row(
                mig, _size(order), str(len(rs)), str(sum(r.migrations for r in rs)),
                str(sum(r.survived for r in rs)),
                f"{sum(r.bytes_verified for r in rs) / 2**20:.1f}",
                str(sum(r.fallbacks for r in rs)), str(sum(r.late_completions for r in rs)),
                str(leaks), str(probs), f"{sum(r.wall_s for r in rs):.1f}",
                style="red" if leaks or probs or any(r.lost_pages for r in rs) else None,
            )
    tables = [by_kind, by_mig]
    if res.skipped:
        sk = Table(title="Cells left out: the faithful port loses data or hangs there "
                   "(--known-hazards runs them)")
        sk.add_column("migrator")
        sk.add_column("fault")
        sk.add_column("why")
        for mig, kind, why in res.skipped:
            sk.add_row(mig, kind, why)
        tables.append(sk)
    return tables


def print_summary(res: CampaignResult, console: Console | None = None) -> None:
    """Configuration line, tables, problems, verdict."""
    con = console or Console(width=max(120, Console().width))
    con.print(f"[bold]Fault campaign[/bold]: {res.config.describe()}")
    for t in summary_tables(res):
        con.print(t)
    bad = [r for r in res.cells if not r.ok]
    for r in bad[:20]:
        con.print(f"[red]{r.migrator} {_size(r.order)} {r.kind} (seed {r.seed})[/red]"
                  + (f" [yellow](known hazard: {r.hazard})[/yellow]" if r.hazard else ""))
        for p in (r.problems + r.leaks)[:6]:
            con.print(f"    {p}")
    verdict = ("[green]nothing lost, nothing leaked[/green]" if res.ok else
               f"[red]{res.lost_pages} pages lost, {res.leaks} leaks, {res.problems} "
               "other problems[/red]")
    n_mig = sum(r.migrations for r in res.cells)
    con.print(f"{len(res.cells)} cells, {n_mig} faulted migrations, "
              f"{sum(sum(r.fired.values()) for r in res.cells)} faults injected, "
              f"{sum(r.bytes_verified for r in res.cells) / 2**20:.1f} MiB verified in "
              f"{res.wall_s:.1f} s: {verdict}")


def _csv(text: str, allowed: Sequence[str]) -> tuple[str, ...]:
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    for x in items:
        if x not in allowed:
            raise argparse.ArgumentTypeError(f"{x!r} not in {', '.join(allowed)}")
    return items


def cmd_faults(args: argparse.Namespace) -> int:
    """Run the fault campaign: migrations (CPU, mtcopy, DCBM v1/v3/latest; 4 KiB and 2 MiB
    folios) under seeded injected faults (PTDMA bus errors on descriptor fetch, data read
    and write; engine hangs; lost and spurious MSIs; IOMMU faults; destination allocation
    failures; pinned pages; kmalloc failures). Measures, per fault kind and per migrator:
    faults armed and injected, migrations survived, bytes verified by per-page checksums,
    CPU fallbacks taken, channels recovered after a fault, hangs detected by a timeout,
    and leaks (frames, folio references, isolation counts, DMA channels, DMA and IOMMU
    mappings). Exit status 1 if any page was lost or anything leaked or hung."""
    base = quick_config() if args.quick else CampaignConfig()
    changes: dict[str, Any] = {"seed": args.seed, "runs": args.runs,
                               "error_reporting": args.error_reporting,
                               "watchdog_ms": args.watchdog_ms,
                               "v1_double_copy": args.v1_double_copy,
                               "seed_kmalloc_break": args.seed_kmalloc_break,
                               "known_hazards": args.known_hazards}
    if args.iterations is not None:
        changes["iterations"] = args.iterations
    if args.migrators:
        changes["migrators"] = _csv(args.migrators, MIGRATORS)
    if args.kinds:
        changes["kinds"] = _csv(args.kinds, FAULT_KINDS)
    if args.folio_sizes:
        sizes = _csv(args.folio_sizes, ("4K", "2M"))
        changes["orders"] = tuple(0 if s == "4K" else 9 for s in sizes)
    cfg = replace(base, **changes)
    console = Console(width=max(120, Console().width))
    cells, _ = cfg.cells()
    console.print(f"running {len(cells) * cfg.runs} cells ...")

    def progress(r: CellResult) -> None:
        mark = "ok" if r.ok else "[red]FAIL[/red]"
        console.print(f"  {r.migrator:<12} {_size(r.order):>5} {r.kind:<13} "
                      f"{sum(r.fired.values()):>3} faults  {r.survived}/{r.migrations} {mark}",
                      highlight=False)

    res = run_campaign(cfg, progress if args.verbose else None)
    print_summary(res, console)
    if args.json:
        Path(args.json).write_text(json.dumps(res.to_json(), indent=1, default=str))
        console.print(f"wrote {args.json}")
    return 0 if res.ok else 1


def register(sub: Any) -> None:
    """Add the ``faults`` sub-command."""
    doc = cmd_faults.__doc__ or ""
    p = sub.add_parser("faults", help="fault campaign: migrations under injected faults, "
                       "nothing lost or leaked", description=" ".join(doc.split()))
    p.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    p.add_argument("--runs", type=int, default=1, help="runs of every cell, each reseeded")
    p.add_argument("--iterations", type=int, default=None,
                   help="faulted migrations per cell and run (default 6; 3 with --quick)")
    p.add_argument("--quick", action="store_true", help="a short campaign (3 per cell)")
    p.add_argument("--migrators", help=f"comma list of {', '.join(MIGRATORS)}")
    p.add_argument("--kinds", help=f"comma list of {', '.join(FAULT_KINDS)}")
    p.add_argument("--folio-sizes", help="comma list of 4K, 2M")
    p.add_argument("--error-reporting", choices=("strict", "faithful"), default="strict",
                   help="PTDMA driver error reporting (default strict; faithful loses data "
                        "on engine errors, linux-design §6.5)")
    p.add_argument("--watchdog-ms", type=float, default=10.0,
                   help="engine CMD_TIMEOUT watchdog in ms, 0 = off as the driver leaves it")
    p.add_argument("--v1-double-copy", action="store_true",
                   help="keep DCBM v1's trailing CPU copy (masks every DMA fault)")
    p.add_argument("--seed-kmalloc-break", action="store_true",
                   help="keep the seed's kmalloc-break bug (linux-design §2.3) in the core")
    p.add_argument("--known-hazards", action="store_true",
                   help="also run the cells where the faithful port loses data or hangs")
    p.add_argument("--json", metavar="PATH", help="write every cell's result as JSON")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per cell")
    p.set_defaults(func=cmd_faults)
