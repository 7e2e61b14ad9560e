"""The event kernel's misuse error, in a module that is never compiled.

``emulator.accel`` compiles the event kernel with mypyc, which cannot compile a subclass of
a builtin exception other than ``Exception``; ``SimulationError`` stays a ``RuntimeError``
(callers catch it as one) by living here. ``emulator.event_kernel`` re-exports it.
"""

from __future__ import annotations


class SimulationError(RuntimeError):
    """Misuse of the event kernel (blocking outside a process, time running backwards...)."""
