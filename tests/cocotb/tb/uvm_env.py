"""pyuvm environment of the PTDMA twin: agents, register model, scoreboard, coverage, sequences.

Structure (classic UVM):

- ``AxilAgent``: sequencer + driver on cocotbext-axi ``AxiLiteMaster``; the driver publishes
  every completed access (with its time) on an analysis port (the agent's monitor role).
- ``MemAgent``: the bench's ``AxiMemAgent`` (PhysicalMemory behind the twin's AXI4 master)
  with back-pressure (pause generators on all five channels) and fault injection.
- ``PtdmaRegBlock`` (``ral.py``): the RAL, frontdoor through ``AxilAdapter``, auto-predict.
- ``Scoreboard``: runs the Python model (``refmodel.RefModel``) on the same stimulus at the
  same simulated times and compares memory images, register values, MSIs and completions
  (order and outcome exactly; time within ``TimingTolerance``).
- ``PtdmaCoverage``: cocotb-coverage points sampled on every checked completion.
- Sequences: driver-style init, random descriptor streams (random batches and pauses),
  error descriptors, bus faults, aborts, ring wrap, coalescing, CMD_TIMEOUT.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import cocotb
import numpy as np
from cocotb.triggers import Event, RisingEdge, Timer
from cocotb_coverage.coverage import CoverPoint, coverage_db
from pyuvm import (
    ConfigDB,
    uvm_analysis_port,
    uvm_component,
    uvm_door_e,
    uvm_driver,
    uvm_env,
    uvm_sequence,
    uvm_sequencer,
    uvm_subscriber,
)

from hdl_model import descriptor as D

from .bench import PtdmaBench
from .mem_agent import DECERR, SLVERR, random_pauses
from .ral import AxilAdapter, AxilItem, PtdmaRegBlock
from .refmodel import Completion, RefModel

NS = 1000
US = 1_000_000
S_DONE = 10  # ptdma_engine.v state encoding of the settle cycle
LINE = 64
RING_CONTROL_RUN = 1


# ============================================================================ tolerance
@dataclass(frozen=True)
class TimingTolerance:
    """How far a twin completion time may be from the model's.

    Justification (ptdma-model §8, ``hdl_model/timing.py``): both sides use the same
    latencies (fetch = read latency + 100 ns, 20 decode cycles, 50 completion cycles, NUMA
    read/write latency from the same ``NumaTiming``) and the same 12.5 GB/s cap, so the only
    differences are structural: AXI handshakes (a few cycles per phase: fetch AR/R, every
    write-back AW/W/B, the final B), the twin's token bucket admitting the first line at once
    while the model paces from byte 0 (64 B / 12.5 GB/s = 5 ns), beat-granular streaming of
    partial lines, and back-pressure cycles the model does not see. ``fixed_ns`` covers the
    handshakes, ``rel`` the per-line effects and pauses. Errors, ABORT and CMD_TIMEOUT add
    ``drain_ns``: the model ends at the failing line's time, the twin first drains the reads
    and writes already in flight (at most one read plus one write latency on this platform).
    """

    fixed_ns: float = 40.0
    rel: float = 0.04
    drain_ns: float = 450.0

    def allowed_ps(self, duration_ps: int, outcome: str, paused: bool) -> int:
        rel = self.rel * (4 if paused else 1)
        t = self.fixed_ns * NS + rel * duration_ps
        if outcome != "done":
            t += self.drain_ns * NS
        return int(t)


# ============================================================================ AXI-Lite agent
class AxilDriver(uvm_driver):
    """Drives AXI-Lite items through ``AxiLiteMaster``; publishes each finished access."""

    def build_phase(self) -> None:
        self.ap = uvm_analysis_port("ap", self)
        self.bench: PtdmaBench = ConfigDB().get(self, "", "BENCH")
        self.ready: Event = ConfigDB().get(self, "", "BENCH_READY")

    async def run_phase(self) -> None:
        await self.ready.wait()
        while True:
            item = await self.seq_item_port.get_next_item()
            item.t_start = self.bench.now_ps()
            if item.write:
                await self.bench.write(item.addr, item.data)
            else:
                item.data = await self.bench.read(item.addr)
            item.t_end = self.bench.now_ps()
            self.ap.write(item)
            self.seq_item_port.item_done()


class AxilAgent(uvm_component):
    """Sequencer + driver of the MMIO port."""

    def build_phase(self) -> None:
        self.seqr = uvm_sequencer("seqr", self)
        self.driver = AxilDriver("driver", self)

    def connect_phase(self) -> None:
        self.driver.seq_item_port.connect(self.seqr.seq_item_export)


class MemAgent(uvm_component):
    """The memory side: PhysicalMemory slave of the twin, pauses and fault injection."""

    def build_phase(self) -> None:
        self.bench: PtdmaBench = ConfigDB().get(self, "", "BENCH")
        try:
            self.p_stall = float(ConfigDB().get(self, "", "P_STALL"))
        except Exception:
            self.p_stall = 0.0
        self.seed = int(ConfigDB().get(self, "", "SEED"))

    def start(self) -> None:
        """Install pause generators (called once the BFMs exist)."""
        if self.p_stall <= 0:
            return
        agent = self.bench.mem
        assert agent is not None
        rngs = [np.random.default_rng(self.seed * 7 + k) for k in range(5)]
        agent.set_pause_generators(
            *(random_pauses(r, self.p_stall) for r in rngs)  # ar, r, aw, w, b
        )


# ============================================================================ coverage
def _len_bin(n: int, w: int) -> str:
    if n in (128, 4095, 4096, 4097):
        return str(n)
    if n == 1:
        return "1"
    if n < w:
        return "2..W-1"
    if n == w:
        return "W"
    if n <= 4 * w:
        return "W+1..4W"
    if n < 4096:
        return "4W+1..4095"
    if n <= 65536:
        return "4097..64K"
    return ">64K"


def _align_bin(a: int, w: int) -> str:
    if a % LINE == 0:
        return "line"
    if a % w == 0:
        return "beat"
    if a % 4 == 0:
        return "dword"
    return "byte"


LEN_BINS = ["1", "2..W-1", "W", "W+1..4W", "128", "4W+1..4095", "4095", "4096", "4097",
            "4097..64K", ">64K"]
ALIGN_BINS = ["line", "beat", "dword", "byte"]
CODE_BINS = ["ok", "abort", *(f"{c:#04x}" for c in (0x01, 0x03, 0x08, 0x09, 0x0B, 0x0C, 0x12,
                                                     0x13, 0x14, 0x26, 0x27))]


class PtdmaCoverage:
    """Functional coverage of checked descriptors (cocotb-coverage)."""

    def __init__(self, width_bytes: int) -> None:
        self.w = width_bytes
        w = width_bytes

        @CoverPoint("ptdma.desc.length", xf=lambda d: _len_bin(d.length, w), bins=LEN_BINS)
        @CoverPoint("ptdma.desc.src_align", xf=lambda d: _align_bin(d.src, w), bins=ALIGN_BINS)
        @CoverPoint("ptdma.desc.dst_align", xf=lambda d: _align_bin(d.dst, w), bins=ALIGN_BINS)
        @CoverPoint(
            "ptdma.desc.shift",
            xf=lambda d: "same" if d.src % w == d.dst % w
            else ("src_ahead" if d.src % w > d.dst % w else "dst_ahead"),
            bins=["same", "src_ahead", "dst_ahead"],
        )
        @CoverPoint(
            "ptdma.desc.cross_4k",
            xf=lambda d: (d.src // 4096 != (d.src + max(d.length, 1) - 1) // 4096,
                          d.dst // 4096 != (d.dst + max(d.length, 1) - 1) // 4096),
            bins=[(False, False), (True, False), (False, True), (True, True)],
        )
        def sample_desc(d: CopySpec) -> None:
            pass

        @CoverPoint(
            "ptdma.result.code",
            xf=lambda c: "ok" if c.outcome == "done"
            else ("abort" if c.outcome == "abort" else f"{c.code:#04x}"),
            bins=CODE_BINS,
        )
        def sample_result(c: Completion) -> None:
            pass

        @CoverPoint("ptdma.ring.wrap", xf=lambda wrapped: wrapped, bins=[True])
        def sample_wrap(wrapped: bool) -> None:
            pass

        @CoverPoint("ptdma.ring.batch", xf=lambda n: "1" if n == 1 else ("2..7" if n < 8
                    else "8+"), bins=["1", "2..7", "8+"])
        def sample_batch(n: int) -> None:
            pass

        self.sample_desc = sample_desc
        self.sample_result = sample_result
        self.sample_wrap = sample_wrap
        self.sample_batch = sample_batch

    @staticmethod
    def bins() -> dict[str, dict[str, int]]:
        """Hits per bin of every cover point under ``ptdma`` (JSON-friendly)."""
        out: dict[str, dict[str, int]] = {}
        for name in sorted(coverage_db):
            item = coverage_db[name]
            if name.startswith("ptdma.") and isinstance(item, CoverPoint):
                out[name] = {str(k): int(v) for k, v in item.detailed_coverage.items()}
        return out

    @staticmethod
    def report(log: logging.Logger) -> list[str]:
        """Coverage summary lines, one per cover point with its missing bins (also logged)."""
        lines = format_coverage(PtdmaCoverage.bins())
        for ln in lines:
            log.info(ln)
        return lines


def format_coverage(bins: dict[str, dict[str, int]]) -> list[str]:
    """'name  covered/size  pct  missing: ...' per cover point, then the total."""
    lines = []
    tot = cov = 0
    for name, hits in bins.items():
        n = len(hits)
        c = sum(1 for v in hits.values() if v > 0)
        tot += n
        cov += c
        missing = [k for k, v in hits.items() if v == 0]
        lines.append(f"{name:<24s} {c:>2d}/{n:<2d} {100 * c / max(n, 1):5.1f} %"
                     + (f"  missing: {', '.join(missing)}" if missing else ""))
    lines.append(f"{'total':<24s} {cov:>2d}/{tot:<2d} {100 * cov / max(tot, 1):5.1f} %")
    return lines


# ============================================================================ stimulus data
@dataclass
class CopySpec:
    """One descriptor the sequences submit (the 'transaction' of the data path)."""

    src: int
    dst: int
    length: int
    ioc: bool = True
    soc: bool = False
    bad: str = ""  # error kind injected in the descriptor ('' = valid)
    dws: tuple[int, ...] = ()
    slot: int = -1
    addr: int = 0

    def describe(self) -> str:
        return (f"len {self.length} src {self.src:#x} (node {self.src >> 36}) dst {self.dst:#x} "
                f"(node {self.dst >> 36}){' bad=' + self.bad if self.bad else ''}")

    def dwords(self) -> tuple[int, ...]:
        d = D.memcpy_descriptor(self.src, self.dst, self.length, ioc=self.ioc)
        d.soc = self.soc
        if self.bad == "engine":
            d.engine = 3
        elif self.bad == "function":
            d.function = 7
        elif self.bad == "length0":
            d.length = 0
        elif self.bad == "mem_sel":
            d.dst_mem = 1
        elif self.bad == "mem_addr":
            d.dst = 0xFF_0000_0000_00 & ((1 << 48) - 1)
        elif self.bad == "reserved":
            d.dw7 = 0x1
        return d.to_dwords()


@dataclass
class Window:
    """A destination window whose failing descriptor may leave any prefix written."""

    dst: int
    src: int
    length: int
    before: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))


# ============================================================================ scoreboard
class Scoreboard(uvm_subscriber):
    """Model-based scoreboard: same stimulus into the Python model, results compared."""

    def build_phase(self) -> None:
        self.bench: PtdmaBench = ConfigDB().get(self, "", "BENCH")
        seed = int(ConfigDB().get(self, "", "SEED"))
        # the twin's build may stream slower than the preset's cap (one beat per cycle)
        cap = min(self.bench.platform.preset.dma.engine_cap_gbps,
                  self.bench.data_w / 8 * self.bench.platform.preset.clocks.device_freq_hz / 1e9)
        self.model = RefModel(seed=seed, engine=self.bench.engine, dma__engine_cap_gbps=cap)
        self.narrow = cap < self.bench.platform.preset.dma.engine_cap_gbps
        self.tol = TimingTolerance()
        self.paused = False
        self.errors: list[str] = []
        self.checks = 0
        self.checking = False
        self.regions: list[tuple[int, int]] = []
        self.windows: list[Window] = []
        self.rtl_completions: list[Completion] = []
        self.rtl_fetch_times: list[int] = []
        self.compared_completions = 0
        self.compared_msis = 0
        self.max_dt: dict[str, int] = {}
        self.cov: PtdmaCoverage | None = None
        self.submitted: list[CopySpec] = []
        self.perf_pairs: dict[str, tuple[int, int]] = {}
        self.perf_seen: dict[str, tuple[int, int]] = {}
        self.log = logging.getLogger("cocotb.ptdma.sb")

    # ---------------------------------------------------------------- MMIO mirror
    def write(self, item: AxilItem) -> None:
        """Every finished AXI-Lite access is replayed on the model at the same time."""
        if item.write:
            self.model.write(item.t_end, item.addr, item.data)
            return
        exp = self.model.read(item.t_end, item.addr)
        name = _reg_name(item.addr)
        if self.checking and name.startswith("Q_PERF_") and name != "Q_PERF_CTRL":
            self.perf_pairs[name] = (item.data, exp)  # compared per counter in checkpoint()
        elif self.checking:
            self.checks += 1
            if exp != item.data:
                self._error(
                    f"register {_reg_name(item.addr)} @ {item.t_end / NS:.0f} ns: "
                    f"twin {item.data:#010x} model {exp:#010x}"
                )

    def _compare_perf(self, what: str) -> None:
        """PERF counters: event counts exactly, cycle counts within the timing tolerance.

        Byte and line counts of a descriptor that failed or was aborted mid-stream depend
        on how far each side had got (the model cuts at a line, the twin drains what it has
        issued); once such a descriptor exists those three are not compared.
        """
        vals: dict[str, tuple[int, int]] = {}
        for stem in ("DESC_DONE", "BYTES_READ", "BYTES_WRITTEN", "BUSY_CYCLES",
                     "DESC_FETCH_CYCLES", "RD_LAT_SUM_CYCLES", "RD_REQS", "IRQS_RAISED",
                     "DOORBELLS", "STALL_NO_CREDIT_CYCLES"):
            lo = self.perf_pairs.get(f"Q_PERF_{stem}_LO")
            hi = self.perf_pairs.get(f"Q_PERF_{stem}_HI")
            if lo is None or hi is None:
                continue
            vals[stem] = (lo[0] | hi[0] << 32, lo[1] | hi[1] << 32)
        partial = any(c.outcome != "done" for c in self.model.completions())
        n = max(1, len(self.model.completions()))
        exact = ["DESC_DONE", "IRQS_RAISED", "DOORBELLS"]
        if not partial:
            exact += ["BYTES_READ", "BYTES_WRITTEN", "RD_REQS"]
        approx = {  # (relative, absolute per descriptor) in cycles
            "BUSY_CYCLES": (self.tol.rel, self.tol.fixed_ns),
            "DESC_FETCH_CYCLES": (0.05, 10.0),
        }
        for stem, (twin, model) in vals.items():
            self.checks += 1
            if stem in exact:
                if twin != model:
                    self._error(f"{what}: PERF {stem} twin {twin} model {model}")
            elif stem == "RD_LAT_SUM_CYCLES" and not partial:
                # the model charges the memory latency per line; the twin measures AR to
                # RLAST, which adds the burst's beats and R-channel queueing: never less than
                # the model, at most 60 % more unless the datapath (one beat per cycle) is
                # narrower than the streaming cap, where lines queue behind each other
                upper = 1.6 * model + 20 * n if not self.narrow else float("inf")
                if not 0.98 * model <= twin <= upper:
                    self._error(f"{what}: PERF {stem} twin {twin} model {model} (outside "
                                f"[0.98, 1.6] x model)")
            elif stem in approx:
                rel, per = approx[stem]
                if abs(twin - model) > rel * model + per * n + (self.tol.drain_ns if partial
                                                                else 0) * n:
                    self._error(f"{what}: PERF {stem} twin {twin} model {model} (beyond "
                                f"{rel:.0%} + {per:.0f} cycles per descriptor)")
            self.perf_seen[stem] = (twin, model)
        self.perf_pairs.clear()

    # ---------------------------------------------------------------- memory mirror
    def mem_write(self, addr: int, data: np.ndarray, track: bool = True) -> None:
        """Host (CPU) memory write: lands in both memories."""
        self.bench.platform.mem.write(addr, data)
        self.model.mem_write(addr, data)
        if track:
            self.regions.append((addr, int(data.size)))

    def track(self, addr: int, n: int) -> None:
        self.regions.append((addr, n))

    def loose_window(self, spec: CopySpec) -> None:
        """The descriptor will fail mid-stream: either image may hold any written prefix."""
        before = self.model.mem_read(spec.dst, spec.length).copy()
        self.windows.append(Window(spec.dst, spec.src, spec.length, before))

    def inject(self, side: str, resp: str, lo: int, hi: int) -> None:
        """A bus error for accesses in [lo, hi): memory agent and model fault injector."""
        agent = self.bench.mem
        assert agent is not None
        agent.inject(lo, hi, DECERR if resp == "DECERR" else SLVERR,
                     "write" if side == "write" else "read")
        self.model.inject(side, resp, lo, hi)

    def clear_faults(self) -> None:
        assert self.bench.mem is not None
        self.bench.mem.clear_faults()
        self.model.engine.faults.clear()

    # ---------------------------------------------------------------- twin monitors
    def start_monitors(self) -> None:
        cocotb.start_soon(self._watch_settle())

    async def _watch_settle(self) -> None:
        dut = self.bench.dut
        eng = dut.engine
        prev = 0
        while True:
            await RisingEdge(dut.clk)
            st = int(eng.state.value)
            if st != 0 and prev == 0 and st != S_DONE:  # left IDLE: fetch (or ungate) starts
                self.rtl_fetch_times.append(self.bench.now_ps())
            if st == S_DONE:
                fail = int(eng.fail.value)
                ab = int(eng.aborting.value) or int(eng.abort_pending.value)
                mask = int(eng.ring_mask.value)
                slot = (int(eng.desc_addr.value) & mask) >> 5
                code = int(eng.fail_code.value)
                outcome = "abort" if ab else ("error" if fail else "done")
                self.rtl_completions.append(
                    Completion(self.bench.now_ps() + NS, slot, outcome,
                               code if outcome == "error" else 0)
                )
            prev = st

    # ---------------------------------------------------------------- synchronisation
    def rtl_idle(self) -> bool:
        eng = self.bench.dut.engine
        return int(eng.state.value) == 0 and (
            int(eng.head.value) == int(eng.r_tail.value)
            or int(eng.halted.value) == 1
            or int(eng.run.value) == 0
        )

    async def wait_idle(self, timeout_ns: int = 5_000_000) -> None:
        """Until the twin and the model are idle (and MSIs delivered)."""
        t_end = self.bench.now_ps() + timeout_ns * NS
        while True:
            await Timer(200, unit="ns")
            self.model.advance(self.bench.now_ps())
            if self.rtl_idle() and not self.model.busy:
                break
            if self.bench.now_ps() > t_end:
                self._error(f"not idle after {timeout_ns} ns (twin idle={self.rtl_idle()}, "
                            f"model busy={self.model.busy})")
                break
        await Timer(300, unit="ns")
        self.model.advance(self.bench.now_ps())

    async def safe_point(self) -> None:
        """Wait until no descriptor end is near now (a write then lands on the same side of
        every completion in both models, whatever their timing difference)."""
        while True:
            now = self.bench.now_ps()
            self.model.advance(now)
            near = [t for t in self.model.pending_settles() if abs(t - now) < self._guard(t)]
            recent = [c.time for c in (self.model.completions()[-1:] + self.rtl_completions[-1:])
                      if now - c.time < self._guard(c.time)]
            if not near and not recent:
                return
            await Timer(100, unit="ns")

    def _guard(self, t: int) -> int:
        fetches = self.model.fetch_times()
        start = fetches[-1] if fetches else 0
        return self.tol.allowed_ps(max(0, t - start), "error", self.paused) + 100 * NS

    # ---------------------------------------------------------------- checkpoints
    async def checkpoint(self, seq: Any, what: str) -> None:
        """Compare registers, memory, completions and MSIs; both sides idle."""
        await self.wait_idle()
        # registers (RAL reads; mirrored and compared in write())
        self.checking = True
        for rdef in _ALL_REGS:
            if all(f.access == "WO" for f in rdef.fields):
                continue
            reg = seq.env.ral.reg(rdef.name)
            mask = reg.predictable_mask
            predicted = int(reg.get_mirrored_value()) & mask
            got = await seq.rreg(rdef.name)
            self.checks += 1
            if got & mask != predicted:
                self._error(f"{what}: RAL mirror of {rdef.name} predicts {predicted:#010x} "
                            f"in {mask:#010x}, read {got & mask:#010x}")
        self.checking = False
        self._compare_perf(what)
        self._compare_memory(what)
        self._compare_completions(what)
        self._compare_msis(what)
        self.log.info("checkpoint %s: %d completions, %d MSIs, %d checks, %d errors",
                      what, self.compared_completions, self.compared_msis, self.checks,
                      len(self.errors))

    def _compare_memory(self, what: str) -> None:
        twin = self.bench.platform.mem
        for addr, n in self.regions:
            a = twin.read(addr, n)
            b = self.model.mem_read(addr, n)
            self.checks += 1
            diff = np.nonzero(a != b)[0]
            if diff.size == 0:
                continue
            bad = [int(i) for i in diff if not self._in_window(addr + int(i))]
            if bad:
                i = bad[0]
                self._error(f"{what}: memory {addr + i:#x} twin {int(a[i]):#04x} "
                            f"model {int(b[i]):#04x} ({len(bad)} bytes differ in "
                            f"[{addr:#x}, +{n}))")
        for w in self.windows:
            src = self.model.mem_read(w.src, w.length)
            for name, img in (("twin", twin.read(w.dst, w.length)),
                              ("model", self.model.mem_read(w.dst, w.length))):
                ok = (img == src) | (img == w.before)
                self.checks += 1
                if not ok.all():
                    i = int(np.nonzero(~ok)[0][0])
                    self._error(f"{what}: {name} wrote a byte that is neither old nor source "
                                f"at {w.dst + i:#x} in a failed descriptor's window")

    def _in_window(self, addr: int) -> bool:
        return any(w.dst <= addr < w.dst + w.length for w in self.windows)

    def _compare_completions(self, what: str) -> None:
        mod = self.model.completions()
        rtl = self.rtl_completions
        if [c.key() for c in rtl] != [c.key() for c in mod]:
            self._error(f"{what}: completion order/outcome differs:\n  twin  "
                        f"{[c.key() for c in rtl]}\n  model {[c.key() for c in mod]}")
            return
        mf = self.model.fetch_times()
        rf = self.rtl_fetch_times
        if len(mf) < len(mod) or len(rf) < len(rtl):
            self._error(f"{what}: fetch and completion counts disagree (model {len(mf)}/"
                        f"{len(mod)}, twin {len(rf)}/{len(rtl)})")
            return
        for k in range(self.compared_completions, len(mod)):
            m, r = mod[k], rtl[k]
            d_mod = m.time - mf[k]
            d_rtl = r.time - rf[k]
            allowed = self.tol.allowed_ps(d_mod, m.outcome, self.paused)
            # a fetch may start late only because the previous descriptor settled late
            chained = k > 0 and mf[k] == mod[k - 1].time
            late_before = (rtl[k - 1].time - mod[k - 1].time) if chained else 0
            start_skew = (rf[k] - mf[k]) - late_before
            sp = self.submitted[k] if k < len(self.submitted) else None
            self.log.info("completion %d slot %d %s: duration twin %.1f ns model %.1f ns, "
                          "fetch skew %.1f ns %s", k, m.slot, m.outcome, d_rtl / NS, d_mod / NS,
                          start_skew / NS, sp.describe() if sp else "")
            key = m.outcome
            dd = d_rtl - d_mod
            self.max_dt[key] = max(self.max_dt.get(key, 0), abs(dd))
            self.checks += 2
            if abs(dd) > allowed:
                self._error(f"{what}: descriptor {k} (slot {m.slot}, {m.outcome}) took "
                            f"{d_rtl / NS:.1f} ns in the twin, {d_mod / NS:.1f} ns in the model: "
                            f"|{dd / NS:.1f}| ns > {allowed / NS:.1f} ns")
            if abs(start_skew) > self.tol.fixed_ns * NS:
                self._error(f"{what}: descriptor {k} fetch started {start_skew / NS:.1f} ns "
                            f"apart (twin {rf[k] / NS:.1f} ns, model {mf[k] / NS:.1f} ns)")
            if self.cov is not None:
                self.cov.sample_result(m)
        self.compared_completions = len(mod)

    def _compare_msis(self, what: str) -> None:
        rtl = self.bench.irq_edges
        mod = self.model.msi_times
        self.checks += 1
        if len(rtl) != len(mod):
            self._error(f"{what}: {len(rtl)} MSI edges from the twin, {len(mod)} from the model "
                        f"(twin {[t // NS for t in rtl]} model {[t // NS for t in mod]})")
            return
        for k in range(self.compared_msis, len(mod)):
            dt = rtl[k] - mod[k]
            self.max_dt["msi"] = max(self.max_dt.get("msi", 0), abs(dt))
            allowed = self.tol.allowed_ps(0, "error", self.paused) + self.tol.rel * 50 * US
            if abs(dt) > allowed:
                self._error(f"{what}: MSI {k} at {rtl[k] / NS:.1f} ns (twin) vs "
                            f"{mod[k] / NS:.1f} ns (model)")
        self.compared_msis = len(mod)

    def _error(self, msg: str) -> None:
        self.errors.append(msg)
        self.log.error("%s", msg)

    def report_phase(self) -> None:
        self.log.info("scoreboard: %d checks, %d completions, %d MSIs, max |dt| %s, %d errors",
                      self.checks, self.compared_completions, self.compared_msis,
                      {k: f"{v / NS:.1f} ns" for k, v in self.max_dt.items()}, len(self.errors))


def _reg_name(offset: int) -> str:
    from hdl_model.generated.regmap import REG_BY_OFFSET

    r = REG_BY_OFFSET.get(offset)
    return r.name if r else f"{offset:#x}"


def _all_regs() -> list[Any]:
    from hdl_model.generated.regmap import REGISTERS

    return list(REGISTERS)


_ALL_REGS = _all_regs()


# ============================================================================ environment
class PtdmaEnv(uvm_env):
    """Agents, register model, scoreboard and coverage around one twin engine."""

    def build_phase(self) -> None:
        self.bench: PtdmaBench = ConfigDB().get(self, "", "BENCH")
        self.axil = AxilAgent("axil", self)
        self.mem = MemAgent("mem", self)
        self.sb = Scoreboard("sb", self)
        self.ral = PtdmaRegBlock("ptdma_regs")
        self.cov = PtdmaCoverage(self.bench.data_w // 8)

    def connect_phase(self) -> None:
        self.ral.def_map.set_sequencer(self.axil.seqr, AxilAdapter())
        self.ral.def_map.set_auto_predict(True)
        self.axil.driver.ap.connect(self.sb.analysis_export)
        self.sb.cov = self.cov


# ============================================================================ sequences
class Ring:
    """Software view of the command ring (what a driver keeps): base, size, tail slot."""

    def __init__(self, base: int, log2_entries: int) -> None:
        self.base = base
        self.entries = 1 << log2_entries
        self.q_size = log2_entries - 1
        self.tail = 0
        self.wrapped = False

    def slot_addr(self, slot: int) -> int:
        return self.base + 32 * (slot % self.entries)

    @property
    def tail_addr(self) -> int:
        return self.slot_addr(self.tail)

    def control(self, run: bool) -> int:
        return (self.q_size << 3) | ((self.base >> 32) << 16) | (RING_CONTROL_RUN if run else 0)


class PtdmaSeq(uvm_sequence):
    """Base sequence: RAL access, host memory, ring and submission helpers."""

    def __init__(self, name: str = "ptdma_seq") -> None:
        super().__init__(name)
        self.env: PtdmaEnv = ConfigDB().get(None, "", "ENV")
        self.sb: Scoreboard = self.env.sb
        self.bench: PtdmaBench = self.env.bench
        self.rng = np.random.default_rng(int(ConfigDB().get(None, "", "SEED")))

    # registers through the RAL frontdoor
    async def wreg(self, name: str, value: int) -> None:
        await self.env.ral.reg(name).write(value, uvm_door_e.UVM_FRONTDOOR, self.env.ral.def_map,
                                           self)

    async def rreg(self, name: str) -> int:
        _status, value = await self.env.ral.reg(name).read(
            uvm_door_e.UVM_FRONTDOOR, self.env.ral.def_map, self
        )
        return int(value)

    # host memory
    def alloc(self, node: int, order: int = 0) -> int:
        return int(self.bench.platform.alloc_pages(node, order))

    def fill(self, addr: int, data: np.ndarray, track: bool = True) -> None:
        self.sb.mem_write(addr, data, track)

    def ring(self) -> Ring:
        r = ConfigDB().get(None, "", "RING")
        assert isinstance(r, Ring)
        return r

    async def init_engine(self, log2_entries: int = 5, ext_ctrl: int | None = None) -> Ring:
        """The driver's init sequence (ptdma-model §6 'driver facts')."""
        base = self.alloc(0, 0)
        ring = Ring(base, log2_entries)
        self.fill(base, np.zeros(32 * ring.entries, np.uint8))
        ConfigDB().set(None, "*", "RING", ring)
        await self.wreg("CONFIG", 1)
        await self.wreg("QUEUE_PRIO", 0x6)
        await self.wreg("CMD_TIMEOUT", 0)
        await self.wreg("CLK_GATE_CTL", 0x1001)
        await self.wreg("REQID_CONFIG", 0)
        await self.wreg("Q_INT_ENABLE", 0)
        await self.wreg("Q_CONTROL", 0)
        await self.rreg("Q_INT_STATUS")
        await self.rreg("Q_STATUS")
        await self.wreg("Q_INTERRUPT_STATUS", 0x3)
        await self.wreg("Q_TAIL_LO", base & 0xFFFF_FFFF)
        await self.wreg("Q_HEAD_LO", base & 0xFFFF_FFFF)
        await self.wreg("Q_CONTROL", ring.control(False))
        await self.wreg("Q_INT_ENABLE", 0x3)
        if ext_ctrl is not None:
            await self.wreg("Q_EXT_CTRL", ext_ctrl)
        return ring

    def make_buffers(self, spec_len: int, src_off: int, dst_off: int, src_node: int,
                     dst_node: int) -> tuple[int, int]:
        """Source with random data and a 0xAA-guarded destination; both tracked."""
        span = spec_len + max(src_off, dst_off) + 128
        order = max(0, int(np.ceil(np.log2(max(span, 4096) / 4096))))
        sbase = self.alloc(src_node, order)
        dbase = self.alloc(dst_node, order)
        src, dst = sbase + src_off, dbase + dst_off
        self.fill(src, self.rng.integers(0, 256, spec_len, dtype=np.uint8))
        lo = max(dbase, dst - 64)
        self.fill(lo, np.full(spec_len + (dst - lo) + 64, 0xAA, np.uint8))
        return src, dst

    def random_spec(self, w: int, max_len: int = 16384) -> CopySpec:
        """A random copy: length class, alignments, 4 KiB crossings, nodes."""
        r = self.rng
        cls = r.choice(["tiny", "beats", "edge", "page", "mid", "big"],
                       p=[0.15, 0.2, 0.2, 0.15, 0.2, 0.1])
        if cls == "tiny":
            n = int(r.integers(1, w))
        elif cls == "beats":
            n = int(r.integers(w, 4 * w + 1))
        elif cls == "edge":
            n = int(r.choice([1, w, 128, 4095, 4096, 4097]))
        elif cls == "page":
            n = 4096
        elif cls == "mid":
            n = int(r.integers(4 * w + 1, 4096))
        elif max_len > 4097:
            n = int(r.integers(4097, max_len + 1))
        else:
            n = int(r.integers(1, max_len + 1))
        align = r.choice(["line", "beat", "dword", "byte", "page_end"])
        offs = []
        for _ in range(2):
            if align == "line":
                offs.append(int(r.integers(0, 8)) * 64)
            elif align == "beat":
                offs.append(int(r.integers(0, 4096 // w)) * w)
            elif align == "dword":
                offs.append(int(r.integers(0, 1024)) * 4)
            elif align == "page_end":  # straddle the 4 KiB boundary
                offs.append(4096 - int(r.integers(1, min(n, 4095) + 1)))
            else:
                offs.append(int(r.integers(0, 4096)))
        src_node, dst_node = int(r.integers(0, 2)), int(r.integers(0, 2))
        src, dst = self.make_buffers(n, offs[0], offs[1], src_node, dst_node)
        return CopySpec(src, dst, n)

    async def submit(self, specs: list[CopySpec], run: bool = True) -> None:
        """Write the descriptors at TAIL, then TAIL (doorbell) and CONTROL.RUN."""
        ring = self.ring()
        assert len(specs) < ring.entries, "ring full rule: at most N-1 outstanding"
        for sp in specs:
            sp.slot = ring.tail
            sp.addr = ring.tail_addr
            dws = sp.dwords()
            sp.dws = dws
            self.fill(sp.addr, np.array(dws, "<u4").view(np.uint8), track=True)
            ring.tail = (ring.tail + 1) % ring.entries
            if ring.tail == 0:
                ring.wrapped = True
            self.sb.submitted.append(sp)
            if self.env.cov is not None and not sp.bad:
                self.env.cov.sample_desc(sp)
        if self.env.cov is not None:
            self.env.cov.sample_batch(len(specs))
            if ring.wrapped:
                self.env.cov.sample_wrap(True)
        await self.sb.safe_point()
        await self.wreg("Q_TAIL_LO", ring.tail_addr & 0xFFFF_FFFF)
        if run:
            await self.wreg("Q_CONTROL", ring.control(True))

    async def recover(self) -> None:
        """What the driver does after an error: HEAD <- TAIL, W1C INT_STATUS, RUN."""
        ring = self.ring()
        await self.wreg("Q_HEAD_LO", ring.tail_addr & 0xFFFF_FFFF)
        await self.wreg("Q_INTERRUPT_STATUS", 0xF)
        await self.wreg("Q_CONTROL", ring.control(True))


class InitSeq(PtdmaSeq):
    """Driver init; checks reset values and the init state against the model."""

    def __init__(self, name: str = "init", log2_entries: int = 5, ext_ctrl: int | None = None):
        super().__init__(name)
        self.log2_entries = log2_entries
        self.ext_ctrl = ext_ctrl

    async def body(self) -> None:
        await self.sb.checkpoint(self, "reset")
        await self.init_engine(self.log2_entries, self.ext_ctrl)
        await self.sb.checkpoint(self, "init")


class RandomStreamSeq(PtdmaSeq):
    """Random descriptor stream: random batch sizes, pauses, doorbells while busy."""

    def __init__(self, name: str = "random_stream", n_desc: int = 24, max_batch: int = 6,
                 max_len: int = 16384) -> None:
        super().__init__(name)
        self.n_desc = n_desc
        self.max_batch = max_batch
        self.max_len = max_len

    async def body(self) -> None:
        w = self.bench.data_w // 8
        left = self.n_desc
        while left > 0:
            k = min(left, int(self.rng.integers(1, self.max_batch + 1)))
            specs = [self.random_spec(w, self.max_len) for _ in range(k)]
            await self.submit(specs)
            left -= k
            r = self.rng.random()
            if r < 0.5:
                await self.sb.wait_idle()
            else:  # next batch while this one runs, after a random pause
                await Timer(int(self.rng.integers(0, 3000)), unit="ns")
        await self.sb.checkpoint(self, "random_stream")


class ErrorSeq(PtdmaSeq):
    """Validation errors (§5) with STOP_ON_ERROR: halt, first-error latch, recovery."""

    KINDS: tuple[str, ...] = ("engine", "function", "length0", "mem_sel", "mem_addr", "reserved")

    async def body(self) -> None:
        w = self.bench.data_w // 8
        for kind in self.KINDS:
            strict = kind == "reserved"
            if strict:
                await self.wreg("Q_EXT_CTRL", 0x08 | 0x20)
            good1 = self.random_spec(w, 8192)
            bad = self.random_spec(w, 2048)
            bad.bad = kind
            good2 = self.random_spec(w, 2048)
            await self.submit([good1, bad, good2])
            await self.sb.checkpoint(self, f"error-{kind}")
            await self.recover()
            await self.sb.wait_idle()
            if strict:
                await self.wreg("Q_EXT_CTRL", 0x08)
        # STOP_ON_ERROR = 0: the bad descriptor is skipped, the rest completes
        await self.wreg("Q_EXT_CTRL", 0x00)
        specs = [self.random_spec(w, 4096) for _ in range(4)]
        specs[1].bad = "engine"
        specs[2].bad = "length0"
        await self.submit(specs)
        await self.sb.checkpoint(self, "error-continue")
        await self.wreg("Q_EXT_CTRL", 0x08)
        await self.wreg("Q_INTERRUPT_STATUS", 0xF)


class FaultSeq(PtdmaSeq):
    """AXI SLVERR/DECERR on the read and write side: 0x13/0x14/0x26/0x27, halt, recovery."""

    async def body(self) -> None:
        w = self.bench.data_w // 8
        for side, resp in (("read", "SLVERR"), ("read", "DECERR"), ("write", "SLVERR"),
                           ("write", "DECERR")):
            good = self.random_spec(w, 4096)
            victim = self.random_spec(w, 4096)
            victim.length = max(victim.length, 1024)
            victim = self._resize(victim, w)
            base = victim.src if side == "read" else victim.dst
            lo = ((base + victim.length // 2) // LINE) * LINE
            self.sb.inject(side, resp, lo, lo + LINE)
            self.sb.loose_window(victim)
            await self.submit([good, victim])
            await self.sb.checkpoint(self, f"fault-{side}-{resp}")
            self.sb.clear_faults()
            await self.recover()
            await self.sb.wait_idle()

    def _resize(self, spec: CopySpec, w: int) -> CopySpec:
        n = 3000
        src, dst = self.make_buffers(n, spec.src % 4096 % 512, spec.dst % 4096 % 512, 0, 1)
        return CopySpec(src, dst, n)


class AbortSeq(PtdmaSeq):
    """ABORT in the middle of a long copy, and ABORT while idle; recovery afterwards."""

    async def body(self) -> None:
        n = 96 * 1024
        src, dst = self.make_buffers(n, 64, 128, 1, 0)
        spec = CopySpec(src, dst, n)
        self.sb.loose_window(spec)
        await self.submit([spec])
        # abort when the model is a third into the stream (far from any settle)
        t0 = self.bench.now_ps()
        await Timer(2500, unit="ns")
        del t0
        await self.wreg("Q_ABORT", 1)
        await self.sb.checkpoint(self, "abort-busy")
        await self.recover()
        await self.sb.wait_idle()
        await self.wreg("Q_ABORT", 1)  # idle: the queue just stops
        await self.sb.checkpoint(self, "abort-idle")
        await self.recover()
        await self.sb.wait_idle()


class AbortThenCopySeq(PtdmaSeq):
    """ABORT a long copy, recover, then copy again at once: the next descriptor's timing
    must not depend on the aborted stream (a regression check for the model, whose cut
    stream kept its bandwidth reservation)."""

    async def body(self) -> None:
        w = self.bench.data_w // 8
        src, dst = self.make_buffers(96 * 1024, 0, 0, 1, 0)
        spec = CopySpec(src, dst, 96 * 1024)
        self.sb.loose_window(spec)
        await self.submit([spec])
        await Timer(2500, unit="ns")
        await self.wreg("Q_ABORT", 1)
        await self.sb.wait_idle()
        await self.recover()
        await self.submit([self.random_spec(w, 1024)])
        await self.sb.checkpoint(self, "abort-then-copy")


class WrapSeq(PtdmaSeq):
    """More descriptors than ring entries, in batches up to N-1: HEAD wraps by masking."""

    async def body(self) -> None:
        w = self.bench.data_w // 8
        ring = self.ring()
        total = 0
        while total < 2 * ring.entries + 3:
            k = int(self.rng.integers(1, ring.entries))
            await self.submit([self.random_spec(w, 2048) for _ in range(k)])
            await self.sb.wait_idle()
            total += k
        await self.sb.checkpoint(self, "wrap")


class CoalSeq(PtdmaSeq):
    """COAL_EN: count threshold, timer expiry and flush on empty; COAL_PENDING clear-on-read."""

    async def body(self) -> None:
        w = self.bench.data_w // 8
        await self.wreg("Q_COAL_COUNT", 3)
        await self.wreg("Q_COAL_TIMER", 0)
        await self.wreg("Q_EXT_CTRL", 0x08 | 0x04)
        await self.submit([self.random_spec(w, 1024) for _ in range(7)])
        await self.sb.checkpoint(self, "coal-count")
        await self.wreg("Q_INTERRUPT_STATUS", 0xF)
        await self.wreg("Q_COAL_COUNT", 100)
        await self.wreg("Q_COAL_TIMER", 1500)
        await self.submit([self.random_spec(w, 512)])
        await self.sb.checkpoint(self, "coal-timer")
        await self.wreg("Q_INTERRUPT_STATUS", 0xF)
        await self.wreg("Q_EXT_CTRL", 0x08)


class WriteBackSeq(PtdmaSeq):
    """DESC_WB and CMPL_WB records (ext): the 16 B record and dw6 compared byte for byte."""

    async def body(self) -> None:
        w = self.bench.data_w // 8
        rec = self.alloc(0, 0)
        self.fill(rec, np.zeros(64, np.uint8))
        await self.wreg("Q_CMPL_WB_LO", rec & 0xFFFF_FFFF)
        await self.wreg("Q_CMPL_WB_HI", rec >> 32)
        await self.wreg("Q_EXT_CTRL", 0x08 | 0x01 | 0x02)
        specs = [self.random_spec(w, 4096) for _ in range(3)]
        specs[2].soc = True
        await self.submit(specs)
        await self.sb.checkpoint(self, "write-back")
        await self.wreg("Q_INTERRUPT_STATUS", 0xF)
        await self.wreg("Q_CONTROL", self.ring().control(True))
        await self.wreg("Q_EXT_CTRL", 0x08)


class ClockGateSeq(PtdmaSeq):
    """Dynamic clock gating (CLK_GATE_CTL[0], set by the driver's init): a descriptor after
    a long idle period first waits for the clock to come back; then RUN 1->0 mid-batch
    stops after the current descriptor and RUN 0->1 resumes (pause/resume)."""

    async def body(self) -> None:
        w = self.bench.data_w // 8
        dma = self.bench.platform.preset.dma
        await self.sb.wait_idle()
        await Timer(int(dma.clock_gate_idle_ns * 1.2), unit="ns")
        await self.submit([self.random_spec(w, 2048)])
        await self.sb.checkpoint(self, "ungate")
        # pause/resume: long copies, RUN <- 0 while the first runs
        specs = []
        for _ in range(4):
            src, dst = self.make_buffers(16384, 0, 64, 1, 0)
            specs.append(CopySpec(src, dst, 16384))
        await self.submit(specs)
        await Timer(800, unit="ns")
        await self.sb.safe_point()
        await self.wreg("Q_CONTROL", self.ring().control(False))
        await self.sb.checkpoint(self, "paused")
        await self.wreg("Q_CONTROL", self.ring().control(True))
        await self.sb.checkpoint(self, "resumed")


class RegisterSemanticsSeq(PtdmaSeq):
    """§9 C/D register behaviours against the model: INT_STATUS latches with INT_ENABLE = 0
    (polled path) and enabling raises exactly one MSI edge; W1C clears only written bits;
    IRQ_MASK; a HEAD write while running is ignored and flagged (ERR_INFO.SW_HEAD_WRITE);
    a TAIL moved past HEAD is flagged (ERR_INFO.SW_TAIL_OVERRUN)."""

    async def body(self) -> None:
        w = self.bench.data_w // 8
        ring = self.ring()
        await self.wreg("Q_INT_ENABLE", 0)
        await self.submit([self.random_spec(w, 2048) for _ in range(2)])
        await self.sb.checkpoint(self, "polled-latch")
        await self.wreg("Q_INT_ENABLE", 0x3)  # the line rises now: one MSI
        await self.sb.checkpoint(self, "enable-edge")
        await self.wreg("Q_INTERRUPT_STATUS", 0x1)  # clears COMPLETION only (EMPTY stays)
        await self.wreg("Q_INT_ENABLE", 0xF)  # EMPTY_QUEUE enabled: another edge
        await self.sb.checkpoint(self, "w1c-partial")
        await self.wreg("Q_INTERRUPT_STATUS", 0xF)
        await self.wreg("IRQ_MASK", 1)
        await self.submit([self.random_spec(w, 1024)])
        await self.sb.checkpoint(self, "masked")
        await self.wreg("IRQ_MASK", 0)  # unmasked: the pending status raises the line
        await self.sb.checkpoint(self, "unmasked")
        await self.wreg("Q_INTERRUPT_STATUS", 0xF)
        await self.wreg("Q_INT_ENABLE", 0x3)
        # HEAD written while running: ignored, flagged
        src, dst = self.make_buffers(32768, 0, 0, 1, 0)
        await self.submit([CopySpec(src, dst, 32768)])
        await Timer(600, unit="ns")
        await self.sb.safe_point()
        await self.wreg("Q_HEAD_LO", (ring.slot_addr(ring.tail + 3)) & 0xFFFF_FFFF)
        await self.sb.checkpoint(self, "head-write-running")
        # TAIL past HEAD with RUN = 0: flagged; then TAIL back to HEAD (empty ring)
        await self.wreg("Q_CONTROL", ring.control(False))
        await self.wreg("Q_TAIL_LO", ring.slot_addr(ring.tail - 1) & 0xFFFF_FFFF)
        await self.wreg("Q_TAIL_LO", ring.tail_addr & 0xFFFF_FFFF)
        await self.sb.checkpoint(self, "tail-overrun")
        await self.wreg("Q_CONTROL", ring.control(True))
        await self.wreg("Q_INTERRUPT_STATUS", 0xF)


class TimeoutSeq(PtdmaSeq):
    """CMD_TIMEOUT shorter than a long copy: error 0x12, halt, recovery."""

    async def body(self) -> None:
        n = 32768
        src, dst = self.make_buffers(n, 0, 0, 0, 0)
        spec = CopySpec(src, dst, n)
        self.sb.loose_window(spec)
        await self.wreg("CMD_TIMEOUT", 1500)
        await self.submit([spec])
        await self.sb.checkpoint(self, "timeout")
        await self.wreg("CMD_TIMEOUT", 0)
        await self.recover()
        await self.sb.wait_idle()


def run_sequences(seqs: Iterable[PtdmaSeq]) -> list[PtdmaSeq]:
    return list(seqs)
