"""``dcbm-emu sweep``: the later series' benchmark over folio size, migrator and count.

move_pages() of ``--total`` bytes from node 1 to node 0, all folios of one size, on the
kernel of RFC v3's runs (6.16): the vanilla baseline (per-folio move, NR_MAX_BATCHED_MIGRATION
512, single thread), mtcopy with T threads, and DCBM with N channels (v3 by default), with
the batch limit raised so one batch holds the whole request (as the series did: 8/9
"adjust NR_MAX_BATCHED_MIGRATION for testing"). Throughput is bytes over the simulated time
of the move_pages() call, in GB/s (10^9 B/s), mean ± SD over seeded runs.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from drivers.mm.mtcopy import MtCopy
from emulator.frame_allocator import PAGE_SIZE

from .reference import V3_POINTS
from .stack import build_machine, move_pages_to, populate_workload
from .stats import Summary, summarize
from .ui import progress_bar, wide_console

PLATFORM = "zen3-epyc-2s"
KERNEL_RELEASE = "6.16"  # RFC v3's runs (calibration.md §4)
SRC_NODE, DST_NODE = 1, 0
FOLIO_SIZES = ("4K", "16K", "64K", "128K", "256K", "512K", "1M", "2M")
MIGRATORS = ("baseline", "mtcopy", "dcbm")
COUNTS = (1, 2, 4, 8, 12, 16)
BASELINE_BATCH_LIMIT = 512  # vanilla NR_MAX_BATCHED_MIGRATION
# The IOMMU mode of the DMA runs: translated, so dma_map_sgtable() merges page-sized entries
# into 64 KiB segments; the only mode consistent with v3's one-channel 4 KiB point
# (calibration.md §5). Reported with every run.
DCBM_IOMMU = "translated"
UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str) -> int:
    """'4K', '2M', '1G', '512' -> bytes."""
    t = text.strip().upper().rstrip("B")
    if t and t[-1] in UNITS:
        return int(float(t[:-1]) * UNITS[t[-1]])
    return int(t)


def order_of(folio_bytes: int) -> int:
    pages = folio_bytes // PAGE_SIZE
    if pages < 1 or pages & (pages - 1) or pages > 512:
        raise ValueError(f"folio size {folio_bytes} is not a power-of-two 4K..2M")
    return pages.bit_length() - 1


@dataclass
class SweepPoint:
    folio_size: str
    migrator: str
    count: int
    seed: int
    gbps: float
    simulated_ps: int


def run_point(
    folio_size: str,
    migrator: str,
    count: int,
    seed: int,
    total: int,
    *,
    dcbm_version: str = "v3",
    batch_limit: int | None = None,
    jitter: bool = True,
) -> SweepPoint:
    """One move_pages() of ``total`` bytes in folios of ``folio_size``; GB/s of simulated time."""
    order = order_of(parse_size(folio_size))
    limit = batch_limit if batch_limit is not None else max(1, total // PAGE_SIZE)
    if migrator == "baseline":
        m = build_machine(
            preset=PLATFORM,
            seed=seed,
            jitter=jitter,
            flavour="generic",
            nr_max_batched_migration=BASELINE_BATCH_LIMIT,
            kernel_release=KERNEL_RELEASE,
        )
    elif migrator == "mtcopy":
        m = build_machine(
            preset=PLATFORM,
            seed=seed,
            jitter=jitter,
            flavour="v3",
            nr_max_batched_migration=limit,
            kernel_release=KERNEL_RELEASE,
        )
        mt = m.kernel.subsystem(MtCopy)
        mt.interface = "offc"
        mt.cpuselect = "spread"  # v3 9/9 cpuselect list 0: one CPU per CCD
        if mt.set_threads(count) != 0 or mt.set_offloading(True) != 0:
            raise RuntimeError(f"mtcopy with {count} threads could not be enabled")
    elif migrator == "dcbm":
        flavour = {"v1": "seed", "v3": "v3", "latest": "latest"}[dcbm_version]
        m = build_machine(
            preset=PLATFORM,
            seed=seed,
            jitter=jitter,
            flavour=flavour,
            nr_max_batched_migration=limit,
            kernel_release=KERNEL_RELEASE,
            n_engines=16,
            iommu=DCBM_IOMMU,
        )
        if m.call(m.dcbm.enable, dcbm_version, count) != 0:
            raise RuntimeError(f"DCBM {dcbm_version} with {count} channels could not be enabled")
    else:
        raise ValueError(f"unknown migrator {migrator!r}; one of {MIGRATORS}")
    w = populate_workload(m, total, SRC_NODE, order=order, seed=seed)
    t0 = m.platform.sim.now
    rc, status = move_pages_to(m, w, DST_NODE)
    elapsed = m.platform.sim.now - t0
    if rc != 0 or any(s != DST_NODE for s in status):
        raise RuntimeError(f"{migrator} {folio_size}: move_pages returned {rc}")
    return SweepPoint(folio_size, migrator, count, seed, total * 1000 / elapsed, elapsed)


@dataclass
class SweepRow:
    folio_size: str
    migrator: str
    count: int
    gbps: Summary


def scenarios(
    folio_sizes: Sequence[str], migrators: Sequence[str], counts: Sequence[int]
) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    for fs in folio_sizes:
        for mig in migrators:
            for c in (1,) if mig == "baseline" else counts:
                out.append((fs, mig, c))
    return out


def _run_point_task(task: tuple[str, str, int, int, int, str, int | None]) -> SweepPoint:
    """One point in a worker process; the previous point's machine is collected first (its
    RAM is only reachable through reference cycles), so a worker holds one machine at a time."""
    gc.collect()
    fs, mig, c, seed, total, dcbm_version, batch_limit = task
    return run_point(fs, mig, c, seed, total, dcbm_version=dcbm_version, batch_limit=batch_limit)


def run_sweep(
    folio_sizes: Sequence[str],
    migrators: Sequence[str],
    counts: Sequence[int],
    runs: int,
    seed: int,
    total: int,
    dcbm_version: str = "v3",
    batch_limit: int | None = None,
    progress: Callable[[str], None] | None = None,
    jobs: int = 1,
) -> list[SweepRow]:
    """Every point, ``runs`` seeded runs each; with ``jobs`` > 1 the runs are spread over that
    many worker processes (each run depends only on its seed: the same rows either way)."""
    points = scenarios(folio_sizes, migrators, counts)
    tasks = [(fs, mig, c, seed + i, total, dcbm_version, batch_limit)
             for fs, mig, c in points for i in range(runs)]
    gbps: dict[int, float] = {}
    if jobs <= 1:
        for k, task in enumerate(tasks):
            gbps[k] = _run_point_task(task).gbps
            if progress is not None:
                progress(f"{task[0]} {task[1]} x{task[2]} run {k % runs + 1}/{runs}")
    else:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = {pool.submit(_run_point_task, task): k for k, task in enumerate(tasks)}
            for fut in as_completed(futures):
                k = futures[fut]
                gbps[k] = fut.result().gbps
                if progress is not None:
                    task = tasks[k]
                    progress(f"{task[0]} {task[1]} x{task[2]} run {k % runs + 1}/{runs}")
    rows: list[SweepRow] = []
    for j, (fs, mig, c) in enumerate(points):
        rows.append(SweepRow(fs, mig, c, summarize([gbps[j * runs + i] for i in range(runs)])))
    return rows


def to_json(rows: Sequence[SweepRow], total: int) -> dict[str, Any]:
    return {
        "platform": PLATFORM,
        "total_bytes": total,
        "rows": [
            {
                "folio_size": r.folio_size,
                "migrator": r.migrator,
                "count": r.count,
                "gbps": r.gbps.as_dict(),
            }
            for r in rows
        ],
    }


def print_table(
    console: Console, rows: Sequence[SweepRow], counts: Sequence[int], total: int, dcbm_version: str
) -> None:
    migs = []
    for r in rows:
        if (r.migrator, r.count) not in migs:
            migs.append((r.migrator, r.count))
    table = Table(
        title=f"move_pages() throughput, GB/s of simulated time ({total / 2**30:g} GiB, "
        f"node1 -> node0, {PLATFORM}, kernel {KERNEL_RELEASE}, DCBM {dcbm_version}, "
        f"IOMMU {DCBM_IOMMU})"
    )
    table.add_column("folio", justify="right")
    for mig, c in migs:
        table.add_column("baseline" if mig == "baseline" else f"{mig} x{c}", justify="right")
    for fs in dict.fromkeys(r.folio_size for r in rows):
        cells = []
        for mig, c in migs:
            cell = next(
                (x for x in rows if x.folio_size == fs and x.migrator == mig and x.count == c), None
            )
            cells.append(cell.gbps.fmt(2) if cell else "")
        table.add_row(fs, *cells)
    console.print(table)
    refs = []
    for p in V3_POINTS:
        ref_row = next(
            (
                x
                for x in rows
                if x.folio_size == p.folio_size and x.migrator == p.migrator and x.count == 1
            ),
            None,
        )
        if ref_row is not None:
            g = ref_row.gbps.mean
            refs.append(
                f"{p.migrator} {p.folio_size}: model {g:.2f} vs RFC v3 "
                f"{p.gbps.mean:.2f}±{p.gbps.sd:.2f} (ratio {g / p.gbps.mean:.3f})"
            )
    if refs:
        console.print("Published single-thread / single-channel points: " + "; ".join(refs))


def write_csv(path: Path, rows: Sequence[SweepRow]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["folio_size", "migrator", "count", "gbps_mean", "gbps_sd"])
        for r in rows:
            w.writerow([r.folio_size, r.migrator, r.count, r.gbps.mean, r.gbps.sd])


def write_plot(path: Path, rows: Sequence[SweepRow]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(dict.fromkeys(r.folio_size for r in rows))
    migs = [m for m in MIGRATORS if any(r.migrator == m for r in rows)]
    fig, axes = plt.subplots(1, len(migs), figsize=(5 * len(migs), 4.2), sharey=True, squeeze=False)
    for ax, mig in zip(axes[0], migs, strict=True):
        counts = sorted({r.count for r in rows if r.migrator == mig})
        for c in counts:
            pts = [
                (sizes.index(r.folio_size), r.gbps)
                for r in rows
                if r.migrator == mig and r.count == c
            ]
            ax.errorbar(
                [x for x, _ in pts],
                [g.mean for _, g in pts],
                yerr=[g.sd for _, g in pts],
                marker="o",
                capsize=3,
                label="1 thread" if mig == "baseline" else f"{c}",
            )
        ax.set_xticks(range(len(sizes)), sizes)
        ax.set_title(mig)
        ax.set_xlabel("folio size")
        ax.legend(fontsize=7, title="threads" if mig == "mtcopy" else "channels")
    axes[0][0].set_ylabel("GB/s (simulated)")
    fig.suptitle("dcbm-emu sweep: move_pages() throughput")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Sweep move_pages() of --total bytes (node 1 -> node 0) over folio sizes, migrators
    (baseline, mtcopy, dcbm) and thread/channel counts; prints GB/s of simulated time."""
    console = wide_console(200)
    total = parse_size(args.total)
    folio_sizes = [s.strip() for s in args.folio_sizes.split(",")]
    migrators = [s.strip() for s in args.migrators.split(",")]
    counts = [int(c) for c in args.counts.split(",")]
    for fs in folio_sizes:
        order_of(parse_size(fs))
    for mig in migrators:
        if mig not in MIGRATORS:
            console.print(f"[red]unknown migrator {mig!r}; one of {', '.join(MIGRATORS)}[/red]")
            return 2
    if any(not 1 <= c <= 16 for c in counts):
        console.print("[red]counts must be 1..16[/red]")
        return 2
    n = len(scenarios(folio_sizes, migrators, counts)) * args.runs
    with progress_bar(console) as bar:
        task = bar.add_task("sweep", total=n)
        rows = run_sweep(
            folio_sizes,
            migrators,
            counts,
            args.runs,
            args.seed,
            total,
            args.dcbm_version,
            args.batch_limit,
            lambda what: bar.update(task, advance=1, description=what),
            jobs=max(1, args.jobs),
        )
    print_table(console, rows, counts, total, args.dcbm_version)
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(rows, total), indent=2))
        console.print(f"wrote {args.json}")
    if args.csv:
        write_csv(Path(args.csv), rows)
        console.print(f"wrote {args.csv}")
    if args.plot:
        write_plot(Path(args.plot), rows)
        console.print(f"wrote {args.plot}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sweep", help="throughput over folio size x migrator x count", description=cmd_sweep.__doc__
    )
    p.add_argument("--total", default="1G", help="bytes moved per run (default 1G)")
    p.add_argument("--folio-sizes", default=",".join(FOLIO_SIZES))
    p.add_argument("--migrators", default=",".join(MIGRATORS))
    p.add_argument(
        "--counts",
        default=",".join(map(str, COUNTS)),
        help="mtcopy threads / DCBM channels (1..16)",
    )
    p.add_argument("--runs", type=int, default=2, help="seeded runs per point (default 2)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dcbm-version", default="v3", choices=("v1", "v3", "latest"))
    p.add_argument(
        "--batch-limit",
        type=int,
        default=None,
        help="NR_MAX_BATCHED_MIGRATION for mtcopy/dcbm (default: the whole request)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes, one run each at a time (default: every CPU; results do not "
        "depend on it)",
    )
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--csv", metavar="PATH")
    p.add_argument("--plot", metavar="PATH", help="PNG")
    p.set_defaults(func=cmd_sweep)
