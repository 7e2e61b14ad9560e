"""Print the functional-coverage summaries the cocotb runs of this session wrote."""

from __future__ import annotations

import time
from typing import Any

from .simrun import BUILD_ROOT

_SESSION_START = time.time()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Coverage and scoreboard summary of every pyuvm run of this session."""
    files = sorted(
        p for p in BUILD_ROOT.glob("*/coverage.txt") if p.stat().st_mtime >= _SESSION_START
    )
    if not files:
        return
    tr = terminalreporter
    tr.section("PTDMA twin: scoreboard and functional coverage")
    for p in files:
        lines = p.read_text().splitlines()
        tr.write_line(f"[{p.parent.name}]")
        for ln in lines[:2]:
            tr.write_line("  " + ln)
        for ln in lines[2:]:
            if " : " in ln and "BIN" not in ln:
                tr.write_line("    " + ln.strip())
