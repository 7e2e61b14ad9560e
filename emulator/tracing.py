"""Timeline traces in the Chrome trace-event JSON format (opened by ui.perfetto.dev).

A ``Tracer`` collects spans and instants on named tracks (a process/thread pair in the
trace: "CPU"/core 3, "DMA"/pt0, "MMIO", "IRQ"). Components call it through
``platform.tracer``, which is None unless tracing is on, so an untraced run pays one
attribute test per hook. Times are simulated picoseconds, written as microseconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .bus import MmioAccess

if TYPE_CHECKING:
    from .platform import Platform


@dataclass
class Tracer:
    """Collects trace events; ``write(path)`` saves them as Chrome trace JSON."""

    platform: Platform
    events: list[dict[str, Any]] = field(default_factory=list)
    mmio: bool = True
    _ids: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    _open: dict[tuple[str, str], list[tuple[str, int, dict[str, Any]]]] = field(
        default_factory=dict
    )
    _phases: dict[tuple[str, str], tuple[str, int, dict[str, Any]]] = field(default_factory=dict)

    def _track(self, group: str, track: str) -> tuple[int, int]:
        key = (group, track)
        ids = self._ids.get(key)
        if ids is None:
            pids = {g: p for (g, _), (p, _) in self._ids.items()}
            pid = pids.get(group, len(pids) + 1)
            tid = 1 + sum(1 for (g, _) in self._ids if g == group)
            ids = self._ids[key] = (pid, tid)
        return ids

    @property
    def now_us(self) -> float:
        return self.platform.sim.now / 1e6

    def complete(
        self, group: str, track: str, name: str, start_ps: int, end_ps: int, **args: Any
    ) -> None:
        """A span with known start and end (e.g. one DMA descriptor)."""
        pid, tid = self._track(group, track)
        self.events.append(
            {
                "ph": "X",
                "name": name,
                "pid": pid,
                "tid": tid,
                "ts": start_ps / 1e6,
                "dur": max(0, end_ps - start_ps) / 1e6,
                "args": args,
            }
        )

    def begin(self, group: str, track: str, name: str, **args: Any) -> None:
        self._open.setdefault((group, track), []).append((name, self.platform.sim.now, args))

    def end(self, group: str, track: str) -> None:
        stack = self._open.get((group, track))
        if not stack:
            raise RuntimeError(f"trace span end without begin on {group}/{track}")
        name, start, args = stack.pop()
        self.complete(group, track, name, start, self.platform.sim.now, **args)

    @contextmanager
    def span(self, group: str, track: str, name: str, **args: Any) -> Iterator[None]:
        self.begin(group, track, name, **args)
        try:
            yield
        finally:
            self.end(group, track)

    def phase(self, group: str, track: str, name: str | None, **args: Any) -> None:
        """End the track's current phase now and, unless ``name`` is None, start another."""
        key = (group, "phase:" + track)
        cur = self._phases.pop(key, None)
        now = self.platform.sim.now
        if cur is not None and now > cur[1]:
            self.complete(group, track, cur[0], cur[1], now, **cur[2])
        if name is not None:
            self._phases[key] = (name, now, args)

    def instant(self, group: str, track: str, name: str, **args: Any) -> None:
        pid, tid = self._track(group, track)
        self.events.append(
            {
                "ph": "i",
                "s": "t",
                "name": name,
                "pid": pid,
                "tid": tid,
                "ts": self.now_us,
                "args": args,
            }
        )

    def counter(self, group: str, name: str, **values: float) -> None:
        pid, _ = self._track(group, name)
        self.events.append({"ph": "C", "name": name, "pid": pid, "ts": self.now_us, "args": values})

    # ------------------------------------------------------------ platform hooks
    def _on_mmio(self, a: MmioAccess) -> None:
        if self.mmio:
            self.instant(
                "MMIO",
                a.region,
                f"{'rd' if a.kind == 'R' else 'wr'} {a.addr:#x}",
                value=f"{a.value:#x}",
                size=a.size,
            )

    def _on_irq(self, event: str, vector: int, time: int) -> None:
        self.instant("IRQ", f"vector {vector}", event)

    def attach(self) -> Tracer:
        """Subscribe to the platform's bus and interrupt controller; set platform.tracer."""
        self.platform.bus.observers.append(self._on_mmio)
        self.platform.irq.observers.append(self._on_irq)
        self.platform.tracer = self
        return self

    def to_json(self) -> dict[str, Any]:
        meta: list[dict[str, Any]] = []
        groups: dict[str, int] = {}
        for (group, track), (pid, tid) in self._ids.items():
            if group not in groups:
                groups[group] = pid
                meta.append(
                    {"ph": "M", "name": "process_name", "pid": pid, "args": {"name": group}}
                )
            meta.append(
                {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": track}}
            )
        return {
            "traceEvents": meta + self.events,
            "displayTimeUnit": "ns",
            "otherData": {
                "platform": self.platform.preset.name,
                "time_unit": "simulated microseconds",
            },
        }

    def write(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_json()))
        return p
