"""``dcbm-emu``: the command-line entry point (experiments, demos, benchmarks).

Each command lives in its own module under ``emulator.experiments`` and exposes
``register(subparsers)``, which adds its sub-parser with ``func`` set to its entry point.
Without a command, ``dcbm-emu`` runs ``reproduce``, the seed's experiment (``make run``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from emulator import accel

COMMAND_MODULES = ("reproduce", "sweep", "trace", "faults", "bench", "demo")
DEFAULT_COMMAND = "reproduce"

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dcbm-emu",
        description=(
            "Emulator of DMA-offloaded page migration: Linux migrate_pages() and the DCBM "
            "batch migrator on a register-level, cycle-approximate AMD PTDMA model. Every "
            "figure is simulated time from the event kernel. Without a command: reproduce."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"emulator.experiments.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"emulator.experiments.{name}":
                raise
            continue  # a command not built yet
        module.register(sub)
    accel.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in ("-h", "--help")):
        args_list = [DEFAULT_COMMAND, *args_list]
    args = parser.parse_args(args_list)
    func: Command | None = getattr(args, "func", None)
    note = accel.notice()
    if note is not None and args.command != "accel":
        print(note, file=sys.stderr)
    if func is None:
        parser.print_help()
        return 2
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
