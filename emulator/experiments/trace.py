"""``dcbm-emu trace``: one migration as a timeline that the Perfetto UI opens.

Writes Chrome trace-event JSON: the CPU's phases per core (move_pages() and the
migrate_pages() calls with their t1..t4, then unmap, TLB flush, copy and move phases), each
DMA engine's descriptors as spans, MMIO accesses and MSIs/interrupt handlers as instant
events, all on the simulated clock (shown as microseconds). Open it at ui.perfetto.dev.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from drivers.mm import trace as mm_trace
from drivers.mm.mtcopy import MtCopy
from emulator.tracing import Tracer

from .stack import Machine, build_machine, populate_workload
from .sweep import order_of, parse_size

SRC_NODE, DST_NODE = 1, 0


def build(args: argparse.Namespace) -> Machine:
    """The machine of the traced run, per --migrator."""
    if args.migrator == "cpu":
        return build_machine(
            seed=args.seed, flavour=args.flavour or "seed", kernel_release=args.kernel
        )
    if args.migrator == "mtcopy":
        m = build_machine(
            seed=args.seed,
            flavour=args.flavour or "v3",
            nr_max_batched_migration=args.batch_limit,
            kernel_release=args.kernel,
        )
        mt = m.kernel.subsystem(MtCopy)
        mt.set_threads(args.count)
        mt.cpuselect = "spread"
        mt.set_offloading(True)
        return m
    flavour = args.flavour or {"v1": "seed", "v3": "v3", "latest": "latest"}[args.dcbm_version]
    m = build_machine(
        seed=args.seed,
        flavour=flavour,
        n_engines=max(args.count, 1),
        iommu=args.iommu,
        nr_max_batched_migration=args.batch_limit,
        kernel_release=args.kernel,
    )
    if m.call(m.dcbm.enable, args.dcbm_version, args.count) != 0:
        raise RuntimeError("DCBM could not be enabled")
    return m


def cmd_trace(args: argparse.Namespace) -> int:
    """Trace one move_pages() (node 1 -> node 0) through the chosen migrator into a
    Perfetto-readable JSON timeline: CPU phases, DMA descriptors, MMIO, interrupts."""
    console = Console()
    total = parse_size(args.size)
    order = order_of(parse_size(args.folio_size))
    m = build(args)
    w = populate_workload(m, total, SRC_NODE, order=order, seed=args.seed)
    tracer = Tracer(m.platform, mmio=not args.no_mmio).attach()
    start = len(m.core.records)
    kernel = m.kernel
    pages = w.pages()
    status = [-999] * len(pages)

    def program() -> int:
        mm_trace.span_begin(kernel, "move_pages()", pages=len(pages))
        rc = m.syscalls.move_pages(w.task.pid, pages, [DST_NODE] * len(pages), status)
        mm_trace.span_end(kernel)
        return rc

    rc = m.call(program)
    m.platform.run()  # let trailing device activity (late completions) land
    for rec in m.core.records[start:]:
        tracer.complete(
            "CPU",
            "core 0 migrate_pages",
            "migrate_pages()",
            rec.t1,
            rec.t4,
            pages=rec.nr_pages,
            F=round(rec.F, 4),
            migrator=rec.migrator,
        )
        if rec.t2 is not None and rec.t3 is not None:
            tracer.complete(
                "CPU",
                "core 0 migrate_pages",
                "t2..t3 folio copy",
                rec.t2,
                rec.t3,
                copy_ps=rec.copy_ps,
            )
    out = tracer.write(args.out)
    n_desc = sum(1 for e in tracer.events if e.get("ph") == "X" and e["pid"] != 1)
    console.print(
        f"move_pages rc={rc}: {len(pages)} folios of {args.folio_size} via {args.migrator}"
        f"{' ' + args.dcbm_version if args.migrator == 'dcbm' else ''}; "
        f"{len(tracer.events)} trace events ({n_desc} spans off the first CPU track) "
        f"-> {out}  (open in https://ui.perfetto.dev)"
    )
    return 0 if rc == 0 else 1


def register(sub: Any) -> None:
    p = sub.add_parser(
        "trace",
        help="one migration as a Perfetto timeline (Chrome JSON)",
        description=cmd_trace.__doc__,
    )
    p.add_argument("--out", default="dcbm-trace.json", help="output JSON path")
    p.add_argument("--size", default="2M", help="bytes to move (default 2M)")
    p.add_argument("--folio-size", default="4K")
    p.add_argument("--migrator", default="dcbm", choices=("cpu", "mtcopy", "dcbm"))
    p.add_argument("--dcbm-version", default="v3", choices=("v1", "v3", "latest"))
    p.add_argument("--count", type=int, default=4, help="DCBM channels / mtcopy threads")
    p.add_argument("--iommu", default="translated", choices=("off", "passthrough", "translated"))
    p.add_argument("--flavour", default=None, help="mm core flavour (default per migrator)")
    p.add_argument("--kernel", default="6.16", choices=("6.8", "6.16"))
    p.add_argument("--batch-limit", type=int, default=262144)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-mmio", action="store_true", help="leave MMIO accesses out")
    p.set_defaults(func=cmd_trace)
