"""Physical memory: an address space of regions (RAM backed lazily by numpy, MMIO windows).

One memory interface, cocotbext-axi style: ``read(addr, n)`` / ``write(addr, data)`` over an
address map. NUMA nodes are RAM regions; device windows are MMIO regions with handlers. RAM
is backed by anonymous ``mmap`` chunks created on first write (``MAP_NORESERVE``, huge pages
advised where the host allows), so two 64 GiB nodes cost host memory only for what is
touched, each byte is touched once, and copies are single numpy operations. A chunk next to
one already written is faulted in by a background thread (``host_backing``).
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from .host_backing import PREFAULTER, anon_chunk

_WORDS: dict[int, struct.Struct] = {}  # word count -> "<{count}I" (read_words, write_words)
PREFAULT_WINDOW_MAX = 32 << 20  # bytes faulted in ahead of a stream of fresh allocations
DEFAULT_CHUNK = 64 << 20  # 64 MiB: 32 x 2 MiB huge pages per chunk


def _words(count: int) -> struct.Struct:
    """The compiled layout of ``count`` little-endian 32-bit words (built once per count)."""
    fmt = _WORDS.get(count)
    if fmt is None:
        fmt = _WORDS[count] = struct.Struct(f"<{count}I")
    return fmt


class BusError(Exception):
    """An access to an address no region claims (a DECERR on a real interconnect)."""

    def __init__(self, addr: int, size: int, op: str = "access") -> None:
        super().__init__(f"{op} of {size} byte(s) at unmapped physical address {addr:#x}")
        self.addr = addr
        self.size = size
        self.op = op


class Region(Protocol):
    """Anything mapped into the address space."""

    name: str
    base: int
    size: int


class MmioHandler(Protocol):
    """A device's register window: offsets are relative to the window base."""

    def mmio_read(self, offset: int, size: int) -> int: ...

    def mmio_write(self, offset: int, size: int, value: int) -> None: ...


class MmioRegion:
    """A device window; accesses go to the handler's register table."""

    def __init__(self, name: str, base: int, size: int, handler: MmioHandler) -> None:
        self.name = name
        self.base = base
        self.size = size
        self.handler = handler

    def __repr__(self) -> str:
        return f"MmioRegion({self.name!r}, {self.base:#x}+{self.size:#x})"


