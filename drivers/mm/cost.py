"""Named CPU costs of kernel steps, charged through ``kernel.cpu.op`` (costs live in the
platform preset's ``cpu_op_cycles``).

Per-folio steps of a 512-folio batch would otherwise cost a Python call into the CPU model
each; inside a migration the charges are accumulated per process and flushed as one
``cpu.op(name, count)`` per name at the points where time must be right: before a copy,
before waking or waiting for another process, and at phase ends. The simulated total is
identical; only the interleaving of a phase's own steps is coarsened.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from drivers.kernel import Kernel

_KEY = "mm_opcost"


def op(kernel: Kernel, name: str, count: int = 1) -> None:
    """Charge ``count`` x the preset cost ``name`` (deferred inside a ``deferred`` section)."""
    proc = kernel.sim._current  # sim.current without the property call (hot path)
    if proc is not None:
        acc = proc.data.get(_KEY)
        if acc is not None:
            if count > 0:
                acc[name] += count  # a defaultdict(int): no .get call
            return
    if count > 0:
        kernel.cpu.op(name, count)


class Charges(Protocol):
    """Named CPU charges pending: ``charges[name] += count`` adds ``count`` x cost ``name``."""

    def __getitem__(self, name: str) -> int: ...

    def __setitem__(self, name: str, count: int) -> None: ...


class _Direct:
    """A charge sink outside a ``deferred`` section: ``sink[name] += n`` is ``cpu.op(name, n)``."""

    __slots__ = ("kernel",)

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def __getitem__(self, name: str) -> int:
        return 0

    def __setitem__(self, name: str, count: int) -> None:
        if count > 0:
            self.kernel.cpu.op(name, count)


def charges(kernel: Kernel) -> Charges:
    """The current process's pending charges, for ``charges(k)[name] += n`` (= ``op``).

    A hot per-folio function looks the accumulator up once and adds each of its charges
    with one dict operation instead of one ``op`` call per charge; outside a ``deferred``
    section the returned sink charges at once, exactly like ``op``.
    """
    proc = kernel.sim._current
    if proc is not None:
        acc: Charges | None = proc.data.get(_KEY)
        if acc is not None:
            return acc
    return _Direct(kernel)


def flush(kernel: Kernel) -> None:
    """Charge everything accumulated by the current process now (blocks in simulated time)."""
    proc = kernel.sim._current
    if proc is None:
        return
    acc: dict[str, int] | None = proc.data.get(_KEY)
    if not acc:
        return
    if len(acc) == 1:
        ((name, count),) = acc.items()
        acc.clear()
        kernel.cpu.op(name, count)
        return
    # The same accounting as one cpu.op(name, count) per name, with a single sleep.
    cpu = kernel.cpu
    op_cycles = cpu.op_cycles
    counts = cpu.pending_counts  # plain dicts, merged into cpu.op_counts when read
    charged = cpu.pending_cycles
    total = 0.0
    for name, count in acc.items():
        cycles = op_cycles.get(name)
        if cycles is None:
            acc.clear()
            raise KeyError(f"no cycle cost named {name!r} in the platform preset")
        c = cycles * count
        counts[name] = counts.get(name, 0) + count
        charged[name] = charged.get(name, 0) + int(c)
        total += c
    acc.clear()
    cpu.charge(total)


class deferred:
    """Context manager: accumulate ``op`` charges of the current process, flush on exit."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.outer = False

    def __enter__(self) -> deferred:
        proc = self.kernel.sim.current
        if proc is not None:
            if _KEY in proc.data and proc.data[_KEY] is not None:
                self.outer = True  # nested: the outermost section flushes
            else:
                proc.data[_KEY] = defaultdict(int)
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self.kernel.sim.current
        if proc is None or self.outer:
            return
        try:
            flush(self.kernel)
        finally:
            proc.data[_KEY] = None
