"""NUMA memory timing: latency per (initiator node, target node) and shared bandwidth.

Bandwidth is a set of shared resources (each node's memory, each direction of the
inter-socket link, each CCD's fabric port, each DMA engine's streaming cap), modelled as
reservation servers (a token bucket per resource): a stream of ``n`` bytes occupies each
resource on its path for ``n / bandwidth`` and ends when the slowest one has carried it.
Two streams on one resource therefore share it: the link saturates at its bandwidth
whatever the number of engines behind it. Long transfers are computed, never stepped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .event_kernel import NS
from .presets import MemoryTimingParams


def bytes_time_ps(nbytes: int, gbps: float) -> int:
    """Time to move ``nbytes`` at ``gbps`` GB/s (10^9 B/s), in ps, rounded up."""
    return int(-(-nbytes * 1000 // gbps)) if gbps > 0 else 0


class BandwidthResource:
    """A shared carrier of bytes at ``gbps``: FIFO reservations in time order."""

    def __init__(self, name: str, gbps: float) -> None:
        if gbps <= 0:
            raise ValueError(f"{name}: bandwidth must be positive")
        self.name = name
        self.gbps = gbps
        self.busy_until = 0
        self.bytes_carried = 0
        self.busy_ps = 0

    def reserve(self, start: int, nbytes: int) -> int:
        """Carry ``nbytes`` starting no earlier than ``start``; returns the end time (ps)."""
        begin = max(start, self.busy_until)
        dur = bytes_time_ps(nbytes, self.gbps)
        self.busy_until = begin + dur
        self.bytes_carried += nbytes
        self.busy_ps += dur
        return self.busy_until

    def utilisation(self, elapsed_ps: int) -> float:
        return self.busy_ps / elapsed_ps if elapsed_ps else 0.0

    def reset(self) -> None:
        self.busy_until = 0
        self.bytes_carried = 0
        self.busy_ps = 0

    def __repr__(self) -> str:
        return f"BandwidthResource({self.name!r}, {self.gbps} GB/s)"


@dataclass
class Transfer:
    """Result of a timed stream: when its first byte and its last byte arrive."""

    start: int
    first_byte: int
    end: int
    nbytes: int

    @property
    def duration(self) -> int:
        return self.end - self.start

    @property
    def gbps(self) -> float:
        return self.nbytes * 1000 / self.duration if self.duration else float("inf")


class NumaTiming:
    """Latencies and shared bandwidth of the platform's memory system."""

    def __init__(self, params: MemoryTimingParams, nr_nodes: int) -> None:
        self.params = params
        self.nr_nodes = nr_nodes
        self.node_bw = [
            BandwidthResource(f"node{n}.mem", params.node_bandwidth_gbps) for n in range(nr_nodes)
        ]
        self.link = {
            (a, b): BandwidthResource(f"link{a}->{b}", params.link_bandwidth_gbps)
            for a in range(nr_nodes)
            for b in range(nr_nodes)
            if a != b
        }
        # (initiator, src, dst) -> path(...) as a tuple: the resources never change.
        self._paths: dict[tuple[int, int, int], tuple[BandwidthResource, ...]] = {}

    # ------------------------------------------------------------- latency
    def read_latency_ps(self, initiator_node: int, target_node: int) -> int:
        p = self.params
        ns = p.read_latency_local_ns if initiator_node == target_node else p.read_latency_remote_ns
        return int(ns * NS)

    def write_latency_ps(self, initiator_node: int, target_node: int) -> int:
        p = self.params
        ns = (
            p.write_latency_local_ns if initiator_node == target_node else p.write_latency_remote_ns
        )
        return int(ns * NS)

    # ------------------------------------------------------------- bandwidth
    def path(self, initiator_node: int, src_node: int, dst_node: int) -> list[BandwidthResource]:
        """Resources a copy src -> dst run by an agent on ``initiator_node`` occupies.

        Reads cross the link from the source node to the initiator, writes from the
        initiator to the destination (ptdma-model §8: remote reads use remote->local).
        """
        res = [self.node_bw[src_node]]
        if src_node != initiator_node:
            res.append(self.link[(src_node, initiator_node)])
        if dst_node != initiator_node:
            res.append(self.link[(initiator_node, dst_node)])
        if dst_node != src_node:
            res.append(self.node_bw[dst_node])
        return res

    def stream(
        self,
        start: int,
        nbytes: int,
        initiator_node: int,
        src_node: int,
        dst_node: int,
        rate_gbps: float,
        extra: Iterable[BandwidthResource] = (),
        *,
        exposed_latency: bool = True,
    ) -> Transfer:
        """Time a copy of ``nbytes`` whose agent streams at most ``rate_gbps``.

        The first byte lands after the read plus the write latency; the stream then runs at
        the agent's rate unless a shared resource on the path (busy with other streams) is
        the bottleneck. Reservations are made at ``start``, in event order. A prefetching
        CPU copy passes ``exposed_latency=False``: its latency is hidden by the stream.
        """
        lat = 0
        if exposed_latency:
            lat = self.read_latency_ps(initiator_node, src_node) + self.write_latency_ps(
                initiator_node, dst_node
            )
        first = start + lat
        end = self.reserve_path(start, nbytes, initiator_node, src_node, dst_node, extra, lat)
        end = max(first + bytes_time_ps(nbytes, rate_gbps), end)
        return Transfer(start, first, end, nbytes)

    def reserve_path(
        self,
        start: int,
        nbytes: int,
        initiator_node: int,
        src_node: int,
        dst_node: int,
        extra: Iterable[BandwidthResource] = (),
        lat: int = 0,
    ) -> int:
        """Reserve ``nbytes`` from ``start`` on the path's resources and ``extra`` (in that
        order, each ``BandwidthResource.reserve``); the latest end plus ``lat``, or 0."""
        key = (initiator_node, src_node, dst_node)
        path = self._paths.get(key)
        if path is None:
            path = self._paths[key] = tuple(self.path(initiator_node, src_node, dst_node))
        end = self.reserve_on(start, nbytes, path, lat)
        if extra:
            e = self.reserve_on(start, nbytes, extra, lat)
            if e > end:
                end = e
        return end

    @staticmethod
    def reserve_on(
        start: int,
        nbytes: int,
        resources: Iterable[BandwidthResource],
        lat: int = 0,
        spans: list[tuple[BandwidthResource, int, int]] | None = None,
    ) -> int:
        """Reserve ``nbytes`` from ``start`` on each of ``resources`` in order; the latest
        end plus ``lat``, or 0 (``reserve_path`` of a path already looked up). ``spans``
        receives each reservation as (resource, begin = max(start, busy_until before),
        busy_until after)."""
        end = 0
        for r in resources:
            if type(r) is not BandwidthResource:
                begin = r.busy_until
                b = r.reserve(start, nbytes)
                if spans is not None:
                    spans.append((r, begin if begin > start else start, r.busy_until))
                if b + lat > end:
                    end = b + lat
                continue
            # BandwidthResource.reserve, inlined (once per resource of every copy).
            begin = r.busy_until
            if start > begin:
                begin = start
            g = r.gbps
            dur = int(-(-nbytes * 1000 // g)) if g > 0 else 0
            r.busy_until = b = begin + dur
            r.bytes_carried += nbytes
            r.busy_ps += dur
            if spans is not None:
                spans.append((r, begin, b))
            if b + lat > end:
                end = b + lat
        return end

    def reset(self) -> None:
        for r in self.node_bw:
            r.reset()
        for r in self.link.values():
            r.reset()
