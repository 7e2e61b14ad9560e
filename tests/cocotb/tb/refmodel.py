"""The reference: the Python PTDMA model on its own ``Platform``, fed the bench's stimulus.

The scoreboard replays every MMIO access and every host memory write of the testbench on
this model at the same simulated time (cocotb time in ps = the model's ``sim.now``), then
compares what both produced: memory images, register values, MSIs and the ordered list of
descriptor completions (``Completion``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emulator.platform import Platform


@dataclass(frozen=True)
class Completion:
    """One settled descriptor: time (ps), ring slot, outcome ('done'/'error'/'abort'), code."""

    time: int
    slot: int
    outcome: str
    code: int = 0

    def key(self) -> tuple[int, str, int]:
        return (self.slot, self.outcome, self.code)


class RefModel:
    """One model engine (``attach_ptdma``) on a private platform, driven in lockstep."""

    def __init__(
        self, seed: int = 0, engine: int = 0, preset: str = "zen3-epyc-2s", **overrides: Any
    ) -> None:
        from hdl_model.ptdma_engine import attach_ptdma

        self.platform = Platform(preset, seed=seed, **overrides)
        self.engine: Any = attach_ptdma(self.platform, 1, first_engine=engine, trace=True)[0]
        self.base = self.engine.pci.bar_base
        self.msi_times: list[int] = []
        self.platform.irq.observers.append(self._on_irq_event)

    def _on_irq_event(self, event: str, vector: int, time: int) -> None:
        if event == "msi" and vector == self.engine.vector:
            self.msi_times.append(time)

    # ------------------------------------------------------------------ time
    @property
    def now(self) -> int:
        return int(self.platform.sim.now)

    def advance(self, t_ps: int) -> None:
        """Run the model's events up to ``t_ps`` (inclusive)."""
        if t_ps > self.platform.sim.now:
            self.platform.sim.run(until=int(t_ps))

    # ------------------------------------------------------------------ stimulus
    def write(self, t_ps: int, offset: int, value: int) -> None:
        """A 32-bit register write landing at ``t_ps``."""
        self.advance(t_ps)
        self.platform.bus.dispatch_write(self.base + offset, 4, value & 0xFFFF_FFFF)

    def read(self, t_ps: int, offset: int) -> int:
        """A 32-bit register read sampled at ``t_ps``."""
        self.advance(t_ps)
        return int(self.platform.bus.dispatch_read(self.base + offset, 4))

    def mem_write(self, addr: int, data: np.ndarray) -> None:
        self.platform.mem.write(addr, data)

    def mem_read(self, addr: int, n: int) -> np.ndarray:
        return self.platform.mem.read(addr, n)

    def inject(self, side: str, resp: str, lo: int, hi: int) -> None:
        """Arm one fault on ``side`` for accesses inside [lo, hi)."""
        self.engine.faults.inject(side=side, resp=resp, count=1, addr_range=(lo, hi))

    # ------------------------------------------------------------------ observation
    @property
    def busy(self) -> bool:
        return bool(self.engine.busy)

    def pending_settles(self) -> list[int]:
        """Times (ps) of descriptor ends the model has scheduled and not yet reached."""
        out = []
        for j in self.engine.jobs:
            if not j.finished and j.t_term:
                out.append(int(j.t_term))
        return out

    def completions(self) -> list[Completion]:
        """Settled descriptors in order (from the model's trace)."""
        out = []
        for e in self.engine.trace.events:
            if e.event == "complete":
                out.append(Completion(e.time, int(e.details["slot"]), "done"))
            elif e.event == "error":
                out.append(
                    Completion(e.time, int(e.details["slot"]), "error", int(e.details["code"]))
                )
            elif e.event == "aborted":
                out.append(Completion(e.time, int(e.details["slot"]), "abort"))
        return out

    def fetch_times(self) -> list[int]:
        """Fetch start time (ps) of every descriptor, in order."""
        return [e.time for e in self.engine.trace.events if e.event == "fetch"]
