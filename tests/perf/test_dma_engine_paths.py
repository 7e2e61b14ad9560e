"""Fast paths of the PTDMA model's per-descriptor work against the general forms.

* ``DmaPort.resolve_node`` (one region lookup for a one-piece translation) against
  ``resolve`` then ``PhysicalMemory.node_of``: same node, pieces and errors.
* ``NumaTiming.reserve_on`` of a route's resources against ``reserve_path``.
* ``read_words`` (the ring fetch's 8 dwords) against ``read`` viewed as ``<u4``.
* ``_stream_end``'s and ``_copy_lines``' whole-stream byte counts against ``StreamPlan.cum``.
* ``EngineTiming.plan``'s carriers and spans (from ``reserve_on``) against ``busy_until``
  read before and after ``reserve_path``.
* ``for_each_sgtable_dma_sg`` / ``sg_next`` cursors made without the whole ``entries``
  list against the ``entries`` cursors.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from drivers.dmaengine.scatterlist import (
    SgTable,
    for_each_sgtable_dma_sg,
    for_each_sgtable_sg,
    sg_alloc_table,
    sg_next,
)
from emulator.dma_port import DmaPort
from emulator.frame_allocator import PAGE_SIZE
from emulator.iommu import Iommu, IommuFault
from emulator.memory import BusError, MmioRegion, PhysicalMemory, RamRegion
from emulator.numa_timing import BandwidthResource, NumaTiming
from emulator.presets import get_preset
from hdl_model.timing import EngineTiming, StreamPlan


def _outcome(f: object, *args: object) -> object:
    try:
        return f(*args)  # type: ignore[operator]
    except IommuFault as e:
        return ("iommu", e.iova)
    except BusError as e:
        return ("bus", e.addr)


@pytest.mark.parametrize("mode", ["off", "translated"])
def test_resolve_node_equals_resolve_then_node_of(mode: str) -> None:
    mem = PhysicalMemory()
    mem.add_node(0, 64 * PAGE_SIZE)
    mem.add_node(64 * PAGE_SIZE, 64 * PAGE_SIZE)
    mem.add(MmioRegion("mmio", 256 * PAGE_SIZE, 16 * PAGE_SIZE, None))  # type: ignore[arg-type]
    iommu = Iommu(mode)
    port = DmaPort(mem, iommu, "dev", 0)
    rng = random.Random(5)
    iovas = []
    for _ in range(40):  # runs across nodes, into MMIO and past RAM; some read-only
        phys = rng.randrange(0, 280) * PAGE_SIZE
        iovas.append(iommu.map("dev", phys, rng.choice([1, 2, 5]) * PAGE_SIZE,
                               rng.random() < 0.8))
    for _ in range(3000):
        base = rng.choice(iovas) if mode == "translated" else rng.randrange(0, 300 * PAGE_SIZE)
        addr = base + rng.randrange(0, 3 * PAGE_SIZE)
        size = rng.choice([1, 32, 4096, 3 * PAGE_SIZE, 7000])
        write = rng.random() < 0.5

        def ref(a: int = addr, n: int = size, w: bool = write) -> object:
            pieces = port.resolve(a, n, w)
            return mem.node_of(pieces[0][0]), pieces

        assert _outcome(port.resolve_node, addr, size, write) == _outcome(ref)


def test_reserve_on_equals_reserve_path() -> None:
    params = get_preset("zen3-epyc-2s").memory
    fast, ref = NumaTiming(params, 2), NumaTiming(params, 2)
    cap_f, cap_r = BandwidthResource("cap", 7.3), BandwidthResource("cap", 7.3)
    rng = random.Random(3)
    t = 0
    for _ in range(3000):
        t += rng.randrange(0, 3000)
        n = rng.choice([64, 4096, 65536, 12345])
        i, s, d = rng.randrange(2), rng.randrange(2), rng.randrange(2)
        lat = rng.choice([0, 1500])
        got = fast.reserve_on(t, n, (*fast.path(i, s, d), cap_f), lat)
        assert got == ref.reserve_path(t, n, i, s, d, (cap_r,), lat)
    for a, b in zip([*fast.node_bw, *fast.link.values(), cap_f],
                    [*ref.node_bw, *ref.link.values(), cap_r], strict=True):
        assert (a.busy_until, a.bytes_carried, a.busy_ps) == (b.busy_until, b.bytes_carried,
                                                              b.busy_ps)


@pytest.mark.parametrize("made", [False, True])
def test_sg_cursors_equal_entries(made: bool) -> None:
    sgt = SgTable()
    sg_alloc_table(sgt, 9)
    sgt.nents = 4
    if made:
        _ = sgt.entries
    ref = SgTable()
    sg_alloc_table(ref, 9)
    entries = ref.entries
    assert [(i, tuple(sg)[1]) for i, sg in for_each_sgtable_dma_sg(sgt)] == [
        (i, sg[1]) for i, sg in enumerate(entries[:4])]
    assert [sg[1] for _, sg in for_each_sgtable_sg(sgt)] == list(range(9))
    sg = sgt.sgl
    walked = []
    while sg is not None:
        assert sg[0] is sgt
        walked.append(sg[1])
        sg = sg_next(sg)
    assert walked == list(range(9))


def _two_nodes() -> PhysicalMemory:
    """Two 1 MiB nodes of 4 KiB chunks, back to back (chunk and region boundaries)."""
    mem = PhysicalMemory()
    mem.add(RamRegion("n0", 0, 1 << 20, 0, chunk_size=1 << 12))
    mem.add(RamRegion("n1", 1 << 20, 1 << 20, 1, chunk_size=1 << 12))
    return mem


def test_read_words_equals_read_viewed_as_u32() -> None:
    """``read_words`` (struct unpack from one chunk) against ``read(...).view("<u4")``:
    touched and untouched chunks, chunk and region boundaries, through a DmaPort too."""
    mem = _two_nodes()
    rng = random.Random(8)
    for _ in range(200):
        a = rng.randrange(0, (2 << 20) - 64)
        mem.write(a, np.frombuffer(rng.randbytes(64), np.uint8))
    port = DmaPort(mem, Iommu("off"), "dev", 0)
    for _ in range(4000):
        count = rng.choice([1, 2, 8, 8, 8, 20])
        a = rng.choice([rng.randrange(0, (2 << 20) - 4 * count),
                        (1 << 12) * rng.randrange(1, 500) - rng.randrange(0, 40)])
        want = mem.read(a, 4 * count).view("<u4").tolist()
        assert mem.read_words(a, count) == want
        assert port.read_words_pieces([(a, 4 * count)], 4 * count) == want
    half = [(4096 - 16, 16), (8192, 16)]
    assert port.read_words_pieces(half, 32) == port.read_pieces(half, 32).view("<u4").tolist()


@pytest.mark.parametrize("nbytes", [0, 1, 63, 64, 65, 4096, 65536, 65537])
def test_whole_stream_bytes_are_cum_of_last_line(nbytes: int) -> None:
    """``_stream_end``'s whole-stream case (``plan.nbytes``) is ``cum(n_lines - 1)``."""
    for src in (0, 1, 32, 63, 4095):
        plan = StreamPlan(0, nbytes, src, 100, 100, ((0, 10.0),), 10.0)
        assert plan.cum(plan.n_lines - 1) == plan.nbytes
        assert plan.cum(-1) == 0  # _copy_lines from line 0


