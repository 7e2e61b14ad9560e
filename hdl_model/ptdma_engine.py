"""PTDMA engine model: one command queue per engine, register-exact, cycle-approximate.

Specification: ptdma-model.md §3 (queue registers), §5 (validation and errors), §6
(completion, interrupts, coalescing, doorbell and ring rules). The register map is the
generated table (``generated/regmap.py``, from ``ptdma.rdl``) interpreted by
``registers.RegisterFile``; this module adds the behaviour behind the registers: the ring
(HEAD/TAIL addresses, base found by masking), the queue state machine (RUN, HALTED, BUSY),
descriptor fetch/decode/stream/completion timed by ``timing.EngineTiming``, status and MSI
edges, coalescing, errors with STOP_ON_ERROR, ABORT, reset, and the extensions (CMPL_WB,
DESC_WB, ERRLOG, PERF, OOO_COMPLETE).

Speed by design: in the default (fast) mode a descriptor costs two events (decoded,
settled) and one numpy copy, whatever its length; ``detailed=True`` adds one event per 64 B
line, copying line by line at the times the closed-form line timing gives, so both modes
leave identical memory, registers and completion times (``timing`` module docstring).
The one observable difference is mid-descriptor: the fast mode writes a descriptor's bytes
when it settles (or when it is cut by an abort, a hang or a reset, up to the same line),
the detailed mode as each line is acknowledged.

Software sees an engine only through its MMIO window, shared memory and its MSI vector;
``engine.pci`` is the PCI-config-space view a driver may read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emulator.event_kernel import NS, Event
from emulator.iommu import IommuFault
from emulator.memory import BusError
from emulator.numa_timing import BandwidthResource
from hdl_model import descriptor as D
from hdl_model.faults import AXI_RESP, Fault, FaultInjector, SoftwareViolation
from hdl_model.generated.regmap import ENUMS, REG_BY_NAME, REGISTERS
from hdl_model.observe import EngineCounters, Trace, VcdRecorder
from hdl_model.registers import RegisterFile
from hdl_model.timing import EngineTiming, StreamPlan

PCI_VENDOR_ID_AMD = 0x1022
PCI_DEVICE_ID_PTDMA = 0x1498
DESC_SIZE = D.DESC_SIZE


def _off(name: str) -> int:
    return REG_BY_NAME[name].offset


def _mask(reg: str, field: str) -> int:
    return REG_BY_NAME[reg].field(field).mask


# Register offsets inside the window (from the generated table).
O_IRQ_MASK = _off("IRQ_MASK")
O_IRQ_STATUS = _off("IRQ_STATUS")
O_CMD_TIMEOUT = _off("CMD_TIMEOUT")
O_CLK_GATE = _off("CLK_GATE_CTL")
O_CONTROL = _off("Q_CONTROL")
O_TAIL = _off("Q_TAIL_LO")
O_HEAD = _off("Q_HEAD_LO")
O_INT_ENABLE = _off("Q_INT_ENABLE")
O_INT_STATUS = _off("Q_INTERRUPT_STATUS")
O_Q_STATUS = _off("Q_STATUS")
O_Q_INT_STATUS = _off("Q_INT_STATUS")
O_DMA_STATUS = _off("Q_DMA_STATUS")
O_DMA_RD_STATUS = _off("Q_DMA_READ_STATUS")
O_DMA_WR_STATUS = _off("Q_DMA_WRITE_STATUS")
O_COAL_COUNT = _off("Q_COAL_COUNT")
O_COAL_TIMER = _off("Q_COAL_TIMER")
O_COAL_PENDING = _off("Q_COAL_PENDING")
O_EXT_CTRL = _off("Q_EXT_CTRL")
O_CMPL_WB_LO = _off("Q_CMPL_WB_LO")
O_CMPL_WB_HI = _off("Q_CMPL_WB_HI")
O_ERR_INFO = _off("Q_ERR_INFO")
O_ERR_DESC_LO = _off("Q_ERR_DESC_ADDR_LO")
O_ERR_DESC_HI = _off("Q_ERR_DESC_ADDR_HI")
O_ERR_DATA_LO = _off("Q_ERR_DATA_ADDR_LO")
O_ERR_DATA_HI = _off("Q_ERR_DATA_ADDR_HI")
O_PERF_CTRL = _off("Q_PERF_CTRL")

RUN = _mask("Q_CONTROL", "RUN")
HALTED = _mask("Q_CONTROL", "HALTED")
QSIZE_F = REG_BY_NAME["Q_CONTROL"].field("Q_SIZE")
BASE_HI_F = REG_BY_NAME["Q_CONTROL"].field("BASE_HI")
QSIZE_SHIFT, QSIZE_MAX = QSIZE_F.lsb, (1 << QSIZE_F.width) - 1
BASE_HI_SHIFT = BASE_HI_F.lsb
INT_COMPLETION = _mask("Q_INT_ENABLE", "COMPLETION")
INT_ERROR = _mask("Q_INT_ENABLE", "ERROR")
INT_QUEUE_STOPPED = _mask("Q_INT_ENABLE", "QUEUE_STOPPED")
INT_EMPTY_QUEUE = _mask("Q_INT_ENABLE", "EMPTY_QUEUE")
INT_ALL = INT_COMPLETION | INT_ERROR | INT_QUEUE_STOPPED | INT_EMPTY_QUEUE
QS_ERR = REG_BY_NAME["Q_STATUS"].field("ERR_CODE")
QS_BUSY = _mask("Q_STATUS", "BUSY")
QS_EMPTY = _mask("Q_STATUS", "EMPTY")
QS_HALTED = _mask("Q_STATUS", "HALTED")
QS_DONE = REG_BY_NAME["Q_STATUS"].field("DESC_COMPLETED")
QS_DONE_ONE = 1 << QS_DONE.lsb  # +1 in the completed-count field (wraps mod 2^16 at bit 31)
_QS_STORED = QS_ERR.mask | QS_DONE.mask  # the Q_STATUS bits kept in storage (the rest is live)
assert QS_DONE.msb == 31
EXT_CMPL_WB = _mask("Q_EXT_CTRL", "CMPL_WB_EN")
EXT_DESC_WB = _mask("Q_EXT_CTRL", "DESC_WB_EN")
EXT_COAL = _mask("Q_EXT_CTRL", "COAL_EN")
EXT_STOP_ON_ERROR = _mask("Q_EXT_CTRL", "STOP_ON_ERROR")
EXT_ZERO_LEN_NOP = _mask("Q_EXT_CTRL", "ZERO_LEN_NOP")
EXT_STRICT = _mask("Q_EXT_CTRL", "STRICT_RESERVED")
EXT_OOO = _mask("Q_EXT_CTRL", "OOO_COMPLETE")
EI = REG_BY_NAME["Q_ERR_INFO"]
EI_TAIL_OVERRUN = _mask("Q_ERR_INFO", "SW_TAIL_OVERRUN")
EI_HEAD_WRITE = _mask("Q_ERR_INFO", "SW_HEAD_WRITE")
PERF_FREEZE = _mask("Q_PERF_CTRL", "FREEZE")
PERF_RESET = _mask("Q_PERF_CTRL", "RESET")
ABORT_BIT = _mask("Q_ABORT", "ABORT")

SIDE = ENUMS["ptdma_err_side"].by_name()  # DESCRIPTOR 0, READ 1, WRITE 2, FETCH 3
SIDE_DESC, SIDE_READ, SIDE_WRITE, SIDE_FETCH = (
    SIDE["DESCRIPTOR"],
    SIDE["READ"],
    SIDE["WRITE"],
    SIDE["FETCH"],
)
WB_STATUS = ENUMS["ptdma_desc_status"].by_name()  # COMPLETED 3, ERROR 4, ABORTED 5
CMPL_OK, CMPL_ERR, CMPL_HALTED = 1, 2, 3  # completion record status (§6)

# PERF counters: register stem -> (accumulator key, accumulated in ps -> read as cycles).
PERF_COUNTERS: dict[str, tuple[str, bool]] = {
    "DESC_DONE": ("desc_done", False),
    "BYTES_READ": ("bytes_read", False),
    "BYTES_WRITTEN": ("bytes_written", False),
    "BUSY_CYCLES": ("busy_ps", True),
    "DESC_FETCH_CYCLES": ("fetch_ps", True),
    "RD_LAT_SUM_CYCLES": ("rd_lat_ps", True),
    "RD_REQS": ("rd_reqs", False),
    "IRQS_RAISED": ("irqs", False),
    "DOORBELLS": ("doorbells", False),
    "STALL_NO_CREDIT_CYCLES": ("stall_ps", True),
}

RESP_CODE = {
    ("read", "SLVERR"): D.IDMA0_AXI_SLVERR,
    ("read", "DECERR"): D.IDMA0_AXI_DECERR,
    ("fetch", "SLVERR"): D.IDMA0_AXI_SLVERR,
    ("fetch", "DECERR"): D.IDMA0_AXI_DECERR,
    ("write", "SLVERR"): D.ODMA0_AXI_SLVERR,
    ("write", "DECERR"): D.ODMA0_AXI_DECERR,
}


@dataclass(frozen=True, kw_only=True)
class PciDeviceInfo:
    """What a driver may read of an engine, like its PCI config space."""

    vendor: int = PCI_VENDOR_ID_AMD
    device: int = PCI_DEVICE_ID_PTDMA
    name: str  # device name (also the IOMMU domain of its DMA)
    bar_base: int  # MMIO window (BAR 2 on the real part)
    bar_size: int
    msi_vector: int
    node: int  # NUMA node of the PCI device
    dma_name: str  # the DmaPort / IOMMU device name to map buffers for
    index: int  # engine slot on the platform


@dataclass(frozen=True)
class PtdmaConfig:
    """Model options that are not hardware timing (those live in the platform preset)."""

    detailed: bool = False  # one event per 64 B line instead of one per descriptor
    trace: bool = False  # readable state-change trace (engine.trace)
    vcd_path: str | Path | None = None  # VCD waveforms of the key signals
    max_xfer: int | None = None  # optional LENGTH cap (error 0x09 above it); None = none
    ooo_lanes: int = 4  # OOO_COMPLETE test mode: descriptors in flight, each at cap / lanes
    assert_sw_violations: bool = False  # raise SoftwareViolation on a TAIL overrun


class _Job:
    """One descriptor from fetch to retirement (class attributes are the defaults)."""

    fetch_ps = 0
    dws: list[int] | None = None
    src = 0
    dst = 0
    length = 0
    src_node = 0
    dst_node = 0
    ioc = False
    soc = False
    plan: StreamPlan | None = None
    n_write = 0  # lines that will be written
    n_read = 0  # lines that will be read
    copied = 0  # lines already written to memory
    bytes_read = 0
    bytes_written = 0
    outcome = ""  # done | error | abort | hang
    code = 0
    side = 0
    data_addr = 0
    t_term = 0
    event: Event | None = None
    finished = False
    dead = False
    hung = False
    wb_desc = False
    wb_cmpl = False
    # (DmaPort.stamp, source pieces, destination pieces) of validation's translations: the
    # copy reuses them while the stamp holds (no map/unmap/fault injection in between)
    xlate: tuple[tuple[int, int], list[tuple[int, int]], list[tuple[int, int]]] | None = None

    def __init__(self, addr: int, next_addr: int, slot: int, t0: int) -> None:
        self.addr = addr
        self.next_addr = next_addr
        self.slot = slot
        self.t0 = t0


class PtdmaEngine:
    """One PTDMA function: MMIO window, MSI vector, memory master, one command queue."""

    def __init__(
        self,
        platform: Any,
        index: int,
        config: PtdmaConfig | None = None,
        *,
        trace: Trace | None = None,
        vcd: VcdRecorder | None = None,
    ) -> None:
        cfg = config or PtdmaConfig()
        self.platform = platform
        self.index = index
        self.config = cfg
        self.sim = platform.sim
        self.name = f"ptdma{index}"
        self.node = platform.engine_node(index)
        self.params = platform.preset.dma
        self.period_ps = platform.device_clock.period_ps
        self.port = platform.dma_port(self.name, self.node)
        self.mem = platform.mem
        self.iommu = platform.iommu
        # RAM ranges (base, end, node): the untranslated fast path of the port's checks.
        self._ram = [(r.base, r.base + r.size, r.node) for r in platform.mem.nodes]
        self.timing = EngineTiming(self.node, self.period_ps, self.params, platform.timing)
        self.cap = BandwidthResource(f"{self.name}.cap", self.params.engine_cap_gbps)
        lanes = max(1, cfg.ooo_lanes)
        self.lanes = [
            BandwidthResource(f"{self.name}.lane{k}", self.params.engine_cap_gbps / lanes)
            for k in range(lanes)
        ]
        self.faults = FaultInjector()
        self._vcfg: dict[int, D.ValidationConfig] = {}
        self._ring_page = -1
        self._ring_fetch_ps = 0
        self._ring_ram_page = -1  # ring page known to be plain RAM (untranslated fast path)
        # (DmaPort.stamp, IOVA page, physical page) of the last ring page translated, a page
        # of RAM: the next fetches from it reuse the translation while the stamp holds
        self._ring_xlate: tuple[tuple[int, int], int, int] | None = None
        self._validating = _Job(0, 0, 0, 0)  # the job ``_check_addrs`` checks
        self._decode_ps = self.timing.decode_ps
        dma = platform.preset.dma
        self._gate_idle_ps = int(dma.clock_gate_idle_ns * NS)
        self._ungate_ps = int(dma.clock_ungate_ns * NS)
        self._completion_ps = self.timing.completion_ps
        self.counters = EngineCounters()
        self.trace = trace if trace is not None else (Trace() if cfg.trace else None)
        self.vcd = vcd
        self.detailed = cfg.detailed
        self._vcd_on = vcd is not None
        self._tracing = self.trace is not None
        build = {
            "rd_slots": self.params.rd_slots,
            "max_ring_log2": self.params.max_ring_log2,
            "timebase_ps": self.period_ps,
        }
        self.regs = RegisterFile(REGISTERS, build)
        self._v = self.regs.values  # hot-path alias of the register storage
        self._install_hooks()
        self._reset_state()
        bar_size = platform.preset.topology.mmio_window
        bar_base = platform.engine_mmio_base(index)
        self.vector = platform.irq.allocate_vector(self.name)
        self.region = platform.bus.map(bar_base, bar_size, self, self.name)
        self.pci = PciDeviceInfo(
            name=self.name,
            bar_base=bar_base,
            bar_size=bar_size,
            msi_vector=self.vector,
            node=self.node,
            dma_name=self.name,
            index=index,
        )
        if vcd is not None:
            vcd.register(index)
        platform.devices.append(self)

    # ================================================================ MMIO window
    def mmio_read(self, offset: int, size: int) -> int:
        """Software read (the bus has already charged the CPU)."""
        return self.regs.read(offset, size)

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        """Software write, landing now."""
        self.regs.write(offset, size, value)

    def _install_hooks(self) -> None:
        r = self.regs
        r.on_write("Q_CONTROL", self._w_control)
        r.on_write("Q_TAIL_LO", self._w_tail)
        r.on_write("Q_HEAD_LO", self._w_head)
        r.on_write("Q_INT_ENABLE", self._w_int_enable)
        r.on_write("Q_INTERRUPT_STATUS", self._w_int_status)
        r.on_write("IRQ_MASK", self._w_irq_mask)
        r.on_write("Q_ABORT", self._w_abort)
        r.on_write("Q_PERF_CTRL", self._w_perf_ctrl)
        r.on_read("Q_STATUS", self._r_q_status)
        r.on_read("Q_INT_STATUS", lambda _v: self.int_raw)
        r.on_read("IRQ_STATUS", lambda _v: int(self._line()))
        r.on_read("Q_DMA_STATUS", self._r_dma_status)
        for stem, (key, cycles) in PERF_COUNTERS.items():
            r.on_read(f"Q_PERF_{stem}_LO", self._perf_lo_reader(key, cycles))
            r.on_read(f"Q_PERF_{stem}_HI", self._perf_hi_reader(key))

    def _reset_state(self) -> None:
        self.jobs: list[_Job] = []
        self.fetching: _Job | None = None
        self.int_raw = 0  # Q_INT_STATUS: raw events before coalescing and enable
        self.irq_line = False
        self.coal_outstanding = 0
        self.coal_timer: Event | None = None
        self.seq = 0  # descriptors finished, for DESC_WB sequence numbers
        self.bytes_completed = 0  # for the CMPL_WB record
        self.perf: dict[str, int] = {key: 0 for key, _ in PERF_COUNTERS.values()}
        self.perf_latch: dict[str, int] = {key: 0 for key, _ in PERF_COUNTERS.values()}
        self.bytes_moved = 0  # total, for the VCD
        self._idle_since = 0  # end of the last descriptor (clock-gating idle timer)

    def reset(self) -> None:
        """FLR: every register to its reset value, in-flight work and writes dropped.

        Lines already acknowledged by the reset time stay in memory (in both modes); the
        rest of the descriptor is never written.
        """
        now = self.sim.now
        for job in [*self.jobs, *([self.fetching] if self.fetching else [])]:
            if job.plan is not None and not job.finished:
                self._copy_lines(job, min(job.n_write, job.plan.lines_done_by(now)))
            self._kill(job)
        if self.coal_timer is not None:
            self.coal_timer.cancel()
        self.regs.reset()
        self._v = self.regs.values
        self._reset_state()
        self._note("reset")
        self._wave()

    # ================================================================ ring geometry
    def _ring_bytes(self) -> int:
        q = min((self._v[O_CONTROL] >> QSIZE_SHIFT) & QSIZE_MAX, self.params.max_ring_log2 - 1)
        return DESC_SIZE << (q + 1)

    def _full(self, lo: int) -> int:
        return ((self._v[O_CONTROL] >> BASE_HI_SHIFT) << 32) | lo

    @property
    def head(self) -> int:
        """Full address of the next descriptor to execute (CONTROL[31:16] : HEAD_LO)."""
        return self._full(self._v[O_HEAD])

    @property
    def tail(self) -> int:
        return self._full(self._v[O_TAIL])

    def _next(self, addr: int) -> int:
        rb = self._ring_bytes()
        return (addr & ~(rb - 1)) | ((addr + DESC_SIZE) & (rb - 1))

    def _slot(self, addr: int) -> int:
        return (addr & (self._ring_bytes() - 1)) // DESC_SIZE

    def _occupancy(self, head_lo: int, tail_lo: int) -> int:
        return ((tail_lo - head_lo) & (self._ring_bytes() - 1)) // DESC_SIZE

    # ================================================================ register hooks
    def _w_control(self, old: int, new: int, written: int) -> int:
        """CONTROL: RUN = 1 clears HALTED and (re)starts; RUN 1 -> 0 stops after the current."""
        if new & RUN:
            new &= ~HALTED
            if old & HALTED:  # restart after a halt: forget the failed descriptor
                self.jobs = [j for j in self.jobs if not j.finished]
        self._v[O_CONTROL] = new
        if (old ^ new) & (RUN | HALTED) and self._tracing:
            self._note("run" if new & RUN else "stop", control=new)
        if new & RUN:
            self._kick()
        if self._vcd_on:
            self._wave()
        return new

    def _w_tail(self, old: int, new: int, written: int) -> int:
        """TAIL: a doorbell; a TAIL that passes HEAD is flagged (ERR_INFO.SW_TAIL_OVERRUN)."""
        self.counters.doorbells += 1
        if not self._v[O_PERF_CTRL] & PERF_FREEZE:  # _perf_add("doorbells", 1)
            self.perf["doorbells"] += 1
        rb = self._ring_bytes()
        moved = ((new - old) & (rb - 1)) // DESC_SIZE  # self._occupancy(old, new)
        # ... + self._occupancy(HEAD, old) >= ring slots
        if moved and ((old - self._v[O_HEAD]) & (rb - 1)) // DESC_SIZE + moved >= rb // 32:
            self._v[O_ERR_INFO] |= EI_TAIL_OVERRUN
            self._note("tail_overrun", head=self._v[O_HEAD], tail=new)
            if self.config.assert_sw_violations:
                raise SoftwareViolation(
                    f"{self.name}: TAIL {new:#x} passed HEAD {self._v[O_HEAD]:#x} (ring overrun)"
                )
        self._v[O_TAIL] = new
        if self._tracing:
            self._note("doorbell", tail=new)
        if self._v[O_CONTROL] & RUN:
            self._kick()
        if self._vcd_on:
            self._wave()
        return new

    def _w_head(self, old: int, new: int, written: int) -> int:
        """HEAD: software writes land only while RUN = 0 or HALTED = 1 (else flagged)."""
        ctl = self._v[O_CONTROL]
        if ctl & RUN and not ctl & HALTED:
            self._v[O_ERR_INFO] |= EI_HEAD_WRITE
            self._note("head_write_ignored", value=new)
            return old
        # Finished (failed) descriptors waiting at the old HEAD are forgotten; descriptors still
        # in flight keep running but no longer move HEAD.
        self.jobs = [j for j in self.jobs if not j.finished]
        for j in self.jobs:
            j.next_addr = -1
        self._note("head_write", value=new)
        self._v[O_HEAD] = new
        self._wave()
        return new

    def _w_int_enable(self, old: int, new: int, written: int) -> int:
        """INT_ENABLE: the IRQ line may rise (one MSI per edge; the driver's enable at exit)."""
        self._v[O_INT_ENABLE] = new
        self._update_irq()
        if self._vcd_on:
            self._wave()
        return new

    def _w_irq_mask(self, old: int, new: int, written: int) -> int:
        """IRQ_MASK (global 0x040): 1 masks queue 0's line."""
        self._v[O_IRQ_MASK] = new
        self._update_irq()
        self._wave()
        return new

    def _w_int_status(self, old: int, new: int, written: int) -> int:
        """INT_STATUS W1C: clearing ERROR releases the first-error latch (Q_STATUS[5:0])."""
        cleared = written & INT_ALL
        self.int_raw &= ~cleared
        if cleared & INT_ERROR:
            self._v[O_Q_STATUS] = QS_ERR.put(self._v[O_Q_STATUS], 0)
        self._v[O_INT_STATUS] = new
        self._update_irq()
        if self._vcd_on:
            self._wave()
        return new

    def _w_abort(self, old: int, new: int, written: int) -> int:
        if written & ABORT_BIT:
            self.abort()
        return new

    def _w_perf_ctrl(self, old: int, new: int, written: int) -> int:
        if written & PERF_RESET:
            for k in self.perf:
                self.perf[k] = 0
                self.perf_latch[k] = 0
        return new

    def _r_q_status(self, stored: int) -> int:
        v = stored & _QS_STORED
        if self.busy:
            v |= QS_BUSY
        if self._v[O_HEAD] == self._v[O_TAIL]:
            v |= QS_EMPTY
        if self._v[O_CONTROL] & HALTED:
            v |= QS_HALTED
        return v

    def _r_dma_status(self, _stored: int) -> int:
        now = self.sim.now
        rd = wr = 0
        for j in self.jobs:
            p = j.plan
            if j.finished or p is None or now < p.start:
                continue
            n_read = j.n_read if not j.hung else j.n_write
            returned = min(p.lines_returned_by(now), n_read)
            done = min(p.lines_done_by(now), j.n_write)
            rd += 1 if j.hung else min(self.params.rd_slots, max(0, n_read - returned))
            wr += max(0, returned - done)
        rd, wr = min(rd, 255), min(wr, 255)
        return rd | (wr << 8) | (int(rd > 0) << 16) | (int(wr > 0) << 17)

    def _perf_lo_reader(self, key: str, cycles: bool) -> Callable[[int], int]:
        def read(_stored: int) -> int:
            v = self._perf_value(key, cycles)
            self.perf_latch[key] = v >> 32  # reading LO latches HI
            return v & 0xFFFF_FFFF

        return read

    def _perf_hi_reader(self, key: str) -> Callable[[int], int]:
        return lambda _stored: self.perf_latch[key] & 0xFFFF_FFFF

    def _perf_value(self, key: str, cycles: bool) -> int:
        v = self.perf[key]
        return (v // self.period_ps if cycles else v) & 0xFFFF_FFFF_FFFF_FFFF

    def perf_counter(self, stem: str) -> int:
        """A PERF counter's current 64-bit value (model side, no latch)."""
        key, cycles = PERF_COUNTERS[stem]
        return self._perf_value(key, cycles)

    def _perf_add(self, key: str, n: int) -> None:
        if not self._v[O_PERF_CTRL] & PERF_FREEZE:
            self.perf[key] += n

    # ================================================================ interrupts
    def _line(self) -> bool:
        v = self._v
        return bool(v[O_INT_STATUS] & v[O_INT_ENABLE] & INT_ALL) and not v[O_IRQ_MASK] & 1

    def _update_irq(self) -> None:
        """IRQ line = OR(INT_STATUS & INT_ENABLE) & ~IRQ_MASK; one MSI per 0 -> 1 edge."""
        v = self._v
        line = bool(v[O_INT_STATUS] & v[O_INT_ENABLE] & INT_ALL) and not v[O_IRQ_MASK] & 1
        if line and not self.irq_line:
            self.counters.irqs += 1
            if not v[O_PERF_CTRL] & PERF_FREEZE:  # _perf_add("irqs", 1)
                self.perf["irqs"] += 1
            if self._tracing:
                self._note("msi", int_status=v[O_INT_STATUS])
            self.platform.irq.raise_msi(self.vector)
        self.irq_line = line

    def _raise(self, bits: int) -> None:
        """Latch status bits (whatever INT_ENABLE says) and recompute the line."""
        self.int_raw |= bits
        self._v[O_INT_STATUS] |= bits
        self._update_irq()

    def _ioc_completion(self) -> None:
        """An IOC completion: raise COMPLETION now, or fold it (COAL_EN)."""
        v = self._v
        self.int_raw |= INT_COMPLETION
        if not v[O_EXT_CTRL] & EXT_COAL:
            self._raise(INT_COMPLETION)
            return
        self.coal_outstanding += 1
        v[O_COAL_PENDING] = min(0xFFFF, v[O_COAL_PENDING] + 1)
        if self.coal_outstanding >= max(1, v[O_COAL_COUNT] & 0xFFFF):
            self._coal_fire("count")
        elif self.coal_outstanding == 1 and v[O_COAL_TIMER] & 0xFF_FFFF:
            delay = (v[O_COAL_TIMER] & 0xFF_FFFF) * self.period_ps
            self.coal_timer = self.sim.schedule(delay, self._coal_fire, "timer")

    def _coal_fire(self, why: str) -> None:
        if self.coal_timer is not None:
            self.coal_timer.cancel()
            self.coal_timer = None
        if not self.coal_outstanding:
            return
        self._note("coalesced_irq", why=why, folded=self.coal_outstanding)
        self.coal_outstanding = 0
        self._v[O_COAL_PENDING] = 0
        self._raise(INT_COMPLETION)
        self._wave()

    # ================================================================ queue state machine
    @property
    def busy(self) -> bool:
        """A descriptor is being fetched or executed (Q_STATUS.BUSY)."""
        jobs = self.jobs  # (no generator when nothing is in flight, the usual case)
        return self.fetching is not None or (bool(jobs) and not all(j.finished for j in jobs))

    def _max_inflight(self) -> int:
        return len(self.lanes) if self._v[O_EXT_CTRL] & EXT_OOO else 1

    def _kick(self) -> None:
        """Start fetching when RUN, not HALTED, the fetch unit idle, a free slot and work."""
        v = self._v
        ctl = v[O_CONTROL]
        if not ctl & RUN or ctl & HALTED or self.fetching is not None:
            return
        jobs = self.jobs
        if jobs:
            if not v[O_EXT_CTRL] & EXT_OOO:
                return  # in order: one descriptor at a time (a failed one waits for software)
            live = [j for j in jobs if not j.finished]
            if len(live) >= self._max_inflight() or any(j.hung for j in live):
                return
            addr = jobs[-1].next_addr  # OOO: continue after the last descriptor taken
            if addr < 0:
                return
        else:  # nothing in flight (the only case in order): start at HEAD (self.head)
            addr = ((ctl >> BASE_HI_SHIFT) << 32) | v[O_HEAD]
        if (addr & 0xFFFF_FFFF) == v[O_TAIL]:
            return
        self._start_fetch(addr)

    def _start_fetch(self, addr: int) -> None:
        rb = self._ring_bytes()
        nxt = (addr & ~(rb - 1)) | ((addr + DESC_SIZE) & (rb - 1))
        job = _Job(addr, nxt, (addr & (rb - 1)) // DESC_SIZE, self.sim.now)
        page = addr >> 12
        if page != self._ring_page:  # the ring's node, looked up once per ring page
            ring_node, _ = self._where(addr, DESC_SIZE, False)
            self._ring_page = page
            self._ring_fetch_ps = self.timing.fetch_ps(ring_node if ring_node >= 0 else self.node)
        job.fetch_ps = self._ring_fetch_ps
        # Dynamic clock gating (CLK_GATE_CTL[0]): an engine idle for longer than the gating
        # delay first waits for its clock to come back.
        wake = 0
        v = self._v
        if (
            v[O_CLK_GATE] & 1
            and (not self.jobs or all(j.finished for j in self.jobs))  # no job in flight
            and self.sim.now - self._idle_since >= self._gate_idle_ps
        ):
            wake = self._ungate_ps
            self.counters.ungates += 1
            if self._tracing:
                self._note("ungate", wait_ps=wake)
        self.fetching = job
        if self._tracing:
            self._note("fetch", addr=addr, slot=job.slot)
        sim = self.sim  # sim.schedule(delay, ...), the delay being a non-negative int
        job.event = sim.schedule_at(
            sim.now + wake + job.fetch_ps + self._decode_ps, self._on_decoded, job
        )
        if self._vcd_on:
            self._wave()

    def _where(self, addr: int, n: int, write: bool) -> tuple[int, int]:
        """(NUMA node, -1) of a device access [addr, addr+n), or (-1, faulting address).

        The DmaPort decides (IOMMU, then RAM); without translation a direct range check
        gives the same answer faster.
        """
        node, bad, _ = self._where_pieces(addr, n, write)
        return node, bad

    def _where_pieces(
        self, addr: int, n: int, write: bool
    ) -> tuple[int, int, list[tuple[int, int]] | None]:
        """``_where`` plus the access's physical pieces when the port translated it."""
        if not self.iommu.translating:
            for base, end, node in self._ram:
                if base <= addr and addr + n <= end:
                    return node, -1, None
        try:
            node, pieces = self.port.resolve_node(addr, n, write)  # resolve + node_of
        except IommuFault as e:
            return -1, e.iova, None
        except BusError as be:  # not ``e``: one name, one type (mypyc checks it)
            return -1, be.addr, None
        return node, -1, pieces

    def _addr_ok(self, job: _Job) -> Callable[[int, int, int], bool]:
        """Validation's address check of ``job``: RAM and IOMMU must accept both ranges."""
        self._validating = job
        return self._check_addrs

    def _check_addrs(self, src: int, dst: int, n: int) -> bool:
        """The check ``_addr_ok`` returns (a bound method: no closure per descriptor)."""
        job = self._validating
        where = self._where_pieces
        node, bad, src_pieces = where(src, n, False)
        if node < 0:
            job.data_addr, job.side = bad, SIDE_READ
            return False
        job.src_node = node
        node, bad, dst_pieces = where(dst, n, True)
        if node < 0:
            job.data_addr, job.side = bad, SIDE_WRITE
            return False
        job.dst_node = node
        if src_pieces is not None and dst_pieces is not None:
            stamp = self.port.stamp()
            if stamp is not None:
                job.xlate = (stamp, src_pieces, dst_pieces)
        return True

    def _on_decoded(self, job: _Job) -> None:
        """Descriptor fetched and decoded: validate, then plan its stream and its end."""
        if job.dead:
            return
        now = self.sim.now
        self.fetching = None
        self.jobs.append(job)
        self.counters.fetch_ps += job.fetch_ps
        v = self._v
        if not v[O_PERF_CTRL] & PERF_FREEZE:
            self.perf["fetch_ps"] += job.fetch_ps
        ext = v[O_EXT_CTRL]
        job.wb_desc = bool(ext & EXT_DESC_WB)
        job.wb_cmpl = bool(ext & EXT_CMPL_WB)
        complete_ps = self._completion_ps
        if job.wb_desc:
            complete_ps += self.timing.write_ps(self._node_or_local(job.addr))
        if job.wb_cmpl:
            complete_ps += self.timing.write_ps(self._node_or_local(self._cmpl_addr()))
        timeout_ps = v[O_CMD_TIMEOUT] * self.period_ps
        deadline = job.t0 + timeout_ps if timeout_ps else None

        # 1. the fetch itself
        faults = self.faults
        hit = faults.match("fetch", job.addr, DESC_SIZE) if faults.faults else None  # .armed
        if hit is not None:
            fault, at = hit
            self.faults.consume(fault, now, at)
            if fault.resp == "HANG":
                self._hang(job, deadline, complete_ps)
                return
            self._bus_status("fetch", fault.resp)
            self._end(job, "error", now + complete_ps, RESP_CODE[("fetch", fault.resp)],
                      SIDE_FETCH, at)
            return
        translating = self.iommu.translating
        if translating:
            # _where(addr, 32) then port.read(addr, 32), with the one translation they share
            # (nothing can change the mappings in between; a fault is found by the first).
            # The ring page's translation is kept while the port's stamp holds (IOTLB).
            ring = self._ring_xlate
            off = job.addr & 4095
            if (
                ring is not None
                and ring[1] == job.addr >> 12
                and off <= 4096 - DESC_SIZE
                and ring[0] == self.port.stamp()
            ):
                # read_words_pieces of the one piece [(ring[2] + off, DESC_SIZE)]
                dws = self.mem.read_words(ring[2] + off, DESC_SIZE >> 2)
            else:
                try:
                    pieces = self.port.resolve(job.addr, DESC_SIZE, False)
                except (IommuFault, BusError) as e:
                    bad = e.iova if isinstance(e, IommuFault) else e.addr
                    self._end(job, "error", now + complete_ps, D.ILLEGAL_MEM_ADDR, SIDE_FETCH,
                              bad)
                    return
                self._keep_ring_xlate(job.addr, pieces)
                dws = self.port.read_words_pieces(pieces, DESC_SIZE)
        else:
            if job.addr >> 12 != self._ring_ram_page:
                node, bad = self._where(job.addr, DESC_SIZE, False)
                if node < 0:
                    self._end(job, "error", now + complete_ps, D.ILLEGAL_MEM_ADDR, SIDE_FETCH,
                              bad)
                    return
                if (job.addr & 4095) <= 4096 - DESC_SIZE:
                    self._ring_ram_page = job.addr >> 12
            dws = self.mem.read_words(job.addr, DESC_SIZE >> 2)
        job.dws = dws
        job.length = dws[1]
        job.src = ((dws[3] & 0xFFFF) << 32) | dws[2]
        job.dst = ((dws[5] & 0xFFFF) << 32) | dws[4]
        job.ioc = bool(dws[0] & 2)
        job.soc = bool(dws[0] & 1)
        if self._tracing:
            self._note("decode", slot=job.slot, len=job.length, src=job.src, dst=job.dst)

        # 2. validation (§5 order)
        cfg = self._vcfg.get(ext & (EXT_ZERO_LEN_NOP | EXT_STRICT))
        if cfg is None:
            cfg = self._vcfg[ext & (EXT_ZERO_LEN_NOP | EXT_STRICT)] = D.ValidationConfig(
                zero_len_nop=bool(ext & EXT_ZERO_LEN_NOP),
                strict_reserved=bool(ext & EXT_STRICT),
                max_xfer=self.config.max_xfer,
            )
        job.side = SIDE_DESC
        code = D.validate_dwords(dws, cfg, self._addr_ok(job))
        if code:
            if code != D.ILLEGAL_MEM_ADDR:
                job.side, job.data_addr = SIDE_DESC, 0
            self._end(job, "error", now + complete_ps, code, job.side, job.data_addr)
            self._after_decode()
            return
        if job.length == 0:  # ZERO_LEN_NOP
            self._end(job, "done", now + complete_ps)
            self._after_decode()
            return

        # 3. the stream, cut by the first fault, a hang or the timeout
        src_node, dst_node = job.src_node, job.dst_node
        if ext & EXT_OOO:
            lane = min(self.lanes, key=lambda r: r.busy_until)
            plan = self.timing.plan(
                now, job.length, job.src, src_node, dst_node, lane, len(self.lanes), self.detailed
            )
        else:
            plan = self.timing.plan(
                now, job.length, job.src, src_node, dst_node, self.cap, 1, self.detailed
            )
        job.plan = plan
        cut: tuple[int, int, Fault, int, str] | None = None  # (time, line, fault, addr, side)
        if faults.faults:  # faults.armed
            for side, base in (("read", job.src), ("write", job.dst)):
                hit = self.faults.match(side, base, job.length)
                if hit is None:
                    continue
                line = plan.line_of_offset(hit[1] - base)
                t = plan.line_returned(line) if side == "read" else plan.line_done(line)
                if hit[0].resp == "HANG":
                    t = plan.line_returned(line)
                if cut is None or (line, t) < (cut[1], cut[0]):
                    cut = (t, line, hit[0], hit[1], side)
        run_end = plan.end if cut is None else cut[0]
        if deadline is not None and run_end > deadline:
            n = plan.lines_done_by(deadline)
            if cut is not None:
                n = min(n, cut[1])
            # A timeout shorter than fetch + decode expires as soon as the descriptor is
            # decoded (never schedule the end in the past).
            self._stream_end(job, n, n, "error", max(deadline, now) + complete_ps,
                             D.CMD_TIMEOUT, SIDE_DESC, 0)
        elif cut is None:
            self._stream_end(job, plan.n_lines, plan.n_lines, "done", plan.end + complete_ps)
        else:
            t, line, fault, at, side = cut
            self.faults.consume(fault, t, at)
            if fault.resp == "HANG":
                job.n_write = line
                self._hang(job, None, complete_ps, settle_at=max(t, plan.line_done(line - 1)))
            else:
                n_read = line + (1 if side == "write" else 0)
                t_end = max(t, plan.line_done(line - 1)) if line else t
                self._bus_status(side, fault.resp)
                self._stream_end(job, line, n_read, "error", t_end + complete_ps,
                                 RESP_CODE[(side, fault.resp)], SIDE[side.upper()], at)
        if v[O_EXT_CTRL] & EXT_OOO:  # _after_decode(), inlined
            self._kick()

    def _keep_ring_xlate(self, addr: int, pieces: list[tuple[int, int]]) -> None:
        """Remember the ring page's translation after a fetch from it (one piece inside one
        page of RAM, no fault armed); else forget the one kept."""
        stamp = self.port.stamp()
        off = addr & 4095
        page = pieces[0][0] - off
        if (
            stamp is not None
            and len(pieces) == 1
            and off <= 4096 - DESC_SIZE
            and self.mem.is_ram(page, 4096)
        ):
            self._ring_xlate = (stamp, addr >> 12, page)
        else:
            self._ring_xlate = None

    def _after_decode(self) -> None:
        """The fetch unit is free: in OOO mode the next descriptor may start now."""
        if self._v[O_EXT_CTRL] & EXT_OOO:
            self._kick()

    def _node_or_local(self, addr: int) -> int:
        node, _ = self._where(addr, 4, True)
        return node if node >= 0 else self.node

    def _cmpl_addr(self) -> int:
        return (self._v[O_CMPL_WB_HI] << 32) | self._v[O_CMPL_WB_LO]

    def _bus_status(self, side: str, resp: str) -> None:
        """DMA_RD_STATUS / DMA_WR_STATUS: last non-OKAY response and error count."""
        off = O_DMA_WR_STATUS if side == "write" else O_DMA_RD_STATUS
        v = self._v[off]
        count = min((v >> 2) + 1, (1 << 30) - 1)
        self._v[off] = AXI_RESP[resp] | (count << 2)

    # ---------------------------------------------------------------- ends of a descriptor
    def _stream_end(
        self,
        job: _Job,
        n_write: int,
        n_read: int,
        outcome: str,
        t_term: int,
        code: int = 0,
        side: int = 0,
        data_addr: int = 0,
    ) -> None:
        """Schedule the descriptor's end; lines [0, n_write) reach memory, n_read were read."""
        plan = job.plan
        assert plan is not None
        job.n_write = n_write
        job.n_read = n_read
        if n_read == n_write == plan.n_lines:  # the whole stream: cum(n_lines - 1)
            job.bytes_read = job.bytes_written = plan.nbytes
        else:
            job.bytes_read = plan.cum(n_read - 1)
            job.bytes_written = plan.cum(n_write - 1)
        self._end(job, outcome, t_term, code, side, data_addr)
        if self.detailed and n_write:
            self._schedule_line(job, 0)

    def _end(
        self,
        job: _Job,
        outcome: str,
        t_term: int,
        code: int = 0,
        side: int = 0,
        data_addr: int = 0,
    ) -> None:
        """Schedule the descriptor's end (``_settle``) at ``t_term``; the job is in ``jobs``."""
        job.outcome, job.code, job.side, job.data_addr, job.t_term = (
            outcome,
            code,
            side,
            data_addr,
            t_term,
        )
        job.event = self.sim.schedule_at(t_term, self._settle, job)

    def _hang(
        self, job: _Job, deadline: int | None, complete_ps: int, settle_at: int | None = None
    ) -> None:
        """The access never answers: only CMD_TIMEOUT, ABORT or reset end the descriptor."""
        if job not in self.jobs:
            self.fetching = None
            self.jobs.append(job)
        job.hung = True
        job.outcome = "hang"
        self._note("hang", slot=job.slot)
        if job.plan is not None and job.n_write and settle_at is not None:
            if self.detailed:
                self._schedule_line(job, 0)
            else:
                job.event = self.sim.schedule_at(settle_at, self._copy_event, job)
        if deadline is None:
            timeout_ps = self._v[O_CMD_TIMEOUT] * self.period_ps
            deadline = job.t0 + timeout_ps if timeout_ps else None
        if deadline is not None:
            t = max(deadline, self.sim.now)
            if job.plan is not None:
                job.n_write = min(job.n_write, job.plan.lines_done_by(t))
            self.sim.schedule_at(t + complete_ps, self._timeout_hung, job)
        self._wave()

    def _copy_event(self, job: _Job) -> None:
        if not job.finished:
            self._copy_lines(job, job.n_write)

    def _timeout_hung(self, job: _Job) -> None:
        """CMD_TIMEOUT of a hung descriptor (error 0x12)."""
        if job.dead or job.finished:
            return
        if job.event is not None:
            job.event.cancel()
        job.hung = False
        job.n_read = job.n_write
        job.outcome, job.code = "error", D.CMD_TIMEOUT
        job.side, job.data_addr = SIDE_DESC, 0
        job.t_term = self.sim.now
        if job.plan is not None:
            job.bytes_read = job.bytes_written = job.plan.cum(job.n_write - 1)
        self._settle(job)

    # ---------------------------------------------------------------- data movement
    def _copy_lines(self, job: _Job, upto: int) -> None:
        """Write lines [copied, upto) of the job to memory in one copy."""
        plan = job.plan
        if job.dead or upto <= job.copied or plan is None:
            return
        # cum(-1) is 0 and cum(n_lines - 1) the whole length: the usual one-copy settle
        a = plan.cum(job.copied - 1) if job.copied else 0
        b = plan.nbytes if upto == plan.n_lines else plan.cum(upto - 1)
        if self.iommu.translating:
            x = job.xlate
            try:
                if x is not None and a == 0 and b == job.length and x[0] == self.port.stamp():
                    # the whole range, still translated as at validation
                    self.port.copy_pieces(x[2], x[1], b)
                else:
                    self.port.copy(job.dst + a, job.src + a, b - a)
            except (IommuFault, BusError):
                self._copy_fault(job, upto)
                return
        else:  # the port's checks were done at validation; same bytes, one numpy copy
            self.mem.copy(job.dst + a, job.src + a, b - a)
        job.copied = upto
        self.bytes_moved += b - a

    def _copy_fault(self, job: _Job, upto: int) -> None:
        """A range validated at decode no longer translates (software unmapped it while the
        descriptor streamed): the lines before the first faulting one land, the descriptor
        ends in ILLEGAL_MEM_ADDR at that address (like a fault found at validation)."""
        plan = job.plan
        assert plan is not None
        k = job.copied
        side, at = SIDE_WRITE, 0
        while k < upto:
            a, b = plan.cum(k - 1), plan.cum(k)
            node, bad = self._where(job.src + a, b - a, False)
            if node < 0:
                side, at = SIDE_READ, bad
                break
            node, bad = self._where(job.dst + a, b - a, True)
            if node < 0:
                side, at = SIDE_WRITE, bad
                break
            k += 1
        if k > job.copied:
            a, b = plan.cum(job.copied - 1), plan.cum(k - 1)
            self.port.copy(job.dst + a, job.src + a, b - a)
            self.bytes_moved += b - a
            job.copied = k
        job.n_write = k
        job.n_read = min(job.n_read, k + (1 if side == SIDE_WRITE else 0))
        job.bytes_read = plan.cum(job.n_read - 1)
        job.bytes_written = plan.cum(k - 1)
        if job.outcome == "done":
            job.outcome, job.code, job.side, job.data_addr = "error", D.ILLEGAL_MEM_ADDR, side, at
        self._note("copy_fault", slot=job.slot, line=k, side=side, data_addr=at)

    def _schedule_line(self, job: _Job, k: int) -> None:
        assert job.plan is not None
        self.sim.schedule_at(job.plan.line_done(k), self._on_line, job, k)

    def _on_line(self, job: _Job, k: int) -> None:
        """Detailed mode: line ``k``'s write is acknowledged."""
        if job.dead or job.finished or k != job.copied or k >= job.n_write:
            return
        self._copy_lines(job, k + 1)
        if self._vcd_on:
            self._wave()
        if k + 1 < job.n_write:
            self._schedule_line(job, k + 1)

    # ---------------------------------------------------------------- completion
    def _settle(self, job: _Job) -> None:
        """All writes acknowledged (or the error/abort point reached): finish the descriptor.

        Order (§6): data, DESC_WB, CMPL_WB, HEAD += 32, counters, status, MSI.
        """
        if job.dead or job.finished:
            return
        self._copy_lines(job, job.n_write)
        now = self.sim.now
        v = self._v
        job.finished = True
        job.hung = False
        self._idle_since = now
        # the job's fields as locals (read after the copy, which may turn it into an error)
        outcome, plan, n_read = job.outcome, job.plan, job.n_read
        ok = outcome == "done"
        br, bw = job.bytes_read, job.bytes_written
        if not ok and plan is not None:
            plan.release(br)  # a cut stream frees the bandwidth it did not use
        self.seq = (self.seq + 1) & 0xFFFF
        c = self.counters
        c.bytes_read += br
        c.bytes_written += bw
        busy = now - job.t0
        c.busy_ps += busy
        stall = plan.stall_ps if plan is not None and ok else 0
        c.stall_ps += stall
        perf = self.perf
        frozen = v[O_PERF_CTRL] & PERF_FREEZE
        if not frozen:
            perf["busy_ps"] += busy
            perf["bytes_read"] += br
            perf["bytes_written"] += bw
            perf["stall_ps"] += stall
        if plan is not None:
            c.lines += n_read
            if not frozen:
                perf["rd_reqs"] += n_read
                perf["rd_lat_ps"] += n_read * plan.rd_lat
        stop_on_error = bool(v[O_EXT_CTRL] & EXT_STOP_ON_ERROR)
        halts = (not ok and (stop_on_error or outcome == "abort")) or (ok and job.soc)
        # DESC_WB: dw6 of the descriptor's slot.
        if job.wb_desc:
            st = WB_STATUS["COMPLETED"] if ok else (
                WB_STATUS["ABORTED"] if outcome == "abort" else WB_STATUS["ERROR"])
            self._wb_u32(job.addr + 24, st | (job.code << 8) | (self.seq << 16))
        # Retire: HEAD moves over finished descriptors in ring order.
        if ok:
            c.descriptors += 1
            if not frozen:
                perf["desc_done"] += 1
            v[O_Q_STATUS] = (v[O_Q_STATUS] + QS_DONE_ONE) & 0xFFFF_FFFF
            self.bytes_completed += bw
        elif outcome == "abort":
            c.aborted += 1
        else:
            c.errors += 1
        self._retire(stop_on_error)
        if job.wb_cmpl:
            status = CMPL_HALTED if halts else (CMPL_OK if ok else CMPL_ERR)
            rec = np.zeros(4, "<u4")
            rec[0] = v[O_HEAD]
            rec[1] = (v[O_Q_STATUS] >> 16) | (status << 16) | (job.code << 24)
            rec[2] = self.bytes_completed & 0xFFFF_FFFF
            rec[3] = self.bytes_completed >> 32
            self._wb(self._cmpl_addr(), rec.view(np.uint8))
        # Status and interrupts.
        bits = 0
        if ok:
            if self._tracing:
                self._note("complete", slot=job.slot, len=job.length, head=v[O_HEAD])
            if job.ioc:
                self._ioc_completion()
        elif outcome == "abort":
            self._note("aborted", slot=job.slot, bytes=bw)
        else:
            self._record_error(job)
            bits |= INT_ERROR
        if halts:
            v[O_CONTROL] = (v[O_CONTROL] & ~RUN) | HALTED
            bits |= INT_QUEUE_STOPPED
            self._note("halt", slot=job.slot, why=outcome if not ok else "soc")
        if v[O_HEAD] == v[O_TAIL] and not halts and not self.busy:
            bits |= INT_EMPTY_QUEUE
            if self.coal_outstanding:
                self._coal_fire("empty")
        if bits:
            self._raise(bits)
        tracer = self.platform.__dict__.get("tracer")
        if tracer is not None:
            label = f"memcpy {job.length} B" if outcome == "done" else outcome
            tracer.complete(
                "DMA", self.name, label, job.t0, now, len=job.length, slot=job.slot,
                outcome=outcome,
            )
        if self._vcd_on:
            self._wave()
        self._kick()

    def _retire(self, stop_on_error: bool) -> None:
        v = self._v
        jobs = self.jobs
        while jobs and jobs[0].finished:
            j = jobs[0]
            if j.outcome != "done" and (stop_on_error or j.outcome == "abort"):
                break  # HEAD stays on the failing descriptor
            jobs.pop(0)
            # self.head == j.addr
            if j.next_addr >= 0 and ((v[O_CONTROL] >> BASE_HI_SHIFT) << 32) | v[O_HEAD] == j.addr:
                v[O_HEAD] = j.next_addr & 0xFFFF_FFFF

    def _record_error(self, job: _Job) -> None:
        """Q_STATUS first-error latch, ERR_INFO and the address capture registers."""
        v = self._v
        if not QS_ERR.get(v[O_Q_STATUS]):
            v[O_Q_STATUS] = QS_ERR.put(v[O_Q_STATUS], job.code)
        info = v[O_ERR_INFO]
        count = min(255, EI.field("ERR_COUNT").get(info) + 1)
        info = EI.field("CODE").put(info, job.code)
        info = EI.field("SIDE").put(info, job.side)
        info = EI.field("RING_INDEX").put(info, job.slot)
        info = EI.field("ERR_COUNT").put(info, count)
        v[O_ERR_INFO] = info
        v[O_ERR_DESC_LO] = job.addr & 0xFFFF_FFFF
        v[O_ERR_DESC_HI] = job.addr >> 32
        v[O_ERR_DATA_LO] = job.data_addr & 0xFFFF_FFFF
        v[O_ERR_DATA_HI] = job.data_addr >> 32
        self._note("error", slot=job.slot, code=job.code, name=D.error_name(job.code),
                   side=job.side, data_addr=job.data_addr)

    def _wb(self, addr: int, data: np.ndarray) -> None:
        try:
            self.port.write(addr, data)
        except (IommuFault, BusError):
            self._bus_status("write", "DECERR")

    def _wb_u32(self, addr: int, value: int) -> None:
        self._wb(addr, np.array([value & 0xFFFF_FFFF], "<u4").view(np.uint8))

    # ================================================================ ABORT and teardown
    def abort(self) -> None:
        """ABORT (§3): stop fetching, drain in-flight writes, mark the current descriptor
        aborted (no IOC), set HALTED and QUEUE_STOPPED. HEAD stays on that descriptor."""
        now = self.sim.now
        v = self._v
        self._note("abort")
        if self.fetching is not None:  # not decoded yet: nothing moved
            job = self.fetching
            if job.event is not None:
                job.event.cancel()
            self.fetching = None
            self.jobs.append(job)
            self._end(job, "abort", now)
            self._wave()
            return
        live = [j for j in self.jobs if not j.finished]
        if not live:
            v[O_CONTROL] = (v[O_CONTROL] & ~RUN) | HALTED
            self._raise(INT_QUEUE_STOPPED)
            self._wave()
            return
        for job in live:
            if job.event is not None:
                job.event.cancel()
            t_end = now
            plan = job.plan
            n = 0
            if plan is not None:  # drain: lines whose read returned are written
                n = min(plan.lines_returned_by(now), job.n_write)
                if n:
                    t_end = max(now, plan.line_done(n - 1))
                job.bytes_read = job.bytes_written = plan.cum(n - 1)
            job.n_write = job.n_read = n
            job.hung = False
            job.outcome, job.code, job.side, job.data_addr, job.t_term = "abort", 0, 0, 0, t_end
            job.event = self.sim.schedule_at(t_end, self._settle, job)
        self._wave()

    def _kill(self, job: _Job) -> None:
        job.dead = True
        if job.event is not None:
            job.event.cancel()

    # ================================================================ observability
    def _note(self, event: str, **details: Any) -> None:
        if self.trace is not None:
            self.trace.add(self.sim.now, self.index, event, **details)

    def _wave(self) -> None:
        if self.vcd is None:
            return
        v = self._v
        self.vcd.change(
            self.sim.now,
            self.index,
            run=v[O_CONTROL] & RUN,
            busy=int(self.busy),
            halted=int(bool(v[O_CONTROL] & HALTED)),
            head=v[O_HEAD],
            tail=v[O_TAIL],
            int_status=v[O_INT_STATUS] & INT_ALL,
            irq=int(self.irq_line),
            bytes_moved=self.bytes_moved,
        )

    def close(self) -> None:
        """Finish the VCD file (shared by the engines of one attach; idempotent)."""
        if self.vcd is not None:
            self.vcd.close(self.sim.now)

    def __repr__(self) -> str:
        return f"PtdmaEngine({self.name}, node={self.node}, bar={self.pci.bar_base:#x})"


def attach_ptdma(
    platform: Any, n_engines: int, *, first_engine: int = 0, **config: Any
) -> list[PtdmaEngine]:
    """Create ``n_engines`` PTDMA engines (slots ``first_engine``..) on ``platform``.

    Each maps its 64 KiB window at ``platform.engine_mmio_base(i)``, takes an MSI vector,
    gets a ``DmaPort`` on ``platform.engine_node(i)`` and appends itself to
    ``platform.devices``. ``config`` are ``PtdmaConfig`` fields (``detailed``, ``trace``,
    ``vcd_path``, ``max_xfer``, ``ooo_lanes``, ``assert_sw_violations``); with ``trace`` the
    engines share one ``Trace``, with ``vcd_path`` one VCD file.
    """
    slots = platform.preset.topology.dma_engine_slots
    if not 1 <= n_engines <= slots or first_engine + n_engines > slots:
        raise ValueError(f"n_engines must be 1..{slots} (first_engine {first_engine})")
    cfg = PtdmaConfig(**config)
    trace = Trace() if cfg.trace else None
    vcd = VcdRecorder(cfg.vcd_path) if cfg.vcd_path is not None else None
    return [
        PtdmaEngine(platform, i, cfg, trace=trace, vcd=vcd)
        for i in range(first_engine, first_engine + n_engines)
    ]
