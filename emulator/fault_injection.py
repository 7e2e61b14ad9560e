"""Fault injection for reliability runs: a seeded fault plan and the injector that arms it.

A ``FaultPlan`` is drawn once per run from a seed (``FaultPlan.generate``): for each
migration step, the faults to arm, each a ``FaultSpec`` whose position (which folio, which
moment, which engine) is a fraction resolved against the workload when it is armed, so one
plan fits any workload layout. A ``FaultInjector`` arms a step's faults on a running machine
through the hooks the emulator already has, and ``disarm`` collects what fired and clears
what did not. Kinds (``FAULT_KINDS``):

- ``bus``: an AXI error response, SLVERR or DECERR, on a PTDMA descriptor fetch, source
  read or destination write (``engine.faults.inject``, ``hdl_model.faults``);
- ``hang``: an engine access that never answers (``engine.faults.hang``); found by the
  engine's CMD_TIMEOUT watchdog when one is set (``set_engine_watchdog``), else only by the
  driver's own timeout, if it has one;
- ``msi_lost``: the next completion MSI of the engines never reaches the handler
  (``InterruptController.lose_msi``); ``msi_spurious``: handler runs with no device edge
  (``InterruptController.inject_spurious_msi``);
- ``iommu``: an I/O page fault on a mapped page the engine is about to read or write
  (``Iommu.inject_fault``; needs ``iommu="translated"``);
- ``alloc``: the allocation of a destination folio fails (``MigrateCore.alloc_fault``,
  fail_page_alloc);
- ``busy``: a user task pins a page, holding an extra reference for a while (a GUP pin,
  ``folio_try_get`` under the page-table lock), so its migration cannot freeze the refcount;
- ``slab``: a kmalloc failure on the migration path (``MigrateCore.kmalloc_fault``: the
  seed's ``migrate_folio_info``; ``MtCopy.alloc_fault``: mtcopy's work items).

``enable_page_poisoning`` makes freed frames hold garbage, so a copy that never happened
shows. The module also checks the machine after a run (``audit``): frames per node, folio
references and mappings, isolation counts, channel ownership, IOMMU mappings, driver lists;
each problem is a readable string, so "nothing leaked" is ``audit(...) == []``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from drivers.mm.folio import Folio, PG_locked, PG_lru
from drivers.mm.mtcopy import MtCopy
from drivers.mm.tasks import spawn_task, user_read
from drivers.ptdma.ptdma_regs import CMD_TIMEOUT_OFFSET
from emulator.event_kernel import MS, US, Event, Process
from emulator.frame_allocator import PAGE_SIZE
from emulator.iommu import InjectedIommuFault

if TYPE_CHECKING:
    from drivers.mm.mm import Task
    from emulator.experiments.stack import Machine

FAULT_KINDS = ("bus", "hang", "msi_lost", "msi_spurious", "iommu", "alloc", "busy", "slab")
DEVICE_KINDS = frozenset({"bus", "hang", "msi_lost", "msi_spurious", "iommu"})
BUS_SIDES = ("fetch", "read", "write")
BUS_RESPONSES = ("SLVERR", "DECERR")
DATA_SIDES = ("read", "write")
CMD_TIMEOUT_MAX = 0xFFFF_FFFF  # CMD_TIMEOUT is a 32-bit cycle count (ptdma-model §2)


@dataclass(frozen=True)
class FaultSpec:
    """One fault of a plan. Positions are fractions in [0, 1), resolved when armed.

    ``target``: which folio (or page, for ``busy``) of the workload, or which allocation /
    kmalloc call of the step; ``at``: when, as a fraction of the step's horizon (time-armed
    faults: bus and hang on the fetch or write side, lost MSIs, IOMMU write faults, spurious
    MSIs, pins); ``hold``: how long a pin lasts, as a fraction of ``max_hold_ps``.
    """

    kind: str
    side: str = ""
    resp: str = ""
    target: float = 0.0
    at: float = 0.0
    hold: float = 0.0
    count: int = 1

    @property
    def label(self) -> str:
        """``kind``, with side and response when they apply (``bus/read/SLVERR``)."""
        return "/".join(p for p in (self.kind, self.side, self.resp) if p)


@dataclass
class FaultPlan:
    """The faults of every step of one run, drawn from ``seed``."""

    seed: int
    kinds: tuple[str, ...]
    steps: list[list[FaultSpec]]

    @classmethod
    def generate(
        cls, seed: int, kinds: tuple[str, ...] | list[str], steps: int, *, per_step: int = 1,
        first_clean: int = 0,
    ) -> FaultPlan:
        """``steps`` steps of ``per_step`` faults each (the first ``first_clean`` steps have
        none); kinds are taken round-robin from a seeded shuffle, so every kind appears."""
        ks = tuple(kinds)
        for k in ks:
            if k not in FAULT_KINDS:
                raise ValueError(f"fault kind {k!r} not in {FAULT_KINDS}")
        rng = np.random.default_rng(seed)
        out: list[list[FaultSpec]] = [[] for _ in range(min(first_clean, steps))]
        order: list[str] = []
        while len(out) < steps:
            specs: list[FaultSpec] = []
            for _ in range(per_step if ks else 0):
                if not order:
                    order = [ks[i] for i in rng.permutation(len(ks))]
                specs.append(cls._draw(rng, order.pop()))
            out.append(specs)
        return cls(seed, ks, out)

    @staticmethod
    def _draw(rng: np.random.Generator, kind: str) -> FaultSpec:
        side = resp = ""
        if kind == "bus":
            side = BUS_SIDES[int(rng.integers(len(BUS_SIDES)))]
            resp = BUS_RESPONSES[int(rng.integers(len(BUS_RESPONSES)))]
        elif kind in ("hang", "iommu"):
            side = DATA_SIDES[int(rng.integers(len(DATA_SIDES)))]
        count = int(rng.integers(1, 4)) if kind == "msi_spurious" else 1
        return FaultSpec(kind, side, resp, float(rng.random()), float(rng.random()),
                         float(rng.random()), count)

    def labels(self) -> Counter[str]:
        """How many faults of each label the plan arms."""
        return Counter(s.label for step in self.steps for s in step)


@dataclass
class ArmedFault:
    """A fault armed for one step, and what it did."""

    step: int
    spec: FaultSpec
    hits: int = 0
    engines: set[int] = field(default_factory=set)  # engines a device fault hit
    detail: str = ""


def set_engine_watchdog(m: Machine, ms: float) -> int:
    """Program every engine's CMD_TIMEOUT (ptdma-model §2, error 0x12) to ``ms``; 0 turns it
    off. The PTDMA driver writes 0 at init; this is the what-if "hardware watchdog" that
    ends a hung descriptor with an error, which recovers the queue. Returns the cycles."""
    cycles = int(m.platform.device_clock.ps_to_cycles(int(ms * MS))) if ms > 0 else 0
    if cycles > CMD_TIMEOUT_MAX:
        raise ValueError(f"watchdog {ms} ms exceeds CMD_TIMEOUT's 32-bit cycle count")
    for e in m.engines:
        m.platform.bus.write(e.pci.bar_base + CMD_TIMEOUT_OFFSET, cycles)  # untimed back door
    return cycles


@dataclass
class _Pin:
    """A busy-page task's state."""

    addr: int
    hold_ps: int
    folio: Folio | None = None
    proc: Process | None = None


