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

from .cache import LlcModel
from .clock import ClockDomain
from .event_kernel import NS, S, Simulator
from .memory import PhysicalMemory
from .numa_timing import BandwidthResource, NumaTiming, Transfer, bytes_time_ps
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
        self.llc = LlcModel(nr_ccds, copy_params.llc_bytes_per_ccd)
        self._op_counts: Counter[str] = Counter()
        self._op_cycles_charged: Counter[str] = Counter()
        # The hot paths (op, charge, cost.flush) add to plain dicts, which are cheaper to
        # update than a Counter (a dict subclass); the properties below merge them first.
        self.pending_counts: dict[str, int] = {}
        self.pending_cycles: dict[str, int] = {}

    @property
    def op_counts(self) -> Counter[str]:
        """Calls per named operation (charged ``count`` times each)."""
        if self.pending_counts:
            self._merge_pending()
        return self._op_counts

    @property
    def op_cycles_charged(self) -> Counter[str]:
        """Cycles charged per named operation (or ``what`` of a charge)."""
        if self.pending_cycles:
            self._merge_pending()
        return self._op_cycles_charged

    def _merge_pending(self) -> None:
        counts = self._op_counts
        for name, n in self.pending_counts.items():
            counts[name] += n
        self.pending_counts.clear()
        cycles = self._op_cycles_charged
        for name, n in self.pending_cycles.items():
            cycles[name] += n
        self.pending_cycles.clear()

    def cores_of_ccd(self, ccd: int) -> list[Core]:
        return [c for c in self.cores if c.ccd == ccd]

    def current_core(self) -> Core:
        proc = self.sim._current
        return self.cores[proc.core if proc is not None else 0]

    # ------------------------------------------------------------ charging
    def charge(self, cycles: float, what: str = "") -> None:
        """Spend ``cycles`` CPU cycles on the current core (blocks in simulated time)."""
        if cycles <= 0:
            return
        sim = self.sim
        proc = sim._current
        core = self.cores[proc.core if proc is not None else 0]
        core.busy_cycles += cycles
        if what:
            pend = self.pending_cycles
            pend[what] = pend.get(what, 0) + int(cycles)
        if proc is not None:
            sim.sleep(round(cycles * S / self.clock.freq_hz))  # clock.cycles_to_ps(cycles)

    def charge_ns(self, ns: float, what: str = "") -> None:
        """Spend ``ns`` nanoseconds of CPU time (for costs specified in time)."""
        self.charge(self.clock.ps_to_cycles(int(ns * NS)), what)

    def op(self, name: str, count: int = 1) -> None:
        """Charge ``count`` times the preset cost of the kernel operation ``name``."""
        try:
            cost = self.op_cycles[name]
        except KeyError:
            raise KeyError(f"no cycle cost named {name!r} in the platform preset") from None
        pend = self.pending_counts
        pend[name] = pend.get(name, 0) + count
        # self.charge(cost * count, name), inlined: every named kernel/driver cost lands here.
        cycles = cost * count
        if cycles <= 0:
            return
        sim = self.sim
        proc = sim._current
        self.cores[proc.core if proc is not None else 0].busy_cycles += cycles
        if name:
            pend = self.pending_cycles
            pend[name] = pend.get(name, 0) + int(cycles)
        if proc is not None:
            sim.sleep(round(cycles * S / self.clock.freq_hz))  # clock.cycles_to_ps(cycles)

    # ------------------------------------------------------------ copies
    def time_copy(
        self, nbytes: int, src_node: int, dst_node: int, ncopies: int = 1, cached_bytes: int = 0
    ) -> Transfer:
        """Reserve the memory system for a copy by the current core; returns its timing.

        ``cached_bytes`` of the source are read from the core's L3 (no DRAM, no link); the
        rest streams from memory at the core's rate, sharing its CCD port, the nodes' memory
        and the link with every other stream.
        """
        core = self.current_core()
        start = self.sim.now + int(self.copy_params.copy_startup_ns * NS) * ncopies
        end = self._copy_end(core, nbytes, src_node, dst_node, ncopies, cached_bytes)
        return Transfer(start, start, end, nbytes)

    def _copy_end(
        self, core: Core, nbytes: int, src_node: int, dst_node: int, ncopies: int,
        cached_bytes: int,
    ) -> int:
        """End time of ``time_copy``: start-up per copy, the cached part at the L3 rate, the
        rest streamed (``NumaTiming.stream`` without exposed latency, inlined)."""
        p = self.copy_params
        start = self.sim.now + int(p.copy_startup_ns * NS) * ncopies
        t = start + bytes_time_ps(cached_bytes, p.llc_copy_gbps)
        miss = nbytes - cached_bytes
        if miss <= 0:
            return t
        end = self.timing.reserve_path(t, miss, core.node, src_node, dst_node,
                                       (self.ccd_port[core.ccd],))
        return max(t + bytes_time_ps(miss, p.core_copy_gbps), end)

    def copy(self, dst: int, src: int, nbytes: int, what: str = "copy") -> None:
        """``memcpy`` by the current core: bytes move now, the core is busy until done."""
        mem = self.mem
        mem.copy(dst, src, nbytes)
        proc = self.sim._current
        core = self.cores[proc.core if proc is not None else 0]
        ccd = core.ccd
        llc = self.llc
        cached = llc.resident_bytes(ccd, src, nbytes)
        end = self._copy_end(core, nbytes, mem.node_of(src), mem.node_of(dst), 1, cached)
        llc.touch(ccd, src, nbytes)
        llc.touch(ccd, dst, nbytes)
        self._spend_until(end, nbytes, what)

    def copy_many(
        self,
        dsts: Sequence[int] | np.ndarray,
        srcs: Sequence[int] | np.ndarray,
        sizes: int | Sequence[int] | np.ndarray,
        what: str = "copy",
    ) -> None:
        """A run of copies by the current core (e.g. ``folios_copy``), timed as one stream per
        (src node, dst node) pair plus a start-up cost per copy."""
        dsts_a = np.asarray(dsts, np.int64)
        srcs_a = np.asarray(srcs, np.int64)
        sizes_a = np.broadcast_to(np.asarray(sizes, np.int64), dsts_a.shape)
        ccd = self.current_core().ccd
        llc = self.llc
        groups: dict[tuple[int, int], list[int]] = {}
        node_of = self.mem.node_of
        for d, s, n in zip(dsts_a.tolist(), srcs_a.tolist(), sizes_a.tolist(), strict=True):
            self.mem.copy(d, s, n)
            key = (node_of(s), node_of(d))
            g = groups.setdefault(key, [0, 0, 0])
            g[0] += n
            g[1] += 1
            g[2] += llc.resident_bytes(ccd, s, n)
            llc.touch(ccd, s, n)
            llc.touch(ccd, d, n)
        end = self.sim.now
        total = 0
        for (sn, dn), (nbytes, count, cached) in groups.items():
            t = self.time_copy(nbytes, sn, dn, count, cached)
            end = max(end, t.end)
            total += nbytes
        self._spend_until(end, total, what)

    # ------------------------------------------------------------ user accesses
    def store(self, addr: int, data: np.ndarray) -> None:
        """A program's stores by the current core: the lines become dirty in its L3."""
        self.mem.write(addr, data)
        self.llc.touch(self.current_core().ccd, addr, data.size)
        self.charge_ns(data.size / self.copy_params.llc_copy_gbps, "user_store")

    def load(self, addr: int, n: int) -> np.ndarray:
        """A program's loads by the current core (cached lines are cheaper)."""
        core = self.current_core()
        cached = self.llc.resident_bytes(core.ccd, addr, n)
        t = self.time_copy(n, self.mem.node_of(addr), core.node, 1, cached)
        self.llc.touch(core.ccd, addr, n)
        self._spend_until(t.end, 0, "user_load")
        return self.mem.read(addr, n)

    def _spend_until(self, end: int, nbytes: int, what: str) -> None:
        sim = self.sim
        proc = sim._current
        core = self.cores[proc.core if proc is not None else 0]
        core.copy_bytes += nbytes
        dur = max(0, end - sim.now)
        cycles = self.clock.ps_to_cycles(dur)
        core.busy_cycles += cycles
        pend = self.pending_cycles
        pend[what] = pend.get(what, 0) + int(cycles)
        if proc is not None:
            sim.sleep(dur)
