"""Discrete-event kernel: integer-picosecond time, an event heap, and greenlet processes.

Ordering is (time, priority, sequence): equal times run by priority (lower first), then in
the order they were scheduled, so a run is fully deterministic for a given seed. Software
(driver and kernel ports) runs as *processes*: plain synchronous Python functions executed
in greenlets that block in simulated time (``sleep``, wait queues), the way a kernel thread
blocks in ``schedule()``. Idle components cost nothing: only scheduled events are visited.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

import numpy as np
from greenlet import GreenletExit, greenlet

from .errors import SimulationError

_heappush = heapq.heappush
_heappop = heapq.heappop
_heapreplace = heapq.heapreplace
# A heap entry: (time, priority, seq, Event or None, callback, args).
_Entry = tuple[int, int, int, "Event | None", Callable[..., Any], tuple[Any, ...]]

# Time units, in picoseconds.
PS = 1
NS = 1_000
US = 1_000_000
MS = 1_000_000_000
S = 1_000_000_000_000


class Event:
    """One scheduled callback; ``cancel()`` leaves it in the heap but makes it a no-op.

    The handle does not keep the callback's arguments (the heap entry does, until the event
    runs): callers keep their handle in the very object they pass (a DMA job's ``event``),
    and a handle holding its arguments would make that a reference cycle, left per
    descriptor for the cyclic collector.
    """

    __slots__ = ("callback", "cancelled", "priority", "seq", "time")

    def __init__(self, time: int, priority: int, seq: int, callback: Callable[..., Any]) -> None:
        self.time = time
        self.priority = priority
        self.seq = seq
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Event) -> bool:
        return (self.time, self.priority, self.seq) < (other.time, other.priority, other.seq)

    def __repr__(self) -> str:
        name = getattr(self.callback, "__qualname__", repr(self.callback))
        return f"Event(t={self.time}ps, prio={self.priority}, seq={self.seq}, {name})"


class Process:
    """A piece of software running in simulated time (a kernel thread, an IRQ handler, a task).

    ``core`` names the CPU core whose cycles the process charges (see ``emulator.cpu``).
    """

    def __init__(
        self, sim: Simulator, fn: Callable[..., Any], args: tuple[Any, ...], name: str, core: int
    ) -> None:
        self.sim = sim
        self.fn = fn
        self.args = args
        self.name = name
        self.core = core
        self.glet: greenlet | None = None
        self.started = False
        self.finished = False
        self.result: Any = None
        self.exception: BaseException | None = None
        self._joiners: list[Waiter] = []
        self.data: dict[str, Any] = {}  # per-process software state (e.g. "in_irq")

    def _body(self, _start_value: Any = None) -> None:
        try:
            self.result = self.fn(*self.args)
        except BaseException as exc:  # reported by the scheduler or by join()
            self.exception = exc
        finally:
            self.finished = True
            if self._joiners:  # a joiner will see (and re-raise) the exception
                self.sim._reported.add(id(self))
            for w in self._joiners:
                w.fire(True)
            self._joiners.clear()

    @property
    def alive(self) -> bool:
        return not self.finished

    def join(self, timeout: int | None = None) -> bool:
        """Block the calling process until this one ends; re-raise its exception."""
        if not self.finished:
            w = self.sim.waiter()
            self._joiners.append(w)
            if not w.wait(timeout):
                self._joiners.remove(w)
                return False
        if self.exception is not None:
            self.sim._reported.add(id(self))
            raise self.exception
        return True

    def __repr__(self) -> str:
        state = "done" if self.finished else ("running" if self.started else "new")
        return f"Process({self.name!r}, core={self.core}, {state})"


def _worker_main() -> None:
    """Body of a pooled greenlet: runs one process after another.

    A greenlet costs the host a data-stack allocation and release (mmap, munmap) per
    lifetime, about 7 us here, and every MSI delivery is a new process: the ended
    processes' greenlets are kept (``Simulator._pool``) and given the next new process.
    While it waits the greenlet holds nothing (no process, no simulator; it was started
    without arguments, which its C stack would keep), so a waiting worker keeps no machine
    alive: it goes with the simulator that owns the pool (killed by GreenletExit when its
    last reference is dropped).
    """
    while True:
        # To the scheduler (the parent): at the start, or with a process ended; resumed
        # with the next (process, value).
        proc, value = greenlet.getcurrent().parent.switch()
        proc._body(value)
        exc = proc.exception
        proc = value = None
        if isinstance(exc, GreenletExit):
            raise exc  # killed while running a process (its simulator was dropped)
        exc = None


class Simulator:
    """The event kernel. ``now`` is the simulated time in picoseconds."""

    def __init__(self, seed: int = 0) -> None:
        self.now: int = 0
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        # Entries (time, priority, seq, event or None, callback, args): C-level tuple
        # comparisons, and seq is unique, so the order is exactly Event.__lt__'s. Internal
        # wake-ups that can never be cancelled carry no Event object (``_post``).
        self._heap: list[_Entry] = []
        self._seq = 0
        self._until: int | None = None
        self._main: greenlet | None = None
        self._current: Process | None = None
        self._reported: set[int] = set()
        self.events_processed = 0
        self.fast_forwards = 0
        # The bound ``_resume`` every internal wake-up posts: a process giving up the CPU
        # recognises the next event as a process resume by identity (see ``_switch_out``).
        self._wake = self._resume
        self._direct = False  # direct hand-offs allowed (inside run(), no per-event checks)
        self._handoffs = 0  # events run by hand-offs rather than by the loop
        self._pool: list[greenlet] = []  # greenlets of ended processes (``_worker_main``)

    # ----------------------------------------------------------------- scheduling
    def schedule(
        self, delay: int, callback: Callable[..., Any], *args: Any, priority: int = 0
    ) -> Event:
        """Run ``callback(*args)`` ``delay`` picoseconds from now."""
        if delay < 0:
            raise SimulationError(f"negative delay {delay}")
        return self.schedule_at(self.now + int(delay), callback, *args, priority=priority)

    def schedule_at(
        self, time: int, callback: Callable[..., Any], *args: Any, priority: int = 0
    ) -> Event:
        """Run ``callback(*args)`` at absolute time ``time`` (never in the past)."""
        if time < self.now:
            raise SimulationError(f"cannot schedule at {time} ps, now is {self.now} ps")
        self._seq = seq = self._seq + 1
        t = int(time)
        ev = Event(t, priority, seq, callback)
        _heappush(self._heap, (t, priority, seq, ev, callback, args))
        return ev

    def _post(
        self, time: int, callback: Callable[..., Any], args: tuple[Any, ...], priority: int = 0
    ) -> None:
        """``schedule_at`` for the kernel's own wake-ups, which are never cancelled: the same
        place in the order (one sequence number), no ``Event`` handle."""
        self._seq = seq = self._seq + 1
        _heappush(self._heap, (time, priority, seq, None, callback, args))

    @staticmethod
    def cancel(event: Event) -> None:
        event.cancel()

    def peek(self) -> int | None:
        """Time of the next live event, or None when idle."""
        heap = self._heap
        while heap:
            ev = heap[0][3]
            if ev is None or not ev.cancelled:
                return heap[0][0]
            _heappop(heap)
        return None

    @property
    def idle(self) -> bool:
        return self.peek() is None

    # ----------------------------------------------------------------- running
    def step(self) -> bool:
        """Run the next live event; False when there is none."""
        heap = self._heap
        while heap:
            t, _, _, ev, callback, args = _heappop(heap)
            if ev is not None and ev.cancelled:
                continue
            self.now = t
            self.events_processed += 1
            callback(*args)
            return True
        return False

    def run(
        self,
        until: int | None = None,
        *,
        condition: Callable[[], bool] | None = None,
        max_events: int | None = None,
        until_finished: Process | None = None,
    ) -> int:
        """Run events until idle, until time ``until`` (inclusive), or until ``condition()``.

        Returns the number of events processed. With ``until`` the clock ends exactly at
        ``until`` even if the heap empties earlier, like gem5's ``simulate(ticks)``.
        ``until_finished=proc`` is ``condition=lambda: proc.finished`` without a call per
        event.
        """
        if until_finished is not None:
            if condition is not None:
                raise SimulationError("pass condition or until_finished, not both")
            return self._run(until, None, max_events, until_finished)
        return self._run(until, condition, max_events, None)

    def _run(
        self,
        until: int | None,
        condition: Callable[[], bool] | None,
        max_events: int | None,
        proc: Process | None,
    ) -> int:
        if self._current is not None:
            raise SimulationError("Simulator.run() called from inside a process")
        self._main = greenlet.getcurrent()
        self._until = until
        n = 0
        heap = self._heap
        pop = _heappop
        # Processes may hand the CPU straight to the next process (``_switch_out``) unless
        # the loop must look between events (a condition, an event budget).
        self._direct = condition is None and max_events is None
        h0 = self._handoffs
        try:
            # peek() + step() inlined: this loop runs once per event of every simulation.
            while True:
                if condition is not None and condition():
                    break
                if proc is not None and proc.finished:
                    break
                if max_events is not None and n >= max_events:
                    break
                while heap:
                    ev = heap[0][3]
                    if ev is None or not ev.cancelled:
                        break
                    pop(heap)
                else:
                    break
                if until is not None and heap[0][0] > until:
                    break
                t, _, _, _, callback, args = pop(heap)
                self.now = t
                self.events_processed += 1
                callback(*args)
                n += 1
            if (
                until is not None
                and self.now < until
                and (condition is None or not condition())
                and (proc is None or not proc.finished)
            ):
                self.now = until
        finally:
            self._until = None
            self._direct = False
        return n + self._handoffs - h0

    def run_until_idle(self) -> int:
        return self.run()

    def run_until(self, condition: Callable[[], bool], timeout: int | None = None) -> bool:
        """Run until ``condition()`` holds; False if the heap drains or ``timeout`` passes."""
        limit = None if timeout is None else self.now + timeout
        self.run(until=limit, condition=condition)
        return condition()

    # ----------------------------------------------------------------- processes
    def spawn(
        self,
        fn: Callable[..., Any],
        *args: Any,
        name: str | None = None,
        core: int = 0,
        delay: int = 0,
        priority: int = 0,
    ) -> Process:
        """Create a process that starts ``delay`` ps from now on CPU ``core``."""
        if delay < 0:
            raise SimulationError(f"negative delay {delay}")
        label = name or str(getattr(fn, "__name__", "process"))
        proc = Process(self, fn, args, label, core)
        self._post(self.now + int(delay), self._wake, (proc, None), priority)
        return proc

    @property
    def current(self) -> Process | None:
        """The process running now, or None when called from an event callback."""
        return self._current

    def require_process(self) -> Process:
        if self._current is None:
            raise SimulationError("this call blocks in simulated time: run it inside sim.spawn()")
        return self._current

    def _resume(self, proc: Process, value: Any) -> None:
        if proc.finished:
            return
        glet = proc.glet
        prev = self._current
        self._current = proc
        try:
            if glet is None:  # a first start: on a pooled greenlet, or a new one
                cur = greenlet.getcurrent()
                if not self._pool:
                    worker = greenlet(_worker_main)  # parent = the scheduler greenlet
                    worker.switch()  # runs to its first wait
                    self._pool.append(worker)
                self._start_pooled(proc, cur).switch(proc, value)  # the wait returns these
            else:
                glet.switch(value)
        finally:
            # The process that gave control back: ``proc``, or the last of the processes it
            # handed the CPU to (``_switch_out``), whichever switched out or ended.
            # ``self.current``, not ``self._current``: mypy narrowed the attribute to ``proc``
            # above, and mypyc would check that type (it may be None by now).
            back = self.current
            self._current = prev
        if back is None:
            return
        if back.finished:
            g = back.glet
            back.glet = None  # the greenlet and the Process no longer form a cycle
            if g is not None and not g.dead:
                self._pool.append(g)  # waiting in _worker_main for the next process
        # An unhandled exception in a process is a bug: stop the run loudly (a joined
        # process re-raises in its joiner instead, see Process._body).
        if back.finished and back.exception is not None and id(back) not in self._reported:
            self._reported.add(id(back))
            raise back.exception

    def _switch_out(self, own: _Entry | None = None) -> Any:
        """Give control back to the scheduler; returns the value passed to ``_resume``.

        Direct hand-off: when the scheduler's next event would resume a process, this
        process runs that event itself (the loop's bookkeeping, then one greenlet switch
        straight to that process) instead of switching to the scheduler, which would switch
        again. A device/timer callback that comes next is run here too, with ``current``
        None as in the loop (an exception it raises is thrown into the loop, out of
        ``run``). The events, their order and their times are the loop's; a bound of
        ``run`` or an empty heap goes back to the loop.
        ``own``: this process's wake-up, not yet on the heap (``sleep``); it goes in as the
        next event comes out (one ``heapreplace``), or is that next event itself.
        """
        main = self._main
        assert main is not None
        heap = self._heap
        if not self._direct:
            if own is not None:
                _heappush(heap, own)
            return main.switch()
        wake = self._wake
        until = self._until
        while True:
            while heap:  # the loop's skip over cancelled events
                entry = heap[0]
                ev = entry[3]
                if ev is None or not ev.cancelled:
                    break
                _heappop(heap)
            else:
                if own is not None:
                    _heappush(heap, own)
                return main.switch()
            # (time, priority, seq): seqs never tie. A flag, not ``entry is own`` below: mypyc
            # keeps fixed-length tuples unboxed, so a tuple's identity does not survive.
            mine = False
            if own is not None and own < entry:
                entry = own
                mine = True
            if until is not None and entry[0] > until:
                if own is not None:
                    _heappush(heap, own)
                return main.switch()
            if entry[4] is wake and entry[5][0].glet is None and not self._pool:
                # A process's first start goes through the loop unless a pooled greenlet
                # (started by the loop) can take it: a greenlet started here would run on
                # top of this process's stack (greenlet carries the recursion depth over),
                # and a chain of such starts (one MSI handler process per delivery) ends in
                # RecursionError.
                if own is not None:
                    _heappush(heap, own)
                return main.switch()
            if entry[4] is not wake:
                # A device/timer callback: this process runs it as the loop would (same
                # event, order, time, ``current`` None), without switching to the loop and
                # back. Its wake-up goes in as the callback comes out (one heapreplace).
                if own is None:
                    _heappop(heap)
                else:
                    _heapreplace(heap, own)
                    own = None
                self.now = entry[0]
                self.events_processed += 1
                self._handoffs += 1
                me = self._current
                self._current = None
                try:
                    entry[4](*entry[5])
                except BaseException as exc:  # the loop's error, raised by run() as before
                    return main.throw(exc)  # resumed (by its wake-up) like main.switch()
                finally:
                    self._current = me
                continue
            if own is None:
                _heappop(heap)
            elif mine:
                own = None  # the next event is this process's own wake-up: never posted
            else:
                _heapreplace(heap, own)  # = heappop (entry) then heappush (own)
                own = None
            self.now = entry[0]
            self.events_processed += 1
            self._handoffs += 1
            proc, value = entry[5]
            if proc.finished:
                continue  # _resume of an ended process: a no-op event
            if proc is self._current:
                return value  # this process's own wake-up: nothing to switch
            glet = proc.glet
            self._current = proc
            if glet is None:  # a first start, on a pooled greenlet (see above)
                # back here when this process is resumed
                return self._start_pooled(proc, main).switch(proc, value)
            return glet.switch(value)  # back here when this process is resumed

    def _start_pooled(self, proc: Process, scheduler: greenlet) -> greenlet:
        """A pooled greenlet (``_worker_main``, waiting) for ``proc``'s first start; the
        process ends in ``scheduler``, the greenlet running the loop."""
        glet = self._pool.pop()
        if glet.parent is not scheduler:
            glet.parent = scheduler
        proc.glet = glet
        proc.started = True
        return glet

    def _can_fast_forward(self, target: int) -> bool:
        """True when no event (or bound) lies at or before ``target``: time can just jump."""
        if self._until is not None and target > self._until:
            return False
        t = self.peek()
        return t is None or t > target

    def sleep(self, delay: int) -> None:
        """Block the current process for ``delay`` ps.

        Fast path: when nothing else is scheduled up to the wake-up time, the clock simply
        jumps; this is exactly what the scheduler would do, without the context switch.
        """
        if delay < 0:
            raise SimulationError(f"negative sleep {delay}")
        proc = self._current
        if proc is None:
            self.require_process()
        target = self.now + int(delay)
        # _can_fast_forward(target), inlined (the hot path of every charged CPU cost).
        until = self._until
        if until is None or target <= until:
            heap = self._heap
            # Nothing live due by ``target``: the clock jumps. A cancelled event due first
            # is dropped on the way (the loop would skip it); one due later is left.
            while heap and heap[0][0] <= target:
                ev = heap[0][3]
                if ev is None or not ev.cancelled:
                    break  # a live event is due first: this process cannot jump
                _heappop(heap)
            else:
                self.now = target
                self.fast_forwards += 1
                return
            # The commonest wait that cannot jump (16 MSI handlers overlapping in simulated
            # time): the next event is another started process's wake-up, strictly earlier.
            # _switch_out's last step for just that case: its checks (no bound, not a
            # first start, not a callback) hold, this wake-up goes in as that one comes out.
            entry = heap[0]
            if entry[4] is self._wake and entry[0] < target and self._direct:
                nxt, value = entry[5]
                glet = nxt.glet
                if glet is not None and not nxt.finished and nxt is not proc:
                    self._seq = seq = self._seq + 1
                    own: _Entry = (target, 0, seq, None, self._wake, (proc, None))
                    _heapreplace(heap, own)
                    self.now = entry[0]
                    self.events_processed += 1
                    self._handoffs += 1
                    self._current = nxt
                    glet.switch(value)  # back here when this process is resumed
                    return
        # self._post(target, self._resume, (proc, None)); self._switch_out(), inlined.
        self._seq = seq = self._seq + 1
        self._switch_out((target, 0, seq, None, self._wake, (proc, None)))

    def sleep_until(self, time: int) -> None:
        self.sleep(max(0, int(time) - self.now))

    def yield_now(self) -> None:
        """Let every other event scheduled for this instant run first (cond_resched())."""
        proc = self.require_process()
        self._post(self.now, self._wake, (proc, None), 1)
        self._switch_out()

    def waiter(self) -> Waiter:
        """A one-shot wake-up token for the current process (see ``Waiter``)."""
        return Waiter(self, self.require_process())


class Waiter:
    """One blocking wait of one process: fired at most once, by a waker or by its timeout.

    Wait queues hold waiters, not processes, so a late wake-up can never resume a process
    that has meanwhile moved on to another wait.
    """

    __slots__ = ("fired", "proc", "sim", "value")

    def __init__(self, sim: Simulator, proc: Process) -> None:
        self.sim = sim
        self.proc = proc
        self.fired = False
        self.value: Any = None

    def fire(self, value: Any = True) -> bool:
        """Wake the waiting process (at the current time); False if already fired."""
        if self.fired:
            return False
        self.fired = True
        self.value = value
        sim = self.sim
        sim._post(sim.now, sim._wake, (self.proc, value))
        return True

    def wait(self, timeout: int | None = None) -> bool:
        """Block until fired (True) or until ``timeout`` ps pass (False)."""
        sim = self.sim
        if sim.current is not self.proc:
            raise SimulationError("a Waiter can only be waited on by the process that made it")
        timer: Event | None = None
        if not self.fired and timeout is not None:
            timer = sim.schedule(max(0, int(timeout)), self._expire)
        sim._switch_out()  # resumed exactly once, by fire() (a waker or the timeout)
        if timer is not None:
            timer.cancel()
        return self.value is not _TIMEOUT

    def _expire(self) -> None:
        self.fire(_TIMEOUT)


_TIMEOUT = object()
