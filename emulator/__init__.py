"""The emulated machine: event kernel, memory, NUMA timing, bus, interrupts, CPU, platforms.

Importing the package first installs the compiled build of the hot modules when it is
current (``emulator.accel``); otherwise they run from their Python sources.
"""

from . import accel as _accel

_accel.install()
