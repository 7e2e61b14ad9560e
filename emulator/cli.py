"""``dcbm-emu``: the command-line entry point (experiments, demos, benchmarks)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table

from .event_kernel import NS
from .platform import Platform

Command = Callable[[argparse.Namespace], int]


def cmd_demo(args: argparse.Namespace) -> int:
    """Platform demonstration: CPU copies of remote pages to the local node, timed."""
    console = Console()
    plat = Platform(args.platform, seed=args.seed)
    sizes = [4096, 64 << 10, 2 << 20]
    table = Table(title=f"CPU copy node1 -> node0 on {plat.preset.name} (simulated time)")
    for col in ("bytes", "time (ns)", "CPU cycles", "GB/s"):
        table.add_column(col, justify="right")
    for size in sizes:
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
    console.print("[dim]Figures come from the event kernel's simulated clock.[/dim]")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dcbm-emu",
        description="Emulator of DMA-offloaded page migration (Linux DCBM on AMD PTDMA).",
    )
    parser.add_argument("--platform", default="zen3-epyc-2s", help="platform preset")
    parser.add_argument("--seed", type=int, default=0, help="seed for every random choice")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("demo", help=cmd_demo.__doc__)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = getattr(args, "func", cmd_demo)
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
