"""pytest plugin: print the scoreboard and coverage summaries of this session's cocotb runs.

Loaded by ``tests/cocotb/conftest.py`` when pytest starts in ``tests/cocotb``; from the
repository root (``make test``, xdist controller) the root conftest must list it in
``pytest_plugins`` for the summary to appear.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .simrun import BUILD_ROOT

_SESSION_START = time.time()
_printed: list[bool] = []  # registered from conftest and as a plugin: print once


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Per-run scoreboard lines, then the coverage merged over every pyuvm run."""
    if _printed:
        return
    _printed.append(True)
    files = sorted(
        p for p in BUILD_ROOT.glob("*/coverage.txt") if p.stat().st_mtime >= _SESSION_START
    )
    if not files:
        return
    from .tb.uvm_env import format_coverage

    tr = terminalreporter
    tr.section("PTDMA twin: pyuvm scoreboard and functional coverage")
    merged: dict[str, dict[str, int]] = {}
    for p in files:
        tr.write_line(f"[{p.parent.name}] {p.read_text().splitlines()[0]}")
        j = p.with_suffix(".json")
        if j.exists():
            for name, hits in json.loads(j.read_text()).items():
                acc = merged.setdefault(name, {})
                for k, v in hits.items():
                    acc[k] = acc.get(k, 0) + v
    tr.write_line(f"functional coverage merged over {len(files)} run(s):")
    for ln in format_coverage(merged):
        tr.write_line("  " + ln)
