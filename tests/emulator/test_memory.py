"""Physical memory: round trips, chunk and region crossings, lazy backing, errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from emulator.memory import BusError, MmioRegion, PhysicalMemory, RamRegion

CHUNK = 1 << 16  # small chunks so crossings are cheap to test


def _mem() -> PhysicalMemory:
    m = PhysicalMemory()
    m.add_node(0, 4 * CHUNK, chunk_size=CHUNK)
    m.add_node(4 * CHUNK, 4 * CHUNK, chunk_size=CHUNK)  # adjacent: accesses may cross nodes
    return m


def _data(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8)


@pytest.mark.parametrize(
    "addr,n",
    [
        (0, 1),
        (100, 4096),
        (CHUNK - 3, 7),
        (CHUNK - 1000, 3 * CHUNK),
        (4 * CHUNK - 5, 10),
        (3 * CHUNK + 17, 2 * CHUNK),
    ],
)
def test_round_trip_across_chunks_and_regions(addr: int, n: int) -> None:
    m = _mem()
    d = _data(n)
    m.write(addr, d)
    assert np.array_equal(m.read(addr, n), d)
    # neighbours untouched
    if addr > 0:
        assert m.read(addr - 1, 1)[0] == 0
    assert m.read(addr + n, 1)[0] == 0


def test_untouched_memory_reads_zero_without_allocating() -> None:
    m = _mem()
    assert not m.read(12345, 3 * CHUNK).any()
    assert m.resident_bytes == 0
    m.write(5, b"\x01")
    assert m.resident_bytes == CHUNK  # one chunk, on first write only


def test_copy_within_and_across_nodes_and_chunks() -> None:
    m = _mem()
    d = _data(3 * CHUNK, 1)
    m.write(CHUNK // 2, d)
    m.copy(5 * CHUNK + 3, CHUNK // 2, 3 * CHUNK - 10)  # crosses chunks on both sides
    assert np.array_equal(m.read(5 * CHUNK + 3, 3 * CHUNK - 10), d[: 3 * CHUNK - 10])
    m.copy(4 * CHUNK - 100, CHUNK // 2, 200)  # destination crosses the node boundary
    assert np.array_equal(m.read(4 * CHUNK - 100, 200), d[:200])


def test_copy_from_untouched_source_writes_zeros() -> None:
    m = _mem()
    m.write(6 * CHUNK, np.full(4096, 0xAB, np.uint8))
    m.copy(6 * CHUNK, 1000, 4096)
    assert not m.read(6 * CHUNK, 4096).any()


def test_overlapping_copy_is_memmove() -> None:
    m = _mem()
    d = _data(1000, 2)
    m.write(0, d)
    m.copy(10, 0, 1000)
    assert np.array_equal(m.read(10, 1000), d)


def test_unmapped_access_raises_and_writes_nothing() -> None:
    m = _mem()
    with pytest.raises(BusError, match="unmapped"):
        m.read(8 * CHUNK, 4)
    with pytest.raises(BusError):
        m.write(8 * CHUNK - 2, b"abcd")  # runs off the end of RAM
    assert not m.read(8 * CHUNK - 2, 2).any()  # nothing was written before the error
    with pytest.raises(BusError):
        m.copy(0, 8 * CHUNK, 16)


def test_typed_words_are_little_endian() -> None:
    m = _mem()
    m.write_u32(0x40, 0x11223344)
    assert bytes(m.read(0x40, 4)) == b"\x44\x33\x22\x11"
    m.write_u64(0x48, 0x0102030405060708)
    assert m.read_u64(0x48) == 0x0102030405060708
    assert m.read_u32(0x48) == 0x05060708


def test_regions_cannot_overlap_and_node_lookup() -> None:
    m = _mem()
    with pytest.raises(ValueError):
        m.add(RamRegion("x", CHUNK, CHUNK, 9))

    class Dev:
        def mmio_read(self, offset: int, size: int) -> int:
            return 0

        def mmio_write(self, offset: int, size: int, value: int) -> None:
            pass

    m.add(MmioRegion("dev", 1 << 40, 0x1000, Dev()))
    assert m.node_of(5 * CHUNK) == 1 and m.node_of(0) == 0
    with pytest.raises(BusError):
        m.node_of(1 << 40)
    with pytest.raises(BusError):
        m.read(1 << 40, 4)  # RAM-style access to an MMIO window is an error


def test_two_64gib_nodes_cost_only_what_is_touched() -> None:
    """A fresh interpreter builds the full platform, touches a few pages, and stays small."""
    code = textwrap.dedent(
        """
        import numpy as np
        from emulator.platform import Platform
        p = Platform("zen3-epyc-2s")
        assert sum(n.size for n in p.mem.nodes) == 128 << 30
        for node in (0, 1):
            for i in range(8):
                a = p.alloc_pages(node, 0)
                p.mem.write(a, np.full(4096, i + 1, np.uint8))
        a = p.alloc_pages(1, 9)
        p.mem.write(a, np.ones(2 << 20, np.uint8))
        rss = [l for l in open("/proc/self/status") if l.startswith("VmRSS")][0]
        print(int(rss.split()[1]) // 1024)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rss_mb = int(out.stdout.strip().splitlines()[-1])
    assert rss_mb < 150, f"RSS {rss_mb} MB"
