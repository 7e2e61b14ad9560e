"""Timeline marks of the migration path for ``dcbm-emu trace`` (``platform.tracer``).

The CPU's phases (unmap, TLB flush, copy, move) are marked where mm/migrate.c moves from
one to the next; each mark ends the previous phase of that core. With no tracer attached a
mark is one attribute test. With one attached, a mark first charges the deferred costs of
the phase that ends (``cost.flush``), so phase boundaries are exact in the trace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import cost

if TYPE_CHECKING:
    from drivers.kernel import Kernel


def phase(kernel: Kernel, name: str | None, **args: Any) -> None:
    """Start CPU phase ``name`` on the current core (None: end the current phase)."""
    tracer = kernel.platform.tracer
    if tracer is None:
        return
    proc = kernel.sim.current
    if proc is None:
        return
    cost.flush(kernel)
    tracer.phase("CPU", f"core {proc.core}", name, **args)


def span_begin(kernel: Kernel, name: str, **args: Any) -> None:
    """Open an enclosing span (a syscall) on the current core's syscall track."""
    tracer = kernel.platform.tracer
    proc = kernel.sim.current
    if tracer is None or proc is None:
        return
    cost.flush(kernel)
    tracer.begin("CPU", f"core {proc.core} syscalls", name, **args)


def span_end(kernel: Kernel) -> None:
    tracer = kernel.platform.tracer
    proc = kernel.sim.current
    if tracer is None or proc is None:
        return
    cost.flush(kernel)
    tracer.end("CPU", f"core {proc.core} syscalls")
