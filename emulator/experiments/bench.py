"""``dcbm-emu bench``: the emulator's speed and memory, measured against the host's limits.

The emulator moves real bytes, so its floor is the host's memory copy; users run 1 GiB
migrations and whole sweeps, which must take seconds. One run measures, each scenario in a
fresh subprocess (so no scenario's memory or warm caches pollute another's):

- the host's copy of the migration's bytes: between warm buffers, into fresh memory backed
  by huge pages (mmap + MADV_HUGEPAGE) and into fresh 4 KiB pages (``host_limits``);
- move_pages() of 1 GiB (node 1 -> node 0) on the CPU path and through DCBM v3 (4 KiB pages
  on 1 and 16 channels, 2 MiB folios on 16), with wall time, effective GB/s (bytes over
  wall seconds), 4 KiB pages per wall second and the peak RSS of the process;
- the event kernel's events per second, descriptors per second through the PTDMA model
  (fast mode, driven through its registers), and the RTL simulator's cycles per second
  (Icarus, Verilator when installed; ``bench_rtl``);
- the full default ``dcbm-emu sweep``: timed with ``--sweep``; otherwise estimated by a
  linear fit of the default sweep at two reduced ``--total`` sizes (``--quick``: roughly,
  from the scenario rates); the table says which.

Every figure is printed with its target and PASS/FAIL; ``--json PATH`` writes them all.
Wall-clock time is what this command measures: it is the one place in the project where
wall time, not simulated time, is the result.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emulator import accel

GIB = 1 << 30
MIB = 1 << 20
PAGE = 4096
# Targets (issue 9). Ratios are taken between figures of the same run.
TARGET_HUGE_RATIO = 3.0  # 2 MiB folios, DCBM v3 x16: wall <= 3 x host copy into fresh huge pages
TARGET_PAGES_PER_S = 100_000.0  # 4 KiB pages through the whole stack (move_pages, v3, x16)
TARGET_MEM_FACTOR = 3.0  # peak RSS <= bytes migrated x 3 + 300 MB
TARGET_MEM_EXTRA = 300e6
TARGET_SWEEP_S = 600.0  # the full default sweep, on 2 cores
SWEEP_CORES = 2
# Reference speeds of the RTL simulators on this host class (toolchain.md §5: counter with
# its clock in HDL, 10 ns period); the target is half of each, to allow for host noise.
RTL_REFERENCE = {
    ("icarus", "free"): 1_589_415.0,
    ("icarus", "edge"): 185_088.0,
    ("verilator", "free"): 1_999_034.0,
    ("verilator", "edge"): 189_155.0,
}
RTL_TARGET_FRACTION = 0.5
# The 2 MiB scenarios take about a second, half of it the host kernel faulting in the new
# node's memory, which varies from run to run on a shared host: best of 3, like the host copy.
HUGE_REPEATS = 3
# The 4 KiB target scenario (about 3 s of pure Python over a 2.5 GB working set) is slowed
# by whatever else uses a shared host's cores and memory (seen: 2.8 to 4.7 s within an
# hour): best of 5, as timeit and pyperf take the minimum; every run's time is printed. The
# other scenarios are shown without a verdict and run once.
PAGES_REPEATS = 5
QUICK_4K, QUICK_2M = 16 * MIB, 32 * MIB  # --quick sizes (4 KiB pages, 2 MiB folios)
SWEEP_FIT_TOTALS = ("16M", "64M")  # reduced sweeps whose wall times extrapolate to 1 GiB
EVENT_WORKLOAD_CHAINS = 64  # concurrent event chains (16 engines + IRQs + processes)
RESULT_TAG = "BENCH_RESULT "


# ----------------------------------------------------------------------------- scenarios
@dataclass(frozen=True)
class Migration:
    """One move_pages() scenario: folio order, migrator, channel count, IOMMU mode."""

    name: str
    label: str
    order: int
    migrator: str  # "cpu" (upstream per-folio path) | "dcbm" (DCBM v3)
    channels: int = 1
    iommu: str = "off"


MIGRATIONS: tuple[Migration, ...] = (
    Migration("cpu-4k", "4 KiB, CPU path (baseline)", 0, "cpu"),
    Migration("dcbm-4k-x1", "4 KiB, DCBM v3 x1, IOMMU off", 0, "dcbm", 1, "off"),
    Migration("dcbm-4k-x16", "4 KiB, DCBM v3 x16, IOMMU off", 0, "dcbm", 16, "off"),
    Migration("dcbm-4k-x16-iommu", "4 KiB, DCBM v3 x16, IOMMU translated", 0, "dcbm", 16,
              "translated"),
    Migration("dcbm-2m-x16", "2 MiB, DCBM v3 x16, IOMMU off", 9, "dcbm", 16, "off"),
    Migration("dcbm-2m-x16-iommu", "2 MiB, DCBM v3 x16, IOMMU translated", 9, "dcbm", 16,
              "translated"),
)
MIGRATION_BY_NAME = {m.name: m for m in MIGRATIONS}
# The targets are judged on the whole stack as it is calibrated and as the sweep runs it:
# DCBM v3 with the IOMMU translating (README, "Calibration": the one mode consistent with
# RFC v3's published single-channel 4 KiB point). The IOMMU-off scenarios (direct mapping,
# one descriptor per 4 KiB page) are printed beside them for comparison, without a verdict.
PAGES_TARGET_SCENARIOS = ("dcbm-4k-x16-iommu",)
HUGE_TARGET_SCENARIO = "dcbm-2m-x16-iommu"


def _sweep_config() -> dict[str, Any]:
    """The sweep's machine configuration (kernel release, IOMMU, batch limit) and grid."""
    try:
        from emulator.experiments import sweep
    except ImportError:  # the sweep command is not built: its announced defaults
        return {"exists": False, "kernel_release": "6.16", "iommu": "translated",
                "baseline_batch": 512, "folio_sizes": ["4K", "16K", "64K", "128K", "256K",
                                                       "512K", "1M", "2M"],
                "migrators": ["baseline", "mtcopy", "dcbm"], "counts": [1, 2, 4, 8, 12, 16],
                "runs": 2}
    return {
        "exists": True,
        "kernel_release": getattr(sweep, "KERNEL_RELEASE", "6.16"),
        "iommu": getattr(sweep, "DCBM_IOMMU", "translated"),
        "baseline_batch": getattr(sweep, "BASELINE_BATCH_LIMIT", 512),
        "folio_sizes": list(getattr(sweep, "FOLIO_SIZES", ())),
        "migrators": list(getattr(sweep, "MIGRATORS", ())),
        "counts": list(getattr(sweep, "COUNTS", ())),
        "runs": 2,
    }


