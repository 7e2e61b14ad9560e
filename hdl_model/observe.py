"""Observability of the PTDMA model: counters, a readable state-change trace, VCD waveforms.

- ``EngineCounters``: per-engine totals kept by the model (never reset by software, unlike
  the PERF registers): descriptors, bytes, busy and stall time, interrupts, doorbells.
- ``Trace``: a list of ``TraceEvent(time, engine, event, details)`` shared by the engines of
  one ``attach_ptdma`` call, off by default (``trace=True``).
- ``VcdRecorder``: RUN, BUSY, HEAD, TAIL, INT_STATUS, the IRQ line and bytes moved of every
  engine as a VCD file (pyvcd), behind one switch (``vcd_path=...``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from emulator.event_kernel import NS


@dataclass
class EngineCounters:
    """Model-side totals of one engine (simulated time in ps, cycles of the device clock)."""

    descriptors: int = 0  # completed without error
    errors: int = 0
    aborted: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    busy_ps: int = 0  # fetch start .. completion, summed over descriptors
    stall_ps: int = 0  # stream time beyond the cap-paced ideal (read slots, shared bandwidth)
    fetch_ps: int = 0
    irqs: int = 0  # MSIs raised
    doorbells: int = 0  # TAIL writes
    lines: int = 0  # 64 B read lines requested
    ungates: int = 0  # descriptors that waited for the gated clock (CLK_GATE_CTL[0])

    def busy_cycles(self, period_ps: int) -> int:
        return self.busy_ps // period_ps

    def stall_cycles(self, period_ps: int) -> int:
        return self.stall_ps // period_ps

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class TraceEvent:
    """One state change: simulated time (ps), engine index, event name, details."""

    time: int
    engine: int
    event: str
    details: dict[str, Any]

    def __str__(self) -> str:
        def fmt(k: str, v: Any) -> str:
            hexa = isinstance(v, int) and not isinstance(v, bool) and v > 9
            return f"{k}={v:#x}" if hexa else f"{k}={v}"

        det = " ".join(fmt(k, v) for k, v in self.details.items())
        return f"{self.time / NS:>14.3f} ns  pt{self.engine:<2d} {self.event:<14s} {det}"


@dataclass
class Trace:
    """The state-change trace of a set of engines (time ordered, as events happen)."""

    events: list[TraceEvent] = field(default_factory=list)

    def add(self, time: int, engine: int, event: str, **details: Any) -> None:
        self.events.append(TraceEvent(time, engine, event, details))

    def of(self, event: str, engine: int | None = None) -> list[TraceEvent]:
        """Events called ``event`` (of one engine when given)."""
        return [
            e for e in self.events if e.event == event and (engine is None or e.engine == engine)
        ]

    def format(self, limit: int | None = None) -> str:
        evs = self.events if limit is None else self.events[:limit]
        return "\n".join(str(e) for e in evs)


# Signals recorded per engine: (name, width).
VCD_SIGNALS: tuple[tuple[str, int], ...] = (
    ("run", 1),
    ("busy", 1),
    ("halted", 1),
    ("head", 32),
    ("tail", 32),
    ("int_status", 4),
    ("irq", 1),
    ("bytes_moved", 64),
)


class VcdRecorder:
    """VCD waveforms (timescale 1 ps) of the engines of one ``attach_ptdma`` call."""

    def __init__(self, path: str | Path) -> None:
        from vcd import VCDWriter

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = self.path.open("w")
        self._writer: Any = VCDWriter(self._file, timescale="1 ps", date="simulated")
        self._vars: dict[tuple[int, str], Any] = {}
        self._last: dict[tuple[int, str], int] = {}
        self.closed = False

    def register(self, engine: int) -> None:
        """Declare one engine's signals (before the first change is recorded)."""
        for name, width in VCD_SIGNALS:
            var = self._writer.register_var(f"ptdma{engine}", name, "wire", size=width, init=0)
            self._vars[(engine, name)] = var
            self._last[(engine, name)] = 0

    def change(self, time: int, engine: int, **values: int) -> None:
        """Record new values (only those that changed are written)."""
        if self.closed:
            return
        for name, value in values.items():
            key = (engine, name)
            if self._last.get(key) != value:
                self._last[key] = value
                self._writer.change(self._vars[key], time, value)

    def close(self, time: int | None = None) -> None:
        """Finish the file (idempotent)."""
        if self.closed:
            return
        self.closed = True
        if time is not None:
            self._writer.flush(time)
        self._writer.close()
        self._file.close()
