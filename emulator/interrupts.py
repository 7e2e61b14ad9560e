"""MSI interrupt controller: vectors, handler registration, delivery latency.

A device raises an MSI (an edge). After ``msi_to_handler_ns`` the registered handler runs
as a fresh process on its core (hard-IRQ context), so it may do MMIO reads that stall in
simulated time. A vector raised while its handler runs, or while it is disabled, stays
pending and is delivered once (edges coalesce as on a real local APIC).

Fault injection (``emulator.fault_injection``): ``lose_msi(vector, count)`` drops the next
``count`` edges of a vector before they reach the handler (a lost MSI write), and
``inject_spurious_msi(vector)`` delivers the handler without a device edge (a spurious
interrupt). Neither costs anything while no fault is armed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .event_kernel import NS, Simulator
from .presets import InterruptParams

IrqHandler = Callable[[int, Any], None]


@dataclass
class IrqLine:
    vector: int
    name: str = ""
    handler: IrqHandler | None = None
    dev_id: Any = None
    core: int = 0
    enabled: bool = True
    in_flight: bool = False  # delivery scheduled or handler running
    pending: bool = False
    raised: int = 0
    delivered: int = 0
    spurious: int = 0
    lost: int = 0  # edges dropped by an injected fault (never reached the handler)
    spurious_injected: int = 0  # deliveries injected without a device edge
    times: list[int] = field(default_factory=list)


class InterruptController:
    """Allocates MSI vectors and delivers them to handlers in simulated time."""

    def __init__(self, sim: Simulator, params: InterruptParams, nr_vectors: int = 256) -> None:
        self.sim = sim
        self.params = params
        self.lines: dict[int, IrqLine] = {}
        self._next = 32  # vectors below 32 are exceptions on x86
        self.nr_vectors = nr_vectors
        self.observers: list[Callable[[str, int, int], None]] = []  # (event, vector, time)
        self._lose: dict[int, int] = {}  # vector -> edges still to drop (fault injection)

    def allocate_vector(self, name: str = "") -> int:
        if self._next >= self.nr_vectors:
            raise RuntimeError("out of MSI vectors")
        v = self._next
        self._next += 1
        self.lines[v] = IrqLine(v, name)
        return v

    def request_irq(
        self, vector: int, handler: IrqHandler, name: str = "", dev_id: Any = None, core: int = 0
    ) -> int:
        """Register ``handler(vector, dev_id)``; returns 0 or -EBUSY (``request_irq``)."""
        line = self.lines.setdefault(vector, IrqLine(vector, name))
        if line.handler is not None:
            return -16  # -EBUSY
        line.handler, line.dev_id, line.core = handler, dev_id, core
        line.name = name or line.name
        return 0

    def free_irq(self, vector: int) -> None:
        line = self.lines[vector]
        line.handler = None
        line.dev_id = None

    def disable_irq(self, vector: int) -> None:
        self.lines[vector].enabled = False

    def enable_irq(self, vector: int) -> None:
        line = self.lines[vector]
        line.enabled = True
        if line.pending and not line.in_flight:
            line.pending = False
            self._schedule(line)

    # ------------------------------------------------------------ fault injection
    def lose_msi(self, vector: int, count: int = 1) -> None:
        """Arm a fault: the next ``count`` MSIs of ``vector`` are lost on the way (the device
        raised its edge, the handler never hears of it)."""
        if count < 1:
            raise ValueError("count must be >= 1")
        self._lose[vector] = self._lose.get(vector, 0) + count

    def clear_lost(self, vector: int | None = None) -> int:
        """Disarm lost-MSI faults (of ``vector``, or all); returns the edges not yet dropped."""
        if vector is None:
            left = sum(self._lose.values())
            self._lose.clear()
            return left
        return self._lose.pop(vector, 0)

    def inject_spurious_msi(self, vector: int) -> None:
        """A spurious interrupt: deliver ``vector`` to its handler with no device edge behind
        it (after the usual MSI-to-handler latency; coalesced like any edge)."""
        line = self.lines.setdefault(vector, IrqLine(vector))
        line.spurious_injected += 1
        for obs in self.observers:
            obs("msi_spurious", vector, self.sim.now)
        self._deliver_edge(line)

    # ------------------------------------------------------------ device side
    def raise_msi(self, vector: int) -> None:
        """A device's MSI write: deliver after the MSI-to-handler latency."""
        line = self.lines.get(vector)
        if line is None:  # (setdefault would build an IrqLine per MSI)
            line = self.lines.setdefault(vector, IrqLine(vector))
        line.raised += 1
        if self._lose and self._lose.get(vector):  # an armed lost-MSI fault eats this edge
            left = self._lose[vector] - 1
            if left:
                self._lose[vector] = left
            else:
                del self._lose[vector]
            line.lost += 1
            for obs in self.observers:
                obs("msi_lost", vector, self.sim.now)
            return
        for obs in self.observers:
            obs("msi", vector, self.sim.now)
        self._deliver_edge(line)

    def _deliver_edge(self, line: IrqLine) -> None:
        """Deliver one edge: now, or once after the running handler (or when re-enabled)."""
        if line.in_flight or not line.enabled:
            line.pending = True
            return
        self._schedule(line)

    def _schedule(self, line: IrqLine) -> None:
        """Run the handler ``msi_to_handler_ns`` from now, as a new process on ``line.core``.

        A fresh process per delivery, not a thread parked between deliveries: a suspended
        greenlet is a root for Python's cyclic collector, so a parked handler would keep
        its whole machine (RAM chunks included) alive after the user dropped it.
        """
        line.in_flight = True
        self.sim.spawn(self._deliver, line, name=f"irq{line.vector}:{line.name}",
                       core=line.core, delay=int(self.params.msi_to_handler_ns * NS))

    def _deliver(self, line: IrqLine) -> None:
        proc = self.sim.require_process()
        proc.data["in_irq"] = True
        line.times.append(self.sim.now)
        for obs in self.observers:
            obs("handler", line.vector, self.sim.now)
        if line.handler is None:
            line.spurious += 1
        else:
            line.delivered += 1
            line.handler(line.vector, line.dev_id)
            self.sim.sleep(int(self.params.handler_software_ns * NS))
        line.in_flight = False
        if line.pending and line.enabled:
            line.pending = False
            self._schedule(line)
