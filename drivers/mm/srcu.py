"""Sleepable RCU (kernel/rcu/srcutree.c, reduced to its guarantee) in simulated time.

Readers enter with ``srcu_read_lock`` (returning the current epoch index) and leave with
``srcu_read_unlock(idx)``. ``synchronize_srcu`` flips the epoch and blocks the calling process
until every reader that entered under the old epoch has left: readers that start afterwards
do not delay it. ``call_srcu`` queues a callback for after a grace period and
``srcu_barrier`` waits for all queued callbacks.
"""

from __future__ import annotations

from collections.abc import Callable

from emulator.event_kernel import Simulator
from emulator.sync import WaitQueue


class SrcuStruct:
    """``struct srcu_struct``: two per-epoch reader counters and a grace-period wait queue."""

    def __init__(self, sim: Simulator, name: str = "srcu") -> None:
        self.sim = sim
        self.name = name
        self.idx = 0
        self.readers = [0, 0]
        self._wq = WaitQueue(sim, name)
        self._callbacks: list[Callable[[], None]] = []
        self.grace_periods = 0
        self.gp_wait_ps = 0  # total simulated time spent waiting for readers

    def srcu_read_lock(self) -> int:
        """Enter a read-side critical section; returns the epoch index to unlock with."""
        idx = self.idx
        self.readers[idx] += 1
        return idx

    def srcu_read_unlock(self, idx: int) -> None:
        """Leave the read-side section entered with ``idx``; wakes a waiting updater."""
        if self.readers[idx] <= 0:
            raise RuntimeError(f"{self.name}: srcu_read_unlock without lock (idx {idx})")
        self.readers[idx] -= 1
        if self.readers[idx] == 0:
            self._wq.wake_all()

    @property
    def nr_readers(self) -> int:
        """Readers currently inside a read-side section (both epochs)."""
        return self.readers[0] + self.readers[1]

    def synchronize_srcu(self) -> None:
        """Wait for a grace period: every pre-existing reader has left (blocks the process)."""
        start = self.sim.now
        # srcu_gp: first drain the inactive epoch (readers from before an earlier flip),
        # then flip and drain the epoch that was current; later readers use the new one.
        stale = self.idx ^ 1
        self._drain(stale)
        old = self.idx
        self.idx ^= 1
        self._drain(old)
        self.grace_periods += 1
        self.gp_wait_ps += self.sim.now - start

    def _drain(self, idx: int) -> None:
        if self.readers[idx]:
            self.sim.require_process()
            self._wq.wait_event(lambda: self.readers[idx] == 0)

    def call_srcu(self, func: Callable[[], None]) -> None:
        """Queue ``func`` to run after a grace period (run by ``srcu_barrier`` here)."""
        self._callbacks.append(func)

    def srcu_barrier(self) -> None:
        """Wait until every callback queued by ``call_srcu`` has run."""
        if not self._callbacks:
            return
        self.synchronize_srcu()
        cbs, self._callbacks = self._callbacks, []
        for cb in cbs:
            cb()