def _peak_rss_bytes() -> int:
    """The process's RSS high-water mark (VmHWM), in bytes."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_migration(name: str, nbytes: int) -> dict[str, Any]:
    """Child side: build the machine, populate ``nbytes`` on node 1, time move_pages() to 0."""
    from emulator.experiments.stack import build_machine, move_pages_to, populate_workload

    sc = MIGRATION_BY_NAME[name]
    cfg = _sweep_config()
    t0 = time.perf_counter()
    if sc.migrator == "cpu":
        m = build_machine(flavour="generic", nr_max_batched_migration=cfg["baseline_batch"],
                          kernel_release=cfg["kernel_release"])
    else:
        m = build_machine(flavour="v3", nr_max_batched_migration=max(1, nbytes // PAGE),
                          kernel_release=cfg["kernel_release"], n_engines=16, iommu=sc.iommu)
        if m.call(m.dcbm.enable, "v3", sc.channels) != 0:
            raise RuntimeError(f"{name}: DCBM v3 x{sc.channels} could not be enabled")
    t1 = time.perf_counter()
    w = populate_workload(m, nbytes, 1, order=sc.order)
    split = _PhaseClock(m) if sc.migrator == "dcbm" else None
    t2 = time.perf_counter()
    sim0, ev0 = m.platform.sim.now, m.platform.sim.events_processed
    c2 = time.process_time()
    rc, status = move_pages_to(m, w, 0)
    t3 = time.perf_counter()
    c3 = time.process_time()
    nfolios = len(status)
    if rc != 0 or any(s != 0 for s in status):
        raise RuntimeError(f"{name}: move_pages returned {rc}")
    descs = sum(e.counters.descriptors for e in m.engines)
    if sc.migrator == "dcbm" and m.dcbm.folios_failures:
        raise RuntimeError(f"{name}: DCBM fell back to the CPU for {m.dcbm.folios_failures}")
    return {
        "name": name,
        "bytes": nbytes,
        "folios": nfolios,
        "wall_s": t3 - t2,
        "cpu_s": c3 - c2,
        "build_s": t1 - t0,
        "populate_s": t2 - t1,
        "simulated_ps": m.platform.sim.now - sim0,
        "events": m.platform.sim.events_processed - ev0,
        "descriptors": descs,
        "peak_rss": _peak_rss_bytes(),
        "ram_chunks_bytes": m.platform.mem.resident_bytes,
        "phases_s": split.phases(t3 - t2) if split is not None else {},
    }


class _PhaseClock:
    """Where a DCBM migration's wall time goes: host seconds in the copy sections
    (``_copy_begin`` .. ``_copy_end``), and inside them in DCBM's SG-table set-up and
    submission; the rest is the migration core and the syscall. A handful of timer reads
    per batch (instance attributes of this machine only), not per page."""

    def __init__(self, m: Any) -> None:
        self.acc = {"copy": 0.0, "sg": 0.0, "submit": 0.0}
        self._t = 0.0
        core, impl = m.core, m.dcbm.impl("v3")
        begin, end = core._copy_begin, core._copy_end

        def copy_begin() -> int:
            self._t = time.perf_counter()
            return begin()

        def copy_end(start: int, pages: int) -> None:
            end(start, pages)
            self.acc["copy"] += time.perf_counter() - self._t

        core._copy_begin, core._copy_end = copy_begin, copy_end
        self._timed(impl, "setup_sg_tables", "sg")
        self._timed(impl, "submit_dma_transfers", "submit")

    def _timed(self, obj: Any, name: str, key: str) -> None:
        fn = getattr(obj, name)

        def timed(*args: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args)
            finally:
                self.acc[key] += time.perf_counter() - t

        setattr(obj, name, timed)

    def phases(self, wall: float) -> dict[str, float]:
        a = self.acc
        return {"migration core and syscall": wall - a["copy"], "SG tables": a["sg"],
                "submission": a["submit"], "DMA (issue to completion)":
                a["copy"] - a["sg"] - a["submit"]}


def run_host_copy(nbytes: int) -> dict[str, Any]:
    """Child side: the host's copy times (``host_limits.measure_host_copy``)."""
    from emulator.experiments.host_limits import measure_host_copy

    h = measure_host_copy(nbytes)
    return {**asdict(h), "peak_rss": _peak_rss_bytes()}


