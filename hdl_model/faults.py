"""Fault injection on an engine's memory master: bus error responses and hangs.

``engine.faults.inject(side="read", resp="SLVERR")`` makes the next matching access of the
engine's datapath fail the way an AXI slave would answer it: a source read (``read``), a
destination write (``write``) or a descriptor fetch (``fetch``) returns SLVERR or DECERR,
or (``resp="HANG"``) never answers, so the engine stops making progress (only ABORT,
CMD_TIMEOUT or a reset end it). Used by the tests and by fault-injection campaigns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SIDES = ("read", "write", "fetch")
RESPONSES = ("SLVERR", "DECERR", "HANG")
AXI_RESP = {"OKAY": 0, "SLVERR": 2, "DECERR": 3}  # RRESP/BRESP encodings


class SoftwareViolation(AssertionError):
    """Software broke a ring rule (TAIL past HEAD) while ``assert_sw_violations`` is on.

    Defined here, not in ``ptdma_engine`` (which re-exports it): mypyc, which compiles the
    engine (``emulator.accel``), cannot compile subclasses of builtin exceptions."""


@dataclass
class Fault:
    """One armed fault: side, response, how many more accesses it hits, address window."""

    side: str
    resp: str
    count: int = 1
    addr_range: tuple[int, int] | None = None  # [start, end) in device addresses
    hits: int = 0

    def window(self, addr: int, nbytes: int) -> int | None:
        """First address of [addr, addr+nbytes) this fault covers, or None."""
        if self.addr_range is None:
            return addr
        lo = max(addr, self.addr_range[0])
        hi = min(addr + max(nbytes, 1), self.addr_range[1])
        return lo if lo < hi else None


@dataclass
class FaultInjector:
    """The armed faults of one engine; the engine consults it for every access it plans."""

    faults: list[Fault] = field(default_factory=list)
    fired: list[tuple[int, str, str, int]] = field(default_factory=list)  # (time, side, resp, addr)

    def inject(
        self,
        side: str = "read",
        resp: str = "SLVERR",
        count: int = 1,
        addr_range: tuple[int, int] | None = None,
    ) -> Fault:
        """Arm a fault for the next ``count`` matching accesses on ``side``."""
        if side not in SIDES:
            raise ValueError(f"side {side!r} not in {SIDES}")
        if resp not in RESPONSES:
            raise ValueError(f"resp {resp!r} not in {RESPONSES}")
        if count < 1:
            raise ValueError("count must be >= 1")
        f = Fault(side, resp, count, addr_range)
        self.faults.append(f)
        return f

    def hang(
        self, side: str = "read", count: int = 1, addr_range: tuple[int, int] | None = None
    ) -> Fault:
        """Arm a hang: the matching access never completes."""
        return self.inject(side, "HANG", count, addr_range)

    def clear(self) -> None:
        self.faults.clear()

    @property
    def armed(self) -> bool:
        return bool(self.faults)

    def match(self, side: str, addr: int, nbytes: int) -> tuple[Fault, int] | None:
        """The first armed fault hitting an access of [addr, addr+nbytes), and the address hit.

        Does not consume it (``consume`` does, once the engine acts on it).
        """
        best: tuple[Fault, int] | None = None
        for f in self.faults:
            if f.side != side:
                continue
            a = f.window(addr, nbytes)
            if a is not None and (best is None or a < best[1]):
                best = (f, a)
        return best

    def consume(self, f: Fault, time: int, addr: int) -> None:
        f.count -= 1
        f.hits += 1
        self.fired.append((time, f.side, f.resp, addr))
        if f.count <= 0 and f in self.faults:
            self.faults.remove(f)