class RamRegion:
    """A RAM range (one NUMA node) stored in lazily created chunks."""

    def __init__(
        self, name: str, base: int, size: int, node: int, chunk_size: int = DEFAULT_CHUNK
    ) -> None:
        if chunk_size & (chunk_size - 1):
            raise ValueError("chunk_size must be a power of two")
        self.name = name
        self.base = base
        self.size = size
        self.node = node
        self.chunk_size = chunk_size
        self._chunks: dict[int, np.ndarray] = {}
        # The prefault window of the current stream of fresh allocations (``prefault``).
        self._pf_start = self._pf_end = -1  # none yet
        self._pf_window = 0

    def __repr__(self) -> str:
        return f"RamRegion({self.name!r}, node={self.node}, {self.base:#x}+{self.size:#x})"

    @property
    def resident_bytes(self) -> int:
        """Host bytes reserved for chunks touched so far (upper bound of RSS)."""
        return len(self._chunks) * self.chunk_size

    def _chunk(self, idx: int, stream_hint: bool = True) -> np.ndarray:
        c = self._chunks.get(idx)
        if c is None:
            size = min(self.chunk_size, self.size - idx * self.chunk_size)
            c = anon_chunk(size)
            chunks = self._chunks
            if stream_hint and (idx - 1 in chunks or idx + 1 in chunks):
                # A writer streaming across chunks (a migration's destination, a workload's
                # population): fault the rest of this one in on another core. A lone chunk
                # (sparse use) stays lazily backed, page by page.
                PREFAULTER.submit(c)
            chunks[idx] = c
        return c

    def prefault(self, offset: int, n: int) -> None:
        """Host hint: [offset, offset+n) is about to be written (fresh frames were handed
        out). Its backing is faulted in on the prefault thread now, while the emulator is
        still busy elsewhere (a migration allocates every destination before copying).

        Like the page cache's readahead, a stream of hints (each starting where the last
        window ended, the allocator's bump pointer) gets a window that doubles up to
        ``PREFAULT_WINDOW_MAX`` ahead: few, large jobs for the thread, which needs the GIL
        between jobs, and a lone allocation commits no more than its own block."""
        if not PREFAULTER.enabled:
            return
        end = offset + n
        if offset >= self._pf_start and end <= self._pf_end:
            return  # inside the window already submitted
        if self._pf_start <= offset <= self._pf_end:  # the stream goes on: a larger window
            self._pf_window = min(max(self._pf_window, n) * 2, PREFAULT_WINDOW_MAX)
            start = self._pf_end
        else:  # a new stream
            self._pf_window = n
            self._pf_start = start = offset
        self._pf_end = min(max(end, start + self._pf_window), self.size)
        for idx, coff, length, _ in self._spans(start, self._pf_end - start):
            PREFAULTER.submit(self._chunk(idx, stream_hint=False)[coff : coff + length])

    def _spans(self, offset: int, n: int) -> Iterator[tuple[int, int, int, int]]:
        """Split [offset, offset+n) at chunk boundaries: (chunk, chunk_off, length, pos)."""
        pos = 0
        cs = self.chunk_size
        while pos < n:
            off = offset + pos
            idx, coff = divmod(off, cs)
            length = min(n - pos, cs - coff)
            yield idx, coff, length, pos
            pos += length

    def read(self, offset: int, n: int) -> np.ndarray:
        """Copy of ``n`` bytes; untouched memory reads as zeros without being allocated."""
        cs = self.chunk_size
        idx, coff = divmod(offset, cs)
        if coff + n <= cs:
            c = self._chunks.get(idx)
            return np.zeros(n, np.uint8) if c is None else c[coff : coff + n].copy()
        out = np.zeros(n, np.uint8)
        for idx, coff, length, pos in self._spans(offset, n):
            c = self._chunks.get(idx)
            if c is not None:
                out[pos : pos + length] = c[coff : coff + length]
        return out

    def read_words(self, offset: int, count: int) -> list[int]:
        """``read(offset, 4 * count).view("<u4").tolist()``: inside one chunk the words
        are unpacked straight from it (no array copy, view and list conversion)."""
        cs = self.chunk_size
        idx, coff = divmod(offset, cs)
        if coff + 4 * count <= cs:
            c = self._chunks.get(idx)
            if c is None:
                return [0] * count
            return list(_words(count).unpack_from(c, coff))  # type: ignore[arg-type]
        return self.read(offset, 4 * count).view("<u4").tolist()

    def write(self, offset: int, data: np.ndarray) -> None:
        n = data.size
        cs = self.chunk_size
        idx, coff = divmod(offset, cs)
        if n > 0 and coff + n <= cs:  # inside one chunk (a descriptor, a word): no span walk
            c = self._chunks.get(idx)
            if c is None:
                c = self._chunk(idx)
            c[coff : coff + n] = data
            return
        for idx, coff, length, pos in self._spans(offset, n):
            self._chunk(idx)[coff : coff + length] = data[pos : pos + length]

    def write_words(self, offset: int, words: list[int]) -> None:
        """``write(offset, np.array(words, "<u4").view(np.uint8))`` of 32-bit values: inside
        one chunk they are packed straight into it (no array built, converted and copied)."""
        count = len(words)
        cs = self.chunk_size
        idx, coff = divmod(offset, cs)
        if count and coff + 4 * count <= cs:
            c = self._chunks.get(idx)
            if c is None:
                c = self._chunk(idx)
            _words(count).pack_into(c, coff, *words)  # type: ignore[arg-type]
            return
        self.write(offset, np.array(words, "<u4").view(np.uint8))

    def fill(self, offset: int, n: int, value: int) -> None:
        for idx, coff, length, _ in self._spans(offset, n):
            if value == 0 and idx not in self._chunks:
                continue
            self._chunk(idx)[coff : coff + length] = value

    def view(self, offset: int, n: int, *, allocate: bool = True) -> np.ndarray | None:
        """Zero-copy view of [offset, offset+n) when it lies in one chunk, else None."""
        idx, coff = divmod(offset, self.chunk_size)
        if coff + n > self.chunk_size:
            return None
        if not allocate and idx not in self._chunks:
            return None
        return self._chunk(idx)[coff : coff + n]

    def spans(
        self, offset: int, n: int, *, allocate: bool
    ) -> Iterator[tuple[np.ndarray | None, int]]:
        """Views covering [offset, offset+n) in order: (view or None if untouched, length)."""
        for idx, coff, length, _ in self._spans(offset, n):
            if not allocate and idx not in self._chunks:
                yield None, length
            else:
                yield self._chunk(idx)[coff : coff + length], length