def run_events(nevents: int) -> dict[str, Any]:
    """Child side: events/s of the event kernel on a representative heap, and process
    wake-ups/s (a sleep that cannot fast-forward: one event and two greenlet switches)."""
    from emulator.event_kernel import NS, Simulator

    sim = Simulator(0)
    delays = [(37 * k) % 997 * NS + NS for k in range(EVENT_WORKLOAD_CHAINS)]
    left = [nevents]

    def tick(k: int) -> None:
        if left[0] > 0:
            left[0] -= 1
            sim.schedule(delays[k], tick, k)

    for k in range(EVENT_WORKLOAD_CHAINS):
        sim.schedule(delays[k], tick, k)
    t0 = time.perf_counter()
    n = sim.run()
    events_wall = time.perf_counter() - t0

    sim2 = Simulator(0)
    nproc = 16
    per = max(1, nevents // (4 * nproc))

    def worker(k: int) -> None:
        d = delays[k]
        for _ in range(per):
            sim2.sleep(d)

    for k in range(nproc):
        sim2.spawn(worker, k)
    t0 = time.perf_counter()
    sim2.run()
    proc_wall = time.perf_counter() - t0
    wakeups = nproc * per - sim2.fast_forwards
    return {
        "events": n,
        "events_wall_s": events_wall,
        "events_per_s": n / events_wall,
        "wakeups": wakeups,
        "wakeups_per_s": wakeups / proc_wall if proc_wall else 0.0,
        "fast_forwards": sim2.fast_forwards,
    }


def run_descriptors(rounds: int) -> dict[str, Any]:
    """Child side: 4 KiB memcpy descriptors/s through one PTDMA model engine in fast mode,
    driven as the driver does through its registers (ring of 256, 255 per doorbell)."""
    import numpy as np

    from drivers.ptdma import ptdma_regs as R
    from emulator.platform import Platform
    from hdl_model import descriptor as D
    from hdl_model.ptdma_engine import attach_ptdma

    p = Platform(seed=1)
    eng = attach_ptdma(p, 1)[0]
    bus = p.bus
    bar = eng.pci.bar_base
    q = bar + R.CMD_Q_STATUS_INCR
    entries = 256
    ring = p.alloc_pages(eng.pci.node, 3)
    bus.iowrite32(R.CMD_CONFIG_VHB_EN, bar + R.CMD_CONFIG_OFFSET)  # pt_core_init, untimed
    bus.iowrite32(0, q + R.CMD_Q_INT_ENABLE_BASE)
    qcontrol = (((entries & -entries).bit_length() - 2) & R.CMD_Q_SIZE_MASK) << R.CMD_Q_SIZE_SHIFT
    qcontrol |= (ring >> 32) << R.CMD_Q_BASE_HI_SHIFT
    bus.iowrite32(ring & 0xFFFF_FFFF, q + R.CMD_Q_TAIL_LO_BASE)
    bus.iowrite32(ring & 0xFFFF_FFFF, q + R.CMD_Q_HEAD_LO_BASE)
    bus.iowrite32(qcontrol, q + R.CMD_Q_CONTROL_BASE)
    src = p.frames[1].alloc_contig(2 * MIB)
    dst = p.frames[0].alloc_contig(2 * MIB)
    p.mem.write(src, np.ones(2 * MIB, np.uint8))
    p.mem.write(dst, np.zeros(2 * MIB, np.uint8))
    per = entries - 1
    raw = D.pack_many(
        D.memcpy_descriptor(src + (i % 512) * PAGE, dst + (i % 512) * PAGE, PAGE, ioc=False)
        for i in range(per)
    ).view(np.uint8)
    bus.iowrite32(qcontrol | R.CMD_Q_RUN, q + R.CMD_Q_CONTROL_BASE)
    qidx = [0]

    def batch() -> None:
        slot = qidx[0]
        first = min(per, entries - slot) * 32
        p.mem.write(ring + slot * 32, raw[:first])
        if first < raw.size:
            p.mem.write(ring, raw[first:])
        qidx[0] = (slot + per) % entries
        bus.iowrite32((ring + qidx[0] * 32) & 0xFFFF_FFFF, q + R.CMD_Q_TAIL_LO_BASE)
        p.run()

    batch()  # warm-up
    t0 = time.perf_counter()
    for _ in range(rounds):
        batch()
    wall = time.perf_counter() - t0
    n = per * rounds
    if eng.counters.descriptors != per * (rounds + 1):
        raise RuntimeError("the PTDMA model did not complete every descriptor")
    return {"descriptors": n, "wall_s": wall, "descriptors_per_s": n / wall,
            "simulated_ps": p.sim.now}


def run_rtl(sim: str, quick: bool) -> dict[str, Any]:
    """Child side: the counter top's cycles per second on ``sim`` (``bench_rtl``)."""
    from emulator.experiments import bench_rtl

    if not bench_rtl.available(sim):
        return {"available": False}
    free, edge = (200_000, 10_000) if quick else (3_000_000, 150_000)
    return {"available": True, **bench_rtl.measure(sim, free, edge)}


def run_sweep_timed(total: str | None = None) -> dict[str, Any]:
    """Child side: wall time of the default ``dcbm-emu sweep`` (of ``--total`` if given)."""
    import contextlib
    import io

    from emulator.cli import main

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["sweep"] + (["--total", total] if total else []))
    if rc:
        raise RuntimeError(f"dcbm-emu sweep exited with {rc}")
    return {"total": total or "1G", "wall_s": time.perf_counter() - t0,
            "cpu_s_children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime}


CHILD_TASKS: dict[str, Callable[..., dict[str, Any]]] = {
    "migration": run_migration,
    "host": run_host_copy,
    "events": run_events,
    "descriptors": run_descriptors,
    "rtl": run_rtl,
    "sweep": run_sweep_timed,
}


def child_main(argv: list[str]) -> int:
    """Entry point of a scenario subprocess: run one task, print its result as JSON."""
    spec = json.loads(argv[0])
    result = CHILD_TASKS[spec["task"]](*spec.get("args", []))
    result["model_code"] = accel.STATUS  # compiled build or Python sources (emulator.accel)
    sys.stdout.flush()
    print(RESULT_TAG + json.dumps(result), flush=True)
    return 0


def in_child(task: str, *args: Any, timeout: float = 3600.0) -> dict[str, Any]:
    """Run ``task`` in a fresh Python process (clean RSS high-water mark, cold caches)."""
    spec = json.dumps({"task": task, "args": list(args)})
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from emulator.experiments.bench import child_main; "
         "sys.exit(child_main(sys.argv[1:]))", spec],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=root,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            out: dict[str, Any] = json.loads(line[len(RESULT_TAG):])
            return out
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-12:]
    raise RuntimeError(f"bench task {task}{args} failed (exit {proc.returncode}):\n"
                       + "\n".join(tail))


