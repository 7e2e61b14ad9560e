"""``dcbm-emu demo``: CPU copies of remote pages to the local node, timed by the platform."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from emulator.event_kernel import NS
from emulator.platform import Platform


def cmd_demo(args: argparse.Namespace) -> int:
    """Time CPU copies node 1 -> node 0 of 4 KiB, 64 KiB and 2 MiB on the platform alone."""
    console = Console()
    plat = Platform(args.platform, seed=args.seed)
    table = Table(title=f"CPU copy node1 -> node0 on {plat.preset.name} (simulated time)")
    for col in ("bytes", "time (ns)", "CPU cycles", "GB/s"):
        table.add_column(col, justify="right")
    for size in (4096, 64 << 10, 2 << 20):
        order = max(0, (size // 4096).bit_length() - 1)
        src = plat.alloc_pages(1, order)
        dst = plat.alloc_pages(0, order)

        def job(src: int = src, dst: int = dst, size: int = size) -> int:
            t0 = plat.sim.now
            plat.cpu.copy(dst, src, size)
            return plat.sim.now - t0

        ps = plat.call(job)
        table.add_row(
            f"{size}", f"{ps / NS:.1f}", f"{plat.cpu_cycles(ps):.0f}", f"{size * 1000 / ps:.2f}"
        )
    console.print(table)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help=cmd_demo.__doc__, description=cmd_demo.__doc__)
    p.add_argument("--platform", default="zen3-epyc-2s", help="platform preset")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)
