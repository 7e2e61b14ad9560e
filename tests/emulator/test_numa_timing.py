"""NUMA timing: latency by distance, shared bandwidth between concurrent streams."""

from __future__ import annotations

import pytest

from emulator.event_kernel import NS, US
from emulator.numa_timing import BandwidthResource, NumaTiming, bytes_time_ps
from emulator.presets import MemoryTimingParams


def test_remote_is_slower_than_local() -> None:
    t = NumaTiming(MemoryTimingParams(), 2)
    assert t.read_latency_ps(0, 1) > t.read_latency_ps(0, 0)
    assert t.write_latency_ps(1, 0) > t.write_latency_ps(1, 1)
    local = t.stream(0, 1 << 20, 0, 0, 0, 20.0)
    t.reset()
    remote = t.stream(0, 1 << 20, 0, 1, 0, 20.0)
    assert remote.end > local.end
    assert remote.first_byte - remote.start == 280 * NS  # 200 ns remote read + 80 ns local write


def test_bandwidth_resource_is_a_fifo_server() -> None:
    r = BandwidthResource("r", 10.0)  # 10 GB/s = 10 bytes per ns
    assert r.reserve(0, 1000) == 100 * NS
    assert r.reserve(0, 1000) == 200 * NS  # queued behind the first
    assert r.reserve(500 * NS, 1000) == 600 * NS  # idle gap: starts at its own time
    assert bytes_time_ps(1, 1.0) == 1000


def test_shared_link_saturates_with_two_streams() -> None:
    params = MemoryTimingParams(link_bandwidth_gbps=10.0)
    t = NumaTiming(params, 2)
    size = 1 << 20
    alone = t.stream(0, size, 0, 1, 0, 8.0)  # one 8 GB/s stream fits under the 10 GB/s link
    assert alone.gbps == pytest.approx(8.0, rel=0.01)
    t.reset()
    a = t.stream(0, size, 0, 1, 0, 8.0)
    b = t.stream(0, size, 0, 1, 0, 8.0)
    both_end = max(a.end, b.end)
    aggregate = 2 * size * 1000 / both_end
    assert aggregate == pytest.approx(10.0, rel=0.02)  # the link, not the streams, limits
    assert b.end > alone.end


def test_streams_in_opposite_directions_do_not_share_a_link() -> None:
    params = MemoryTimingParams(link_bandwidth_gbps=10.0)
    t = NumaTiming(params, 2)
    a = t.stream(0, 1 << 20, 0, 1, 0, 8.0)  # reads cross 1 -> 0
    b = t.stream(0, 1 << 20, 0, 0, 1, 8.0)  # writes cross 0 -> 1
    assert a.end < 200 * US and abs(a.end - b.end) < 1 * US
    assert t.link[(1, 0)].bytes_carried == 1 << 20 and t.link[(0, 1)].bytes_carried == 1 << 20
