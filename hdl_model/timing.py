"""Descriptor timing: fetch, decode, the data stream line by line, and completion.

Functional core, timing around it: this module only says *when*. One descriptor's stream is
planned once through ``NumaTiming.stream`` (the engine's own ``BandwidthResource`` for its
streaming cap, plus the shared node-memory and inter-socket-link resources on its path), at
the agent rate ``min(engine_cap_gbps, RD_SLOTS x 64 B / read latency)`` (ptdma-model §8:
throughput is emergent from the cap, the read slots and the link share).

Line-level timing is defined so that its closed form is exactly the fast mode's answer.
Each carrier ``i`` of the stream (the agent at its rate from ``start``, and every shared
resource from the moment its reservation begins) moves bytes at a constant rate, so the
cumulative byte ``c`` has passed carrier ``i`` at ``begin_i + T(c, rate_i)``; line ``k`` (the
bytes up to ``cum(k)``) is written and acknowledged at

    w(k) = max_i(begin_i + T(cum(k), rate_i)) + read latency + write latency

and the last line's ``w`` equals ``Transfer.end``. The fast mode schedules one event at
``w(last)``; the detailed mode one event per line at ``w(k)``; faults, aborts and timeouts
cut the stream at the same line in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emulator.event_kernel import NS
from emulator.numa_timing import BandwidthResource, NumaTiming, bytes_time_ps
from emulator.presets import DmaEngineParams

LINE = 64  # bytes per read/write line (AXI burst of the datapath)


@dataclass(frozen=True)
class EngineTiming:
    """Per-engine timing constants derived from the preset (``DmaEngineParams``) and clock."""

    node: int
    period_ps: int  # device clock period (1 GHz -> 1000 ps)
    params: DmaEngineParams
    numa: NumaTiming
    # (src node, dst node, lanes, cap) -> (rate, resources, read latency, write latency)
    _routes: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def decode_ps(self) -> int:
        return self.params.decode_cycles * self.period_ps

    @property
    def completion_ps(self) -> int:
        return self.params.completion_cycles * self.period_ps

    def fetch_ps(self, ring_node: int) -> int:
        """32 B descriptor fetch: read latency to the ring's node + ``desc_fetch_extra_ns``."""
        return self.numa.read_latency_ps(self.node, ring_node) + int(
            self.params.desc_fetch_extra_ns * NS
        )

    def write_ps(self, target_node: int) -> int:
        """One posted write until acknowledged (write-backs at completion)."""
        return self.numa.write_latency_ps(self.node, target_node)

    def agent_rate_gbps(self, src_node: int, lanes: int = 1) -> float:
        """min(streaming cap, RD_SLOTS x 64 B / read latency), split over ``lanes``."""
        rd_ns = self.numa.read_latency_ps(self.node, src_node) / NS
        slots_gbps = self.params.rd_slots * LINE / rd_ns if rd_ns > 0 else float("inf")
        return min(self.params.engine_cap_gbps, slots_gbps) / lanes

    def plan(
        self,
        start: int,
        nbytes: int,
        src_addr: int,
        src_node: int,
        dst_node: int,
        cap: BandwidthResource,
        lanes: int = 1,
        verify: bool = False,
    ) -> StreamPlan:
        """Reserve the stream of ``nbytes`` starting at ``start`` and return its line timing.

        ``verify`` recomputes the last line from the closed form and checks it against
        ``NumaTiming.stream`` (the detailed mode always does).
        """
        key = (src_node, dst_node, lanes, id(cap))
        route = self._routes.get(key)
        if route is None:
            numa = self.numa
            route = self._routes[key] = (
                self.agent_rate_gbps(src_node, lanes),
                (*numa.path(self.node, src_node, dst_node), cap),
                numa.read_latency_ps(self.node, src_node),
                numa.write_latency_ps(self.node, dst_node),
                (cap,),
            )
            if len({id(r) for r in route[1]}) != len(route[1]):
                raise AssertionError("a stream's path lists a resource twice")
        rate, resources, rd, wr, _extra = route
        # NumaTiming.stream(start, nbytes, node, src, dst, rate, extra=(cap,)) without its
        # Transfer: the path's and the cap's reservations (``reserve_path`` of the route's
        # resources: the path, then the cap), the rate, the exposed latency.
        lat = rd + wr
        spans: list[tuple[BandwidthResource, int, int]] = []
        end = self.numa.reserve_on(start, nbytes, resources, lat, spans)
        first = start + lat + bytes_time_ps(nbytes, rate)
        plan = StreamPlan(
            start, nbytes, src_addr, rd, wr,
            # each carrier begins when its reservation does: (begin, rate) of each span
            ((start, rate), *[(b, r.gbps) for r, b, _ in spans]),
            self.params.engine_cap_gbps, first if first > end else end,
        )
        plan.reserved = tuple(spans)  # (resource, begin, end) of each reservation
        if verify and plan.line_done(plan.n_lines - 1) != end:
            raise AssertionError("line-level closed form disagrees with NumaTiming.stream")
        return plan


