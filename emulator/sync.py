"""Blocking primitives for software running as processes: wait queues, completions, mutexes.

They mirror the kernel's ``wait_queue_head_t``, ``struct completion`` and ``struct mutex``
closely enough that the ports can call ``wait_for_completion_timeout`` and
``mutex_trylock`` with the kernel's semantics, but time is simulated time.
"""

from __future__ import annotations

import contextlib
from collections import deque

from .event_kernel import Process, Simulator, Waiter


class WaitQueue:
    """FIFO of waiting processes (``wait_queue_head_t``)."""

    def __init__(self, sim: Simulator, name: str = "") -> None:
        self.sim = sim
        self.name = name
        self._waiters: deque[Waiter] = deque()

    def __len__(self) -> int:
        return sum(1 for w in self._waiters if not w.fired)

    def wait(self, timeout: int | None = None) -> bool:
        """Block until woken (True) or ``timeout`` ps pass (False)."""
        w = self.sim.waiter()
        self._waiters.append(w)
        ok = w.wait(timeout)
        if not ok:
            with contextlib.suppress(ValueError):
                self._waiters.remove(w)
        return ok

    def wait_event(self, condition: object, timeout: int | None = None) -> bool:
        """``wait_event_timeout``: block until ``condition()`` is true; False on timeout."""
        assert callable(condition)
        deadline = None if timeout is None else self.sim.now + timeout
        while not condition():
            left = None if deadline is None else deadline - self.sim.now
            if left is not None and left <= 0:
                return bool(condition())
            self.wait(left)
        return True

    def wake_one(self) -> bool:
        while self._waiters:
            if self._waiters.popleft().fire(True):
                return True
        return False

    def wake_all(self) -> int:
        n = 0
        while self._waiters:
            n += self._waiters.popleft().fire(True)
        return n


class Completion:
    """``struct completion``: ``done`` counts completions not yet consumed by a waiter."""

    def __init__(self, sim: Simulator, name: str = "") -> None:
        self.sim = sim
        self.name = name
        self.done = 0
        self._wq = WaitQueue(sim, name)

    def reinit(self) -> None:
        """``reinit_completion``."""
        self.done = 0

    def complete(self) -> None:
        """Wake one waiter (or let the next wait pass)."""
        self.done += 1
        self._wq.wake_one()

    def complete_all(self) -> None:
        self.done = 1 << 30
        self._wq.wake_all()

    def try_wait_for_completion(self) -> bool:
        if self.done:
            self.done -= 1
            return True
        return False

    def completion_done(self) -> bool:
        return self.done > 0

    def wait_for_completion_timeout(self, timeout: int | None) -> int:
        """Block until completed; returns the time left in ps (at least 1), or 0 on timeout.

        ``timeout=None`` waits forever (``wait_for_completion``) and returns 1.
        """
        start = self.sim.now
        ok = self._wq.wait_event(lambda: self.done > 0, timeout)
        if not ok:
            return 0
        self.done -= 1
        if timeout is None:
            return 1
        return max(1, timeout - (self.sim.now - start))

    def wait_for_completion(self) -> None:
        self.wait_for_completion_timeout(None)


class Mutex:
    """``struct mutex`` with ``mutex_trylock`` (used by the latest DCBM's channel claim)."""

    def __init__(self, sim: Simulator, name: str = "") -> None:
        self.sim = sim
        self.name = name
        self.held = False
        self.owner: Process | None = None
        self._wq = WaitQueue(sim, name)

    def locked(self) -> bool:
        return self.held

    def trylock(self) -> bool:
        if self.held:
            return False
        self.held = True
        self.owner = self.sim.current
        return True

    def lock(self) -> None:
        while self.held:
            self._wq.wait()
        self.held = True
        self.owner = self.sim.current

    def unlock(self) -> None:
        if not self.held:
            raise RuntimeError(f"mutex {self.name!r} unlocked while not held")
        self.held = False
        self.owner = None
        self._wq.wake_one()
