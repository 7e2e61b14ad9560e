"""Clock domains: convert between cycles of a domain and simulated picoseconds."""

from __future__ import annotations

from dataclasses import dataclass

from .event_kernel import S


@dataclass(frozen=True)
class ClockDomain:
    """A clock of ``freq_hz``; cycle counts convert to ps exactly when the period is whole."""

    name: str
    freq_hz: int

    @property
    def period_ps(self) -> int:
        return S // self.freq_hz

    def cycles_to_ps(self, cycles: float) -> int:
        """Duration of ``cycles`` cycles in ps (rounded to the nearest ps)."""
        return round(cycles * S / self.freq_hz)

    def ps_to_cycles(self, ps: int) -> float:
        """Cycles elapsed in ``ps`` picoseconds (fractional)."""
        return ps * self.freq_hz / S

    def cycle_at(self, time_ps: int) -> int:
        """Index of the cycle that is running at ``time_ps``."""
        return time_ps * self.freq_hz // S

    def next_edge(self, time_ps: int) -> int:
        """Time of the first clock edge at or after ``time_ps``."""
        c = -(-time_ps * self.freq_hz // S)
        return c * S // self.freq_hz
