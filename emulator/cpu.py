"""CPU model: cores at 2 GHz grouped in CCDs and sockets, and one API to charge work.

Software running as a process charges cycles for what it does (``charge``, or ``op`` for a
named kernel operation whose cost lives in the platform preset), and copies memory through
``copy``, which moves the bytes (numpy) and times them with the NUMA model: the core's
streaming rate, its CCD's fabric port shared by every core on it, the nodes' memory and
the inter-socket link.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .clock import ClockDomain
from .event_kernel import NS, Simulator
from .memory import PhysicalMemory
from .numa_timing import BandwidthResource, NumaTiming, Transfer
from .presets import CpuCopyParams, TopologyParams


@dataclass
class Core:
    id: int
    ccd: int
    node: int
    busy_cycles: float = 0.0
    copy_bytes: int = 0


class CpuModel:
    """The host CPUs: cycle accounting per core and per named operation."""

    def __init__(
        self,
        sim: Simulator,
        clock: ClockDomain,
        topology: TopologyParams,
        copy_params: CpuCopyParams,
        op_cycles: dict[str, int],
        mem: PhysicalMemory,
        timing: NumaTiming,
    ) -> None:
        self.sim = sim
        self.clock = clock
        self.copy_params = copy_params
        self.op_cycles = dict(op_cycles)
        self.mem = mem
        self.timing = timing
        per_socket = topology.ccds_per_socket * topology.cores_per_ccd
        self.cores = [
            Core(i, i // topology.cores_per_ccd, i // per_socket)
            for i in range(topology.sockets * per_socket)
        ]
        nr_ccds = topology.sockets * topology.ccds_per_socket
        self.ccd_port = [
            BandwidthResource(f"ccd{c}.port", copy_params.ccd_copy_gbps) for c in range(nr_ccds)
        ]
        self.op_counts: Counter[str] = Counter()
        self.op_cycles_charged: Counter[str] = Counter()

    def cores_of_ccd(self, ccd: int) -> list[Core]:
        return [c for c in self.cores if c.ccd == ccd]

    def current_core(self) -> Core:
        proc = self.sim.current
        return self.cores[proc.core if proc is not None else 0]

    # ------------------------------------------------------------ charging
    def charge(self, cycles: float, what: str = "") -> None:
        """Spend ``cycles`` CPU cycles on the current core (blocks in simulated time)."""
        if cycles <= 0:
            return
        core = self.current_core()
        core.busy_cycles += cycles
        if what:
            self.op_cycles_charged[what] += int(cycles)
        if self.sim.current is not None:
            self.sim.sleep(self.clock.cycles_to_ps(cycles))

    def charge_ns(self, ns: float, what: str = "") -> None:
        """Spend ``ns`` nanoseconds of CPU time (for costs specified in time)."""
        self.charge(self.clock.ps_to_cycles(int(ns * NS)), what)

    def op(self, name: str, count: int = 1) -> None:
        """Charge ``count`` times the preset cost of the kernel operation ``name``."""
        try:
            cost = self.op_cycles[name]
        except KeyError:
            raise KeyError(f"no cycle cost named {name!r} in the platform preset") from None
        self.op_counts[name] += count
        self.charge(cost * count, name)

    # ------------------------------------------------------------ copies
    def time_copy(self, nbytes: int, src_node: int, dst_node: int, ncopies: int = 1) -> Transfer:
        """Reserve the memory system for a copy by the current core; returns its timing."""
        core = self.current_core()
        p = self.copy_params
        start = self.sim.now + int(p.copy_startup_ns * NS) * ncopies
        return self.timing.stream(
            start,
            nbytes,
            core.node,
            src_node,
            dst_node,
            p.core_copy_gbps,
            [self.ccd_port[core.ccd]],
        )

    def copy(self, dst: int, src: int, nbytes: int, what: str = "copy") -> None:
        """``memcpy`` by the current core: bytes move now, the core is busy until done."""
        self.mem.copy(dst, src, nbytes)
        t = self.time_copy(nbytes, self.mem.node_of(src), self.mem.node_of(dst))
        self._spend_until(t.end, nbytes, what)

    def copy_many(
        self,
        dsts: Sequence[int] | np.ndarray,
        srcs: Sequence[int] | np.ndarray,
        sizes: Sequence[int] | np.ndarray,
        what: str = "copy",
    ) -> None:
        """A run of copies by the current core (e.g. ``folios_copy``), timed as one stream per
        (src node, dst node) pair plus a start-up cost per copy."""
        dsts_a = np.asarray(dsts, np.int64)
        srcs_a = np.asarray(srcs, np.int64)
        sizes_a = np.broadcast_to(np.asarray(sizes, np.int64), dsts_a.shape)
        groups: dict[tuple[int, int], list[int]] = {}
        for d, s, n in zip(dsts_a.tolist(), srcs_a.tolist(), sizes_a.tolist(), strict=True):
            self.mem.copy(d, s, n)
            key = (self.mem.node_of(s), self.mem.node_of(d))
            g = groups.setdefault(key, [0, 0])
            g[0] += n
            g[1] += 1
        end = self.sim.now
        total = 0
        for (sn, dn), (nbytes, count) in groups.items():
            t = self.time_copy(nbytes, sn, dn, count)
            end = max(end, t.end)
            total += nbytes
        self._spend_until(end, total, what)

    def _spend_until(self, end: int, nbytes: int, what: str) -> None:
        core = self.current_core()
        core.copy_bytes += nbytes
        dur = max(0, end - self.sim.now)
        cycles = self.clock.ps_to_cycles(dur)
        core.busy_cycles += cycles
        self.op_cycles_charged[what] += int(cycles)
        if self.sim.current is not None:
            self.sim.sleep(dur)