class AddressSpace:
    """The physical address map: RAM and MMIO regions, no overlaps, byte-addressed.

    RAM accesses may cross region and chunk boundaries; MMIO accesses must fall inside one
    window and are dispatched to its handler as 1-, 2-, 4- or 8-byte register accesses.
    """

    def __init__(self) -> None:
        self._bases: list[int] = []
        self._regions: list[RamRegion | MmioRegion] = []
        self.generation = 0  # bumped by add/remove: what is RAM may have changed

    @property
    def regions(self) -> list[RamRegion | MmioRegion]:
        return list(self._regions)

    def add(self, region: RamRegion | MmioRegion) -> None:
        i = bisect.bisect_left(self._bases, region.base)
        prev = self._regions[i - 1] if i > 0 else None
        nxt = self._regions[i] if i < len(self._regions) else None
        if (prev is not None and prev.base + prev.size > region.base) or (
            nxt is not None and region.base + region.size > nxt.base
        ):
            raise ValueError(f"{region!r} overlaps an existing region")
        self._bases.insert(i, region.base)
        self._regions.insert(i, region)
        self.generation += 1

    def remove(self, region: RamRegion | MmioRegion) -> None:
        i = self._regions.index(region)
        del self._regions[i]
        del self._bases[i]
        self.generation += 1

    def find(self, addr: int) -> RamRegion | MmioRegion | None:
        i = bisect.bisect_right(self._bases, addr) - 1
        if i < 0:
            return None
        r = self._regions[i]
        return r if addr < r.base + r.size else None

    def ram_at(self, addr: int, n: int = 1, op: str = "access") -> RamRegion:
        """The RAM region holding all of [addr, addr+n), or BusError."""
        r = self.find(addr)
        if not isinstance(r, RamRegion) or addr + n > r.base + r.size:
            raise BusError(addr, n, op)
        return r

    def is_ram(self, addr: int, n: int = 1) -> bool:
        """True when every byte of [addr, addr+n) is RAM (possibly across regions)."""
        r = self.find(addr)
        if type(r) is RamRegion and addr + n <= r.base + r.size:
            return True  # inside one RAM region (every DMA piece): no piece walk
        try:
            for _ in self._ram_pieces(addr, n, "check"):
                pass
        except BusError:
            return False
        return True

    def _ram_pieces(self, addr: int, n: int, op: str) -> Iterator[tuple[RamRegion, int, int, int]]:
        """Split a RAM access at region boundaries: (region, offset, length, pos)."""
        pos = 0
        while pos < n:
            a = addr + pos
            r = self.find(a)
            if not isinstance(r, RamRegion):
                raise BusError(a, n - pos, op)
            length = min(n - pos, r.base + r.size - a)
            yield r, a - r.base, length, pos
            pos += length

    # --------------------------------------------------------------- bulk data
    def read(self, addr: int, n: int) -> np.ndarray:
        """``n`` bytes of RAM as a new uint8 array."""
        r = self.find(addr)
        if isinstance(r, RamRegion) and addr + n <= r.base + r.size:
            return r.read(addr - r.base, n)
        out = np.empty(n, np.uint8)
        for reg, off, length, pos in self._ram_pieces(addr, n, "read"):
            out[pos : pos + length] = reg.read(off, length)
        return out

    def read_words(self, addr: int, count: int) -> list[int]:
        """``count`` little-endian 32-bit words of RAM at ``addr``, as ints (``read`` of
        ``4 * count`` bytes viewed as ``<u4``)."""
        r = self.find(addr)
        if type(r) is RamRegion and addr + 4 * count <= r.base + r.size:
            return r.read_words(addr - r.base, count)
        return self.read(addr, 4 * count).view("<u4").tolist()

    def write(self, addr: int, data: np.ndarray | bytes | bytearray) -> None:
        """Store ``data`` (uint8 array or bytes) at ``addr``."""
        arr = np.frombuffer(bytes(data), np.uint8) if not isinstance(data, np.ndarray) else data
        if arr.dtype != np.uint8:
            arr = arr.view(np.uint8).reshape(-1)
        r = self.find(addr)
        if type(r) is RamRegion and addr + arr.size <= r.base + r.size:
            r.write(addr - r.base, arr)  # inside one RAM region: the only piece
            return
        pieces = list(self._ram_pieces(addr, arr.size, "write"))  # check all before writing
        for reg, off, length, pos in pieces:
            reg.write(off, arr[pos : pos + length])

    def write_words(self, addr: int, words: list[int]) -> None:
        """Store 32-bit values (each taken modulo 2**32) little-endian at ``addr``: the
        inverse of ``read_words`` (a driver filling a descriptor ring slot)."""
        words = [w & 0xFFFF_FFFF for w in words]
        r = self.find(addr)
        if type(r) is RamRegion and addr + 4 * len(words) <= r.base + r.size:
            r.write_words(addr - r.base, words)
            return
        self.write(addr, np.array(words, "<u4").view(np.uint8))

    def fill(self, addr: int, n: int, value: int = 0) -> None:
        for reg, off, length, _ in list(self._ram_pieces(addr, n, "write")):
            reg.fill(off, length, value)

    def copy(self, dst: int, src: int, n: int) -> None:
        """memmove ``n`` bytes from ``src`` to ``dst`` inside RAM, chunk by chunk."""
        if n <= 0:
            return
        # Fast path (every page and folio copy): each side inside one RAM chunk, no overlap.
        # The same checks and effects as the general path below, without its piece lists.
        sr = self.find(src)
        dr = self.find(dst)
        if (
            type(sr) is RamRegion
            and type(dr) is RamRegion
            and src + n <= sr.base + sr.size
            and dst + n <= dr.base + dr.size
            and not (src < dst < src + n or dst < src < dst + n)
        ):
            sidx, scoff = divmod(src - sr.base, sr.chunk_size)
            didx, dcoff = divmod(dst - dr.base, dr.chunk_size)
            if scoff + n <= sr.chunk_size and dcoff + n <= dr.chunk_size:
                dchunk = dr._chunks.get(didx)
                if dchunk is None:
                    dchunk = dr._chunk(didx)
                schunk = sr._chunks.get(sidx)
                if schunk is None:  # source never written: zeros (its chunk is created)
                    sr._chunk(sidx)
                    dchunk[dcoff : dcoff + n] = 0
                else:
                    dchunk[dcoff : dcoff + n] = schunk[scoff : scoff + n]
                return
        self._copy_general(dst, src, n)

    def _copy_general(self, dst: int, src: int, n: int) -> None:
        """``copy`` for any ranges: split at region and chunk boundaries, overlap-safe."""
        if n <= 0:
            return
        src_pieces = list(self._ram_pieces(src, n, "read"))
        dst_pieces = list(self._ram_pieces(dst, n, "write"))
        if src < dst < src + n or dst < src < dst + n:  # overlapping: go through a temp copy
            self.write(dst, self.read(src, n))
            return
        # Fast path: both sides inside one chunk each (the common page/folio copy).
        if len(src_pieces) == 1 and len(dst_pieces) == 1:
            sreg, soff = src_pieces[0][0], src_pieces[0][1]
            dreg, doff = dst_pieces[0][0], dst_pieces[0][1]
            dv = dreg.view(doff, n)
            if dv is not None:
                sv = sreg.view(soff, n, allocate=False)
                if sv is not None:
                    dv[:] = sv
                    return
                if sreg.view(soff, n) is not None:  # source chunk untouched: zeros
                    dv[:] = 0
                    return
        for sreg, soff, slen, spos in src_pieces:
            pos = 0
            for view, length in sreg.spans(soff, slen, allocate=False):
                d = dst + spos + pos
                if view is None:
                    self.fill(d, length, 0)
                else:
                    self.write(d, view)
                pos += length

    # --------------------------------------------------------------- typed words
    def read_u32(self, addr: int) -> int:
        return int(self.read(addr, 4).view("<u4")[0])

    def write_u32(self, addr: int, value: int) -> None:
        self.write(addr, np.array([value & 0xFFFF_FFFF], "<u4").view(np.uint8))

    def read_u64(self, addr: int) -> int:
        return int(self.read(addr, 8).view("<u8")[0])

    def write_u64(self, addr: int, value: int) -> None:
        self.write(addr, np.array([value & 0xFFFF_FFFF_FFFF_FFFF], "<u8").view(np.uint8))

    # --------------------------------------------------------------- MMIO dispatch
    def mmio_region(self, addr: int, size: int, op: str) -> MmioRegion:
        r = self.find(addr)
        if not isinstance(r, MmioRegion) or addr + size > r.base + r.size:
            raise BusError(addr, size, op)
        return r