# ----------------------------------------------------------------------------- the report
@dataclass
class Row:
    """One printed figure: value, target and verdict (None: a reference, no target)."""

    section: str
    figure: str
    value: str
    target: str
    ok: bool | None
    raw: dict[str, Any] = field(default_factory=dict)


def _fmt_s(s: float) -> str:
    return f"{s:.3f} s" if s < 10 else f"{s:.1f} s"


def _fmt_rate(x: float, unit: str) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f} M {unit}"
    if x >= 1e4:
        return f"{x / 1e3:.1f} k {unit}"
    return f"{x:.0f} {unit}"


def sweep_runs(cfg: dict[str, Any]) -> list[tuple[str, str, int]]:
    """The default sweep's points (folio size, migrator, count), each run ``cfg['runs']``."""
    pts = []
    for fs in cfg["folio_sizes"]:
        for mig in cfg["migrators"]:
            for c in (1,) if mig == "baseline" else cfg["counts"]:
                pts.append((fs, mig, c))
    return pts


def _folio_pages(size: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = size.strip().upper().rstrip("B")
    n = int(float(t[:-1]) * units[t[-1]]) if t[-1] in units else int(t)
    return max(1, n // PAGE)


def fit_sweep(small: dict[str, Any], large: dict[str, Any]) -> float:
    """Wall seconds of the default 1 GiB sweep from two reduced ones: every run costs a fixed
    part (machine build) plus a part proportional to the bytes moved (population and
    migration of a fixed folio size), so the sweep's wall time is linear in ``--total``."""
    s1, s2 = _size_mib(small["total"]), _size_mib(large["total"])
    b = (large["wall_s"] - small["wall_s"]) / (s2 - s1)
    a = small["wall_s"] - b * s1
    return a + b * 1024.0


def _size_mib(text: str) -> float:
    t = text.strip().upper().rstrip("B")
    scale = {"K": 1 / 1024, "M": 1.0, "G": 1024.0}
    return float(t[:-1]) * scale[t[-1]] if t[-1] in scale else float(t) / MIB


def estimate_sweep(cfg: dict[str, Any], mig: dict[str, dict[str, Any]],
                   huge_scenario: str) -> float:
    """Wall seconds of the default sweep on one core, from the measured scenario rates.

    Per run: a fixed cost per folio (from the 4 KiB scenario of the same kind: its wall time
    over its folio count) plus a cost per byte (from the 2 MiB DCBM scenario). mtcopy points
    use the CPU path's per-folio cost (a batch CPU copy), DCBM points the translated 4 KiB
    DCBM scenario's (the sweep's IOMMU mode). An estimate: the table says so.
    """
    per_byte = mig[huge_scenario]["wall_s"] / mig[huge_scenario]["bytes"]
    per_folio_cpu = mig["cpu-4k"]["wall_s"] / mig["cpu-4k"]["folios"]
    dma_key = "dcbm-4k-x16-iommu" if cfg["iommu"] == "translated" else "dcbm-4k-x16"
    per_folio_dma = mig[dma_key]["wall_s"] / mig[dma_key]["folios"]
    total = 0.0
    for fs, m, _c in sweep_runs(cfg):
        folios = GIB // (PAGE * _folio_pages(fs))
        per_folio = per_folio_dma if m == "dcbm" else per_folio_cpu
        total += folios * per_folio + GIB * per_byte
    return total * cfg["runs"]


def build_rows(res: dict[str, Any], quick: bool) -> list[Row]:
    """Turn the measurements into the table's rows, with targets and verdicts."""
    rows: list[Row] = []
    host = res["host"]
    nb = host["nbytes"]
    size = f"{nb / GIB:g} GiB" if nb >= GIB else f"{nb / MIB:g} MiB"
    for key, label in (("warm_s", "warm buffers"), ("fresh_hugepage_s", "fresh huge pages"),
                       ("fresh_4k_s", "fresh 4 KiB pages")):
        s = host[key]
        rows.append(Row("host copy (the limit)", f"{size}, {label}",
                        f"{_fmt_s(s)}  ({nb / s / 1e9:.2f} GB/s)", "reference", None,
                        {"seconds": s}))
    mig = res["migrations"]
    limit_s = TARGET_HUGE_RATIO * host["fresh_hugepage_s"]
    for sc in MIGRATIONS:
        r = mig.get(sc.name)
        if r is None:
            continue
        wall, nbytes = r["wall_s"], r["bytes"]
        pages_s = nbytes / PAGE / wall
        sec = f"move_pages {nbytes / GIB:g} GiB" if nbytes >= GIB else \
            f"move_pages {nbytes / MIB:g} MiB"
        if sc.name == HUGE_TARGET_SCENARIO:
            tgt, ok = f"<= {TARGET_HUGE_RATIO:g} x host fresh-hugepage = {_fmt_s(limit_s)}", \
                wall <= limit_s
        else:
            tgt, ok = f"{wall / host['fresh_hugepage_s']:.1f} x host fresh-hugepage", None
        reps = len(r.get("wall_s_runs", [wall]))
        best = f", best of {reps}" if reps > 1 else ""
        rows.append(Row(sec, f"{sc.label}: wall (CPU){best}",
                        f"{_fmt_s(wall)} ({_fmt_s(r['cpu_s'])})", tgt, ok, r))
        if reps > 1:  # the spread the minimum was taken from
            rows.append(Row(sec, f"{sc.label}: every run",
                            ", ".join(_fmt_s(x) for x in r["wall_s_runs"]), "", None))
        rows.append(Row(sec, f"{sc.label}: GB/s", f"{nbytes / wall / 1e9:.3f} GB/s",
                        f"host fresh-hugepage {nb / host['fresh_hugepage_s'] / 1e9:.2f} GB/s",
                        None))
        if sc.order == 0:
            if sc.name in PAGES_TARGET_SCENARIOS:
                tgt, ok = f">= {_fmt_rate(TARGET_PAGES_PER_S, 'pages/s')}", \
                    pages_s >= TARGET_PAGES_PER_S
            else:
                tgt, ok = "-", None
            rows.append(Row(sec, f"{sc.label}: 4 KiB pages/s", _fmt_rate(pages_s, "pages/s"),
                            tgt, ok))
            if sc.name in PAGES_TARGET_SCENARIOS and r.get("phases_s"):
                npages = nbytes / PAGE
                split = ", ".join(f"{k} {v / npages * 1e6:.2f}"
                                  for k, v in r["phases_s"].items())
                rows.append(Row(sec, f"{sc.label}: host us per page", split,
                                f"{1e6 / TARGET_PAGES_PER_S:.1f} us per page in all", None))
        mem_limit = nbytes * TARGET_MEM_FACTOR + TARGET_MEM_EXTRA
        rows.append(Row(sec, f"{sc.label}: peak RSS", f"{r['peak_rss'] / 1e6:.0f} MB",
                        f"<= {mem_limit / 1e6:.0f} MB (3 x bytes + 300 MB)",
                        r["peak_rss"] <= mem_limit))
    # Components. Their targets are what the 4 KiB x16 target scenario needs of each.
    ref = mig.get(PAGES_TARGET_SCENARIOS[0])
    ev = res["events"]
    if ref is not None:
        ev_per_page = ref["events"] / ref["folios"]
        need = ev_per_page * TARGET_PAGES_PER_S
        rows.append(Row("components", "event kernel: events/s",
                        _fmt_rate(ev["events_per_s"], "events/s"),
                        f">= {_fmt_rate(need, '/s')} ({ev_per_page:.1f} events per 4 KiB page "
                        f"x 100k pages/s)", ev["events_per_s"] >= need, ev))
    else:
        rows.append(Row("components", "event kernel: events/s",
                        _fmt_rate(ev["events_per_s"], "events/s"), "-", None, ev))
    rows.append(Row("components", "event kernel: process wake-ups/s",
                    _fmt_rate(ev["wakeups_per_s"], "wake-ups/s"), "-", None))
    dsc = res["descriptors"]
    if ref is not None and ref.get("descriptors"):
        desc_per_page = ref["descriptors"] / ref["folios"]
        need = desc_per_page * TARGET_PAGES_PER_S
        rows.append(Row("components", "PTDMA model (fast): 4 KiB descriptors/s",
                        _fmt_rate(dsc["descriptors_per_s"], "desc/s"),
                        f">= {_fmt_rate(need, 'desc/s')} ({desc_per_page:.3g} descriptors per "
                        "page x 100k pages/s)", dsc["descriptors_per_s"] >= need, dsc))
    else:
        rows.append(Row("components", "PTDMA model (fast): 4 KiB descriptors/s",
                        _fmt_rate(dsc["descriptors_per_s"], "desc/s"), "-", None, dsc))
    for sim, r in res["rtl"].items():
        if not r.get("available"):
            rows.append(Row("components", f"RTL {sim}: cycles/s", "not installed", "-", None))
            continue
        for kind, key, what in (("free", "free_cycles_per_s", "HDL clock, free-running"),
                                ("edge", "edge_cycles_per_s", "a cocotb await per edge")):
            refv = RTL_REFERENCE[(sim, kind)]
            need = refv * RTL_TARGET_FRACTION
            rows.append(Row("components", f"RTL {sim}: cycles/s, {what}",
                            _fmt_rate(r[key], "cycles/s"),
                            f">= {_fmt_rate(need, '/s')} (half of toolchain.md §5)",
                            r[key] >= need, r))
    sw = res["sweep"]
    tgt = f"< {TARGET_SWEEP_S:.0f} s on {SWEEP_CORES} cores"
    what = f"full default sweep ({sw['runs']} runs of 1 GiB, --jobs {res['cpus']})"
    if sw.get("measured"):
        rows.append(Row("sweep", f"{what}: measured", _fmt_s(sw["wall_s"]), tgt,
                        sw["wall_s"] < TARGET_SWEEP_S, sw))
    elif sw.get("reduced"):
        r = sw["reduced"]
        rows.append(Row("sweep", f"{what}: estimated, linear fit of the default sweep at "
                        f"--total {r[0]['total']} ({_fmt_s(r[0]['wall_s'])}) and "
                        f"{r[1]['total']} ({_fmt_s(r[1]['wall_s'])})",
                        _fmt_s(sw["estimate_s"]), f"{tgt} (estimate)",
                        sw["estimate_s"] < TARGET_SWEEP_S, sw))
    elif sw.get("estimate_one_core_s") is not None:
        per_core = sw["estimate_one_core_s"] / SWEEP_CORES
        rows.append(Row("sweep", f"{what}: estimated from the scenario rates above, 1 core / "
                        f"{SWEEP_CORES} cores",
                        f"{_fmt_s(sw['estimate_one_core_s'])} / {_fmt_s(per_core)}",
                        f"{tgt} (rough estimate)", per_core < TARGET_SWEEP_S, sw))
    return rows


def print_rows(rows: list[Row], title: str) -> None:
    """The rich table: figure, value, target, PASS/FAIL."""
    from rich.table import Table

    from .ui import wide_console

    console = wide_console(170)
    table = Table(title=title, show_lines=False)
    for col, just in (("section", "left"), ("figure", "left"), ("value", "right"),
                      ("target", "left"), ("", "center")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    last = ""
    for r in rows:
        verdict = "" if r.ok is None else ("[green]PASS[/green]" if r.ok else "[red]FAIL[/red]")
        table.add_row(r.section if r.section != last else "", r.figure, r.value, r.target,
                      verdict)
        last = r.section
    console.print(table)


def cmd_bench(args: argparse.Namespace) -> int:
    """Measure the emulator's speed and memory against the host's copy limits."""
    from rich.console import Console

    console = Console(stderr=True)
    quick = bool(args.quick)
    nbytes = int(args.size_mib * MIB) if args.size_mib else (QUICK_4K if quick else GIB)
    huge_bytes = int(args.size_mib * MIB) if args.size_mib else (QUICK_2M if quick else GIB)
    names = [s for s in (args.scenarios.split(",") if args.scenarios else
                         [m.name for m in MIGRATIONS])]
    for n in names:
        if n not in MIGRATION_BY_NAME:
            console.print(f"unknown scenario {n!r}; one of {', '.join(MIGRATION_BY_NAME)}")
            return 2
    cfg = _sweep_config()
    res: dict[str, Any] = {"quick": quick, "python": sys.version.split()[0],
                           "cpus": os.cpu_count(), "sweep_config": cfg}
    t_start = time.perf_counter()

    def step(what: str) -> None:
        console.print(f"[dim]bench: {what} ({time.perf_counter() - t_start:.0f} s)[/dim]")

    # The huge-page target compares against the host copy of the same bytes.
    host_bytes = huge_bytes if HUGE_TARGET_SCENARIO in names else nbytes
    step(f"host copy of {host_bytes / MIB:g} MiB")
    res["host"] = in_child("host", host_bytes)
    res["migrations"] = {}
    for n in names:
        sc = MIGRATION_BY_NAME[n]
        b = huge_bytes if sc.order else nbytes
        reps = HUGE_REPEATS if sc.order else PAGES_REPEATS if n in PAGES_TARGET_SCENARIOS else 1
        step(f"move_pages {b / MIB:g} MiB: {sc.label}" + (f" (best of {reps})" if reps > 1 else ""))
        runs = [in_child("migration", n, b) for _ in range(reps)]
        best = min(runs, key=lambda r: r["wall_s"])
        res["migrations"][n] = {**best, "wall_s_runs": [r["wall_s"] for r in runs]}
    step("event kernel")
    res["events"] = in_child("events", 100_000 if quick else 2_000_000)
    step("PTDMA model")
    res["descriptors"] = in_child("descriptors", 4 if quick else 80)
    res["rtl"] = {}
    for sim in ("icarus", "verilator"):
        step(f"RTL on {sim}")
        try:
            res["rtl"][sim] = in_child("rtl", sim, quick)
        except RuntimeError as exc:
            res["rtl"][sim] = {"available": False, "error": str(exc)}
    mig = res["migrations"]
    sweep: dict[str, Any] = {"runs": len(sweep_runs(cfg)) * cfg["runs"], "measured": False}
    if cfg["exists"] and args.sweep:
        step("the full default sweep (this takes a while)")
        sweep.update(in_child("sweep", timeout=7200.0), measured=True)
    elif cfg["exists"] and not quick:
        reduced = []
        for total in SWEEP_FIT_TOTALS:
            step(f"the default sweep at --total {total}")
            reduced.append(in_child("sweep", total, timeout=7200.0))
        sweep["reduced"] = reduced
        sweep["estimate_s"] = fit_sweep(*reduced)
    if all(k in mig for k in ("cpu-4k", "dcbm-4k-x16", "dcbm-4k-x16-iommu", "dcbm-2m-x16")):
        sweep["estimate_one_core_s"] = estimate_sweep(cfg, mig, HUGE_TARGET_SCENARIO)
    res["sweep"] = sweep
    res["bench_wall_s"] = time.perf_counter() - t_start
    # What the emulator ran as, in the migration children (each imports emulator afresh).
    codes = {r.get("model_code", accel.STATUS) for r in mig.values()} or {accel.STATUS}
    res["model_code"] = "; ".join(sorted(codes))
    rows = build_rows(res, quick)
    res["rows"] = [asdict(r) for r in rows]
    title = ("dcbm-emu bench" + (" --quick" if quick else "")
             + f": wall-clock speed and memory vs. the host (Python {res['python']}, "
             f"{res['cpus']} CPUs, bench {res['bench_wall_s']:.0f} s; model code: "
             f"{res['model_code']})")
    print_rows(rows, title)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
        console.print(f"wrote {args.json}")
    return 0


def register(sub: Any) -> None:
    """Add the ``bench`` sub-command."""
    p = sub.add_parser("bench", help="emulator speed and memory against the host's limits",
                       description=cmd_bench.__doc__)
    p.add_argument("--quick", action="store_true",
                   help="small sizes (16 MiB of 4 KiB pages, 32 MiB of 2 MiB folios): a smoke "
                   "test")
    p.add_argument("--json", metavar="PATH", help="write every measurement as JSON")
    p.add_argument("--size-mib", type=float, default=None,
                   help="bytes per migration scenario, in MiB (default 1024; --quick 32/64)")
    p.add_argument("--scenarios", default=None,
                   help="comma-separated migration scenarios (default all): "
                   + ", ".join(MIGRATION_BY_NAME))
    p.add_argument("--sweep", action="store_true",
                   help="time the full default `dcbm-emu sweep` (else estimated from two "
                   "reduced sweeps; --quick: from the scenario rates)")
    p.set_defaults(func=cmd_bench)