class StreamPlan:
    """When each 64 B line of one descriptor's stream is read and written (see module doc)."""

    __slots__ = (
        "cap_gbps",
        "carriers",
        "end",
        "first_line",
        "lat",
        "n_lines",
        "nbytes",
        "rd_lat",
        "reserved",
        "start",
        "wr_lat",
    )

    def __init__(
        self,
        start: int,
        nbytes: int,
        src_addr: int,
        rd_lat: int,
        wr_lat: int,
        carriers: tuple[tuple[int, float], ...],
        cap_gbps: float,
        end: int | None = None,
    ) -> None:
        self.start = start
        self.nbytes = nbytes
        self.rd_lat = rd_lat
        self.wr_lat = wr_lat
        self.lat = rd_lat + wr_lat
        self.carriers = carriers
        self.cap_gbps = cap_gbps
        # (resource, reservation begin, reservation end) made for this stream, see release()
        self.reserved: tuple[tuple[BandwidthResource, int, int], ...] = ()
        self.first_line = min(nbytes, LINE - (src_addr % LINE))
        rest = nbytes - self.first_line
        self.n_lines = (1 + -(-rest // LINE)) if nbytes else 0
        if end is None:
            end = self.line_done(self.n_lines - 1) if nbytes else start
        self.end = end

    def cum(self, k: int) -> int:
        """Bytes moved once lines 0..k are done (lines follow the source's 64 B alignment)."""
        if k < 0:
            return 0
        return min(self.nbytes, self.first_line + LINE * k)

    def line_done(self, k: int) -> int:
        """Time line ``k``'s write is acknowledged."""
        c = self.cum(k)
        return max(b + bytes_time_ps(c, g) for b, g in self.carriers) + self.lat

    def line_returned(self, k: int) -> int:
        """Time line ``k``'s read data is back in the engine."""
        return self.line_done(k) - self.wr_lat

    def _count(self, t: int, returned: bool) -> int:
        lo, hi = 0, self.n_lines  # number of lines whose event time is <= t
        while lo < hi:
            mid = (lo + hi) // 2
            when = self.line_returned(mid) if returned else self.line_done(mid)
            if when <= t:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def lines_done_by(self, t: int) -> int:
        """Lines written and acknowledged at time ``t``."""
        return self._count(t, False)

    def lines_returned_by(self, t: int) -> int:
        """Lines whose read data has returned at time ``t``."""
        return self._count(t, True)

    def line_of_offset(self, offset: int) -> int:
        """Index of the line holding byte ``offset`` of the transfer."""
        if offset < self.first_line:
            return 0
        return 1 + (offset - self.first_line) // LINE

    @property
    def stall_ps(self) -> int:
        """Time beyond the cap-paced ideal (waiting for read slots or shared bandwidth)."""
        ideal = self.start + self.lat + bytes_time_ps(self.nbytes, self.cap_gbps)
        return max(0, self.end - ideal) if self.nbytes else 0

    def release(self, moved: int) -> None:
        """The stream was cut after ``moved`` bytes (error, abort, timeout): give back the
        bandwidth it reserved for the rest, on every resource nobody reserved after it."""
        for r, begin, end in self.reserved:
            if r.busy_until != end:
                continue  # a later stream is queued behind this one: keep the order
            used = bytes_time_ps(moved, r.gbps)
            new_end = begin + used
            if new_end < end:
                r.busy_until = new_end
                r.busy_ps -= end - new_end
                r.bytes_carried -= self.nbytes - moved
        self.reserved = ()