class PhysicalMemory(AddressSpace):
    """The platform's address space plus its NUMA nodes (one RAM region per node)."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[RamRegion] = []
        self._node_ranges: list[tuple[int, int, int]] = []  # (base, end, node) of each node

    def add_node(self, base: int, size: int, chunk_size: int = DEFAULT_CHUNK) -> RamRegion:
        node = RamRegion(f"node{len(self.nodes)}", base, size, len(self.nodes), chunk_size)
        self.add(node)
        self.nodes.append(node)
        self._node_ranges.append((base, base + size, node.node))
        return node

    def remove(self, region: RamRegion | MmioRegion) -> None:
        super().remove(region)
        self._node_ranges = [t for t in self._node_ranges if t[0] != region.base]

    def prefault(self, addr: int, n: int) -> None:
        """``RamRegion.prefault`` of the node holding [addr, addr+n) (host bookkeeping:
        nothing simulated changes; a range outside RAM is ignored)."""
        for r in self.nodes:
            if r.base <= addr < r.base + r.size:
                r.prefault(addr - r.base, min(n, r.base + r.size - addr))
                return

    def node_of(self, addr: int) -> int:
        """NUMA node of a RAM address (``page_to_nid``)."""
        for base, end, node in self._node_ranges:  # a couple of nodes: a direct range check
            if base <= addr < end:
                return node
        r = self.find(addr)
        if not isinstance(r, RamRegion):
            raise BusError(addr, 1, "node lookup")
        return r.node

    @property
    def resident_bytes(self) -> int:
        return sum(n.resident_bytes for n in self.nodes)