def test_plan_reservations_equal_reserve_path() -> None:
    """``EngineTiming.plan`` takes its carriers and reservation spans from ``reserve_on``'s
    spans: the same as reading every resource's ``busy_until`` before ``reserve_path`` and
    after it (the general form), on every route, lane count and start."""
    preset = get_preset("zen3-epyc-2s")
    fast = EngineTiming(0, 1000, preset.dma, NumaTiming(preset.memory, 2))
    ref_numa = NumaTiming(preset.memory, 2)
    caps = [BandwidthResource("cap", preset.dma.engine_cap_gbps) for _ in range(2)]
    ref_caps = [BandwidthResource("cap", preset.dma.engine_cap_gbps) for _ in range(2)]
    rng = random.Random(4)
    t = 0
    for _ in range(2000):
        t += rng.randrange(0, 40_000)
        n = rng.choice([32, 4096, 65536, 12345])
        s, d, k = rng.randrange(2), rng.randrange(2), rng.randrange(2)
        lanes = rng.choice([1, 2])
        plan = fast.plan(t, n, rng.randrange(4096), s, d, caps[k], lanes, rng.random() < 0.2)
        res = [*ref_numa.path(0, s, d), ref_caps[k]]
        before = [max(t, r.busy_until) for r in res]
        end = ref_numa.reserve_path(t, n, 0, s, d, (ref_caps[k],), plan.lat)
        assert plan.carriers[1:] == tuple((b, r.gbps) for b, r in zip(before, res, strict=True))
        assert plan.carriers[0] == (t, fast.agent_rate_gbps(s, lanes))
        assert [(b, e) for _, b, e in plan.reserved] == [
            (b, r.busy_until) for b, r in zip(before, res, strict=True)]
        assert plan.end >= end


def test_write_words_equals_write_of_the_u32_array() -> None:
    """``write_words`` (struct pack into one chunk) against ``write`` of the words as a
    ``<u4`` array: values wider than 32 bits taken modulo 2**32, chunk and region
    boundaries, untouched chunks, the empty list."""
    fast, ref = _two_nodes(), _two_nodes()
    rng = random.Random(9)
    for _ in range(3000):
        count = rng.choice([0, 1, 2, 8, 8, 8, 20])
        a = rng.choice([rng.randrange(0, (2 << 20) - 4 * count),
                        (1 << 12) * rng.randrange(1, 500) - rng.randrange(0, 40),
                        (1 << 20) - rng.randrange(1, 4 * count + 2)])
        words = [rng.randrange(0, 1 << 40) for _ in range(count)]
        fast.write_words(a, words)
        ref.write(a, np.array([w & 0xFFFF_FFFF for w in words], "<u4").view(np.uint8))
        lo = max(0, a - 8)
        assert np.array_equal(fast.read(lo, 4 * count + 16), ref.read(lo, 4 * count + 16))
    assert np.array_equal(fast.read(0, 2 << 20), ref.read(0, 2 << 20))