class FaultInjector:
    """Arms plan steps on a machine and reports what fired (``armed`` / ``fired`` counters).

    ``horizon_ps`` is the expected length of one migration step: time-armed faults fire at
    ``at * horizon_ps`` after ``arm``. ``max_hold_ps`` bounds how long a ``busy`` pin lasts.
    ``engines`` restricts device faults to those engine indices (default: all);
    ``mt_probe`` (``MtCopyProbe``) lets ``slab`` faults on mtcopy be counted.
    ``dma_window`` = (start, length) in ps after ``arm`` of the step's DMA phase, if known
    (e.g. from a fault-free run): time-armed device faults then fall inside it.
    """

    poll_ps = 2 * US  # how often a time-armed device fault looks for a working engine

    def __init__(
        self,
        m: Machine,
        task: Task,
        *,
        horizon_ps: int = 1 * MS,
        max_hold_ps: int = 2 * MS,
        engines: list[int] | None = None,
        mt_probe: MtCopyProbe | None = None,
        dma_window: tuple[int, int] | None = None,
    ) -> None:
        self.m = m
        self.task = task
        self.horizon_ps = horizon_ps
        self.dma_window = dma_window
        self.max_hold_ps = max_hold_ps
        self.engine_ids = list(range(len(m.engines))) if engines is None else list(engines)
        self.armed: Counter[str] = Counter()
        self.fired: Counter[str] = Counter()
        self.history: list[ArmedFault] = []
        self._live: list[ArmedFault] = []
        self._events: list[Event] = []
        self._pins: list[_Pin] = []
        self._iommu: list[tuple[ArmedFault, InjectedIommuFault]] = []
        self._engine_fired0: list[int] = []
        self._msi_lost0: dict[int, int] = {}
        self._spurious0: dict[int, int] = {}
        self.mt_probe = mt_probe
        self._mt_calls0 = 0

    # ------------------------------------------------------------------ helpers
    @property
    def engines(self) -> list[Any]:
        """The engines device faults go to."""
        return [self.m.engines[i] for i in self.engine_ids]

    def _folios(self) -> list[Folio]:
        mm = self.task.mm
        assert mm is not None
        out: list[Folio] = []
        seen: set[int] = set()
        for vma in mm.vmas:
            addr = vma.start
            while addr < vma.end:
                f = mm.folio_at(addr)
                if f is not None and id(f) not in seen:
                    seen.add(id(f))
                    out.append(f)
                addr += PAGE_SIZE
        return out

    def _page_addrs(self) -> list[int]:
        mm = self.task.mm
        assert mm is not None
        return [a for v in mm.vmas for a in range(v.start, v.end, PAGE_SIZE)
                if mm.folio_at(a) is not None]

    def _later(self, frac: float, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` at ``frac * horizon_ps`` from now (cancelled by ``disarm``)."""
        ev = self.m.platform.sim.schedule(int(frac * self.horizon_ps), fn, *args)
        self._events.append(ev)

    def _when_busy(self, frac: float, fn: Callable[..., None], *args: Any) -> None:
        """Arm ``fn(*args)`` at ``frac * horizon_ps``, or as soon after as an engine is
        working, so a time-armed device fault meets the DMA phase of the migration (the
        engine model decides a descriptor's faults when it decodes it: the fault hits the
        next descriptor decoded after arming)."""
        sim = self.m.platform.sim
        deadline = sim.now + 4 * self.horizon_ps

        def attempt() -> None:
            if any(e.busy for e in self.engines) or sim.now >= deadline:
                fn(*args)
                return
            self._events.append(sim.schedule(self.poll_ps, attempt))

        if self.dma_window is None:
            self._later(frac, attempt)
        else:
            start, length = self.dma_window
            self._events.append(sim.schedule(start + int(frac * length), attempt))

    # ------------------------------------------------------------------ arming
    def arm(self, step: int, specs: list[FaultSpec]) -> list[ArmedFault]:
        """Arm ``specs`` for migration step ``step`` (call outside a process, before it)."""
        self._engine_fired0 = [len(e.faults.fired) for e in self.m.engines]
        irq = self.m.platform.irq
        self._msi_lost0 = {e.vector: irq.lines[e.vector].lost for e in self.m.engines}
        self._spurious0 = {e.vector: irq.lines[e.vector].spurious_injected
                           for e in self.m.engines}
        self._mt_calls0 = len(self.mt_probe.calls) if self.mt_probe is not None else 0
        out = []
        for spec in specs:
            a = ArmedFault(step, spec)
            getattr(self, f"_arm_{spec.kind}")(a)
            self.armed[spec.label] += 1
            self._live.append(a)
            out.append(a)
        return out

    def _arm_bus(self, a: ArmedFault) -> None:
        s = a.spec
        if s.side == "read":  # the source folio is known: hit exactly its first read
            f = self._target_folio(s.target)
            for e in self.engines:
                e.faults.inject("read", s.resp, addr_range=(f.phys, f.phys + f.size))
            a.detail = f"src {f.phys:#x}"
        else:  # the descriptor fetch or destination write in flight at ``at``
            self._when_busy(s.at, self._inject_engines, s.side, s.resp)

    def _arm_hang(self, a: ArmedFault) -> None:
        s = a.spec
        if s.side == "read":
            f = self._target_folio(s.target)
            for e in self.engines:
                e.faults.hang("read", addr_range=(f.phys, f.phys + f.size))
            a.detail = f"src {f.phys:#x}"
        else:
            self._when_busy(s.at, self._inject_engines, s.side, "HANG")

    def _inject_engines(self, side: str, resp: str) -> None:
        for e in self.engines:
            e.faults.inject(side, resp)

    def _arm_msi_lost(self, a: ArmedFault) -> None:
        self._when_busy(a.spec.at, self._lose_msis)

    def _lose_msis(self) -> None:
        for e in self.engines:
            self.m.platform.irq.lose_msi(e.vector, 1)

    def _arm_msi_spurious(self, a: ArmedFault) -> None:
        s = a.spec
        for k in range(s.count):
            e = self.engines[int((s.target + k / max(1, s.count)) * len(self.engines))
                             % len(self.engines)]
            self._later((s.at + k / (s.count + 1)) % 1.0,
                        self.m.platform.irq.inject_spurious_msi, e.vector)

    def _arm_iommu(self, a: ArmedFault) -> None:
        s = a.spec
        iommu = self.m.platform.iommu
        if not iommu.translating:
            raise ValueError("iommu faults need a machine built with iommu='translated'")
        if s.side == "read":
            f = self._target_folio(s.target)
            self._iommu.append((a, iommu.inject_fault(f.phys, f.size, write=False)))
            a.detail = f"src {f.phys:#x}"
        else:  # the destination folio does not exist yet: the next device write at ``at``
            self._when_busy(s.at, self._iommu_write, a)

    def _iommu_write(self, a: ArmedFault) -> None:
        iommu = self.m.platform.iommu
        top = max(r.base + r.size for r in self.m.platform.mem.nodes)
        self._iommu.append((a, iommu.inject_fault(0, top, write=True)))

    def _arm_alloc(self, a: ArmedFault) -> None:
        nth = int(a.spec.target * max(1, len(self._folios())))
        calls = [0]

        def alloc_fault(src: Folio) -> bool:
            calls[0] += 1
            if calls[0] == nth + 1:
                a.hits += 1
                a.detail = f"allocation {nth + 1} (order {src.order})"
                return True
            return False

        self.m.core.alloc_fault = alloc_fault

    def _arm_slab(self, a: ArmedFault) -> None:
        core = self.m.core
        if core.config.flavour == "seed":  # the seed batch move's migrate_folio_info
            nth = core.kmalloc_calls + int(a.spec.target * max(1, len(self._folios())))

            def kmalloc_fault(n: int) -> bool:
                if n == nth:
                    a.hits += 1
                    a.detail = f"kmalloc call {n}"
                    return True
                return False

            core.kmalloc_fault = kmalloc_fault
        mt = self.m.kernel.subsystem(MtCopy)
        if mt.offloading:
            mt.alloc_fault = True  # kzalloc(GFP_NOWAIT) of the work items fails: -ENOMEM

    def _arm_busy(self, a: ArmedFault) -> None:
        addrs = self._page_addrs()
        addr = addrs[int(a.spec.target * len(addrs)) % len(addrs)]
        pin = _Pin(addr, int(a.spec.hold * self.max_hold_ps))
        k = self.m.kernel
        pin.proc = spawn_task(k, self.task, self._pin_page, pin, a, core=3,
                              delay=int(a.spec.at * self.horizon_ps))
        self._pins.append(pin)

    def _pin_page(self, pin: _Pin, a: ArmedFault) -> None:
        """The busy task: fault the page in (waiting out a migration entry), take a
        reference on the folio mapped there, hold it, drop it."""
        k = self.m.kernel
        mm = self.task.mm
        assert mm is not None
        while True:
            pte, _ = mm.lookup(pin.addr)
            if pte is not None and not pte.migration:
                break
            user_read(k, self.task, pin.addr, 8)  # waits on the migration entry
        pin.folio = pte.folio
        pin.folio.refcount += 1  # folio_try_get (GUP pin)
        a.hits += 1
        a.detail = f"page {pin.addr:#x} for {pin.hold_ps / US:.0f} us"
        k.sim.sleep(pin.hold_ps)
        self.m.mm.folio_put(pin.folio)

    def _target_folio(self, frac: float) -> Folio:
        fs = self._folios()
        return fs[int(frac * len(fs)) % len(fs)]

    # ------------------------------------------------------------------ disarming
    def disarm(self) -> list[ArmedFault]:
        """After the step: wait for pins to drop, count hits, clear every unfired fault."""
        m = self.m
        sim = m.platform.sim
        for pin in self._pins:
            if pin.proc is not None:
                sim.run_until(lambda p=pin.proc: p.finished)  # type: ignore[misc]
                if pin.proc.exception is not None:
                    raise pin.proc.exception
        for ev in self._events:
            ev.cancel()
        irq = m.platform.irq
        engine_hits = {i: e.faults.fired[self._engine_fired0[i]:]
                       for i, e in enumerate(m.engines)}
        for a in self._live:
            s = a.spec
            if s.kind in ("bus", "hang"):
                resp = "HANG" if s.kind == "hang" else s.resp
                for i, fired in engine_hits.items():
                    n = sum(1 for _, side, r, _ in fired if side == s.side and r == resp)
                    if n:
                        a.hits += n
                        a.engines.add(i)
            elif s.kind == "msi_lost":
                for i, e in enumerate(m.engines):
                    n = irq.lines[e.vector].lost - self._msi_lost0.get(e.vector, 0)
                    if n:
                        a.hits += n
                        a.engines.add(i)
            elif s.kind == "msi_spurious":
                for i, e in enumerate(m.engines):
                    n = irq.lines[e.vector].spurious_injected - self._spurious0.get(e.vector, 0)
                    if n:
                        a.hits += n
                        a.engines.add(i)
            elif s.kind == "slab" and self.mt_probe is not None:
                failed = [c for c in self.mt_probe.calls[self._mt_calls0:] if c[1]]
                a.hits += len(failed)
                if failed:
                    a.detail = f"mtcopy: {len(failed)} batch call(s) refused"
        for a, f in self._iommu:
            a.hits += f.hits
            for dev, _iova, _w in f.fired:
                a.engines.update(i for i, e in enumerate(m.engines) if e.pci.dma_name == dev)
        for e in m.engines:
            e.faults.clear()
        irq.clear_lost()
        if m.platform.iommu.translating:
            m.platform.iommu.clear_injected()
        m.core.alloc_fault = None
        m.core.kmalloc_fault = None
        m.kernel.subsystem(MtCopy).alloc_fault = False
        for a in self._live:
            self.fired[a.spec.label] += a.hits
        done, self._live = self._live, []
        self.history.extend(done)
        self._events, self._pins, self._iommu = [], [], []
        return done


class MtCopyProbe:
    """Records mtcopy's batch calls (folio count, rc). Install it before offloading starts:
    ``MtCopy.migrator`` is what ``start_offloading`` puts in the static call."""

    def __init__(self, mt: MtCopy) -> None:
        if mt.offloading:
            raise RuntimeError("install the probe before mtcopy offloading starts")
        self.calls: list[tuple[int, int]] = []
        inner = mt.migrator.migrate_dma

        def observed(dst: list[Folio], src: list[Folio], n: int) -> int | None:
            rc = inner(dst, src, n)
            self.calls.append((n, int(rc or 0)))
            return rc

        mt.migrator.migrate_dma = observed

    def fallback_folios(self, since: int = 0) -> int:
        """Folios of the calls (from index ``since``) that failed and went to the CPU."""
        return sum(n for n, rc in self.calls[since:] if rc)


# ====================================================================== page poisoning
PAGE_POISON = 0xAA  # include/linux/poison.h


def enable_page_poisoning(m: Machine) -> None:
    """``page_poison=1`` (mm/page_poison.c ``kernel_poison_pages`` in free_pages_prepare):
    fill every folio the mm frees with PAGE_POISON before its frames go back to the buddy
    allocator. Without it a migration that never copies can go unnoticed: moving pages back
    and forth reuses the frames that held the very same data. Untimed (a debug option's
    cost is not part of the measurement)."""
    mm = m.mm
    if getattr(mm, "_page_poisoning", False):
        return
    free = mm.free_folio
    mem = m.platform.mem

    def free_folio(folio: Folio) -> None:
        mem.fill(folio.phys, folio.size, PAGE_POISON)
        free(folio)

    mm.free_folio = free_folio  # type: ignore[method-assign]
    mm._page_poisoning = True  # type: ignore[attr-defined]


# ====================================================================== accounting
@dataclass
class Baseline:
    """What the machine holds before the workload exists (``capture`` right after bring-up):
    allocated frames per node, streaming DMA mappings and IOMMU pages per device."""

    frames: list[int]
    dma_mappings: dict[str, int]
    iommu_pages: dict[str, int]

    @classmethod
    def capture(cls, m: Machine) -> Baseline:
        """Snapshot the counts ``audit`` compares against."""
        plat = m.platform
        return cls(
            [fa.allocated_pages for fa in plat.frames],
            {pt.name: len(pt.dev.mappings) for pt in m.pts},
            {name: d.mapped_pages for name, d in plat.iommu.domains.items()},
        )


def audit(
    m: Machine, task: Task, base: Baseline, *, expect_channels: int = 0,
    procs: list[Process] | None = None,
) -> list[str]:
    """Everything that should hold after migrations settle; one string per problem.

    - frames: each node's allocated pages = baseline + the pages of the task's folios there;
    - mappings: every page of the task present (no migration entry), every folio mapped
      exactly once (one rmap entry, mapcount 1, its own physical range), refcount 1,
      on the LRU, unlocked, no migration state (``migrate_info``, ``private``);
    - ``nr_isolated`` back to 0 on every node, the task's anon_vma refcount back to 1;
    - DMA: channels held = ``expect_channels``, no streaming mapping or IOMMU page beyond the
      baseline (the rings), empty virt-dma lists, no DMA-API debug error;
    - processes: every one in ``procs`` finished without an exception.
    """
    problems: list[str] = []
    plat = m.platform
    mm = task.mm
    assert mm is not None
    per_node = [0] * plat.nr_nodes
    seen: dict[int, Folio] = {}
    phys_owner: dict[int, int] = {}
    for vma in mm.vmas:
        for addr in range(vma.start, vma.end, PAGE_SIZE):
            pte, idx = mm.lookup(addr)
            if pte is None:
                problems.append(f"page {addr:#x} unmapped")
                continue
            if pte.migration:
                problems.append(f"page {addr:#x} left as a migration entry")
            f = pte.folio
            phys = f.phys + idx * PAGE_SIZE
            other = phys_owner.setdefault(phys, addr)
            if other != addr:
                problems.append(f"pages {other:#x} and {addr:#x} map the same frame {phys:#x}")
            if id(f) in seen:
                continue
            seen[id(f)] = f
            per_node[f.nid] += f.nr_pages
            if plat.mem.node_of(f.phys) != f.nid:
                problems.append(f"{f!r}: nid {f.nid} but frame on node {plat.mem.node_of(f.phys)}")
            if len(f.mappers) != 1 or f.mapcount != 1:
                problems.append(f"{f!r}: mapped {f.mapcount} times, rmap {len(f.mappers)}")
            if f.refcount != 1:
                problems.append(f"{f!r}: refcount {f.refcount} (expected 1: its mapping)")
            if f.flags & PG_locked:
                problems.append(f"{f!r}: still locked")
            if not f.flags & PG_lru:
                problems.append(f"{f!r}: not on the LRU")
            if f.migrate_info or f.private is not None:
                problems.append(f"{f!r}: migration state left (info {f.migrate_info:#x}, "
                                f"private {f.private!r})")
    for n, fa in enumerate(plat.frames):
        want = base.frames[n] + per_node[n]
        if fa.allocated_pages != want:
            problems.append(f"node {n}: {fa.allocated_pages} pages allocated, expected {want} "
                            f"({fa.allocated_pages - want:+d}: leaked or double-freed frames)")
    if any(m.mm.nr_isolated):
        problems.append(f"nr_isolated {m.mm.nr_isolated} (expected all 0)")
    if mm.anon_vma.refcount != 1:
        problems.append(f"anon_vma refcount {mm.anon_vma.refcount} (expected 1)")
    held = 0
    for pt in m.pts:
        chan = pt.pt_dma_chan
        assert chan is not None
        held += chan.chan.client_count
        for lst in ("desc_allocated", "desc_submitted", "desc_issued", "desc_completed"):
            if getattr(chan, lst):
                problems.append(f"{pt.name}: {len(getattr(chan, lst))} descriptors left on "
                                f"{lst}")
        if len(pt.dev.mappings) != base.dma_mappings.get(pt.name, 0):
            problems.append(f"{pt.name}: {len(pt.dev.mappings)} streaming DMA mappings, "
                            f"expected {base.dma_mappings.get(pt.name, 0)}")
        if pt.dev.debug_errors:
            problems.append(f"{pt.name}: DMA-API debug: {pt.dev.debug_errors[0]}")
        dom = plat.iommu.domains.get(pt.dev.name)
        if dom is not None and dom.mapped_pages != base.iommu_pages.get(pt.dev.name, 0):
            problems.append(f"{pt.name}: {dom.mapped_pages} IOMMU pages mapped, expected "
                            f"{base.iommu_pages.get(pt.dev.name, 0)}")
    if held != expect_channels:
        problems.append(f"{held} DMA channels held, expected {expect_channels}")
    for p in procs or []:
        if not p.finished:
            problems.append(f"process {p.name} never finished")
        elif p.exception is not None:
            problems.append(f"process {p.name} raised {p.exception!r}")
    return problems
