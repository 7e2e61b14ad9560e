"""Simulated-result fingerprints of whole migrations, the guard of every speed-up.

A speed-up of the emulator must not change what it simulates. ``fingerprint(case)`` runs
one small but complete migration (platform, kernel, drivers, DCBM, engines) and returns
everything a user could observe of it: simulated time, the t1..t4 records, every named CPU
charge and its cycles, the engines' counters, the status array and a checksum of the
moved bytes. ``golden_fingerprint.json`` holds the values recorded before the optimisation
work; ``test_fingerprint.py`` compares. A change that is *meant* to alter the model's
results (a new cost, a recalibration) regenerates the file with
``python -m tests.perf.fingerprint --update`` and says so in its commit.
"""

from __future__ import annotations

import argparse
import json
import zlib
from pathlib import Path
from typing import Any

from drivers.mm.mtcopy import MtCopy
from emulator.experiments.stack import build_machine, move_pages_to, populate_workload
from emulator.frame_allocator import PAGE_SIZE

GOLDEN = Path(__file__).with_name("golden_fingerprint.json")
MIB = 1 << 20

# name -> (build_machine kwargs, (DCBM version or "mtcopy", channels/threads) or None,
#          bytes, folio order)
CASES: dict[str, tuple[dict[str, Any], tuple[str, int] | None, int, int]] = {
    "generic-6.16-4k": ({"flavour": "generic", "kernel_release": "6.16",
                         "nr_max_batched_migration": 512}, None, 4 * MIB, 0),
    "generic-6.8-jitter-4k": ({"flavour": "generic", "jitter": True, "seed": 3}, None,
                              2 * MIB, 0),
    "seed-cpu-batch-4k": ({"flavour": "seed", "jitter": True, "seed": 5}, None, 2 * MIB, 0),
    "dcbm-v1-x1-4k": ({"flavour": "seed", "n_engines": 1, "jitter": True, "seed": 7},
                      ("v1", 1), 2 * MIB, 0),
    "dcbm-v3-x1-4k": ({"flavour": "v3", "kernel_release": "6.16", "n_engines": 16,
                       "nr_max_batched_migration": 1024}, ("v3", 1), 2 * MIB, 0),
    "dcbm-v3-x16-4k": ({"flavour": "v3", "kernel_release": "6.16", "n_engines": 16,
                        "nr_max_batched_migration": 1024}, ("v3", 16), 4 * MIB, 0),
    "dcbm-v3-x16-4k-iommu": ({"flavour": "v3", "kernel_release": "6.16", "n_engines": 16,
                              "iommu": "translated", "nr_max_batched_migration": 1024,
                              "jitter": True, "seed": 2}, ("v3", 16), 4 * MIB, 0),
    "dcbm-v3-x16-4k-iommu-batch256": ({"flavour": "v3", "kernel_release": "6.16",
                                       "n_engines": 16, "iommu": "translated",
                                       "nr_max_batched_migration": 256}, ("v3", 16), 4 * MIB,
                                      0),
    "dcbm-v3-x4-64k-iommu": ({"flavour": "v3", "kernel_release": "6.16", "n_engines": 16,
                              "iommu": "translated", "nr_max_batched_migration": 2048},
                             ("v3", 4), 8 * MIB, 4),
    "dcbm-v3-x16-2m": ({"flavour": "v3", "kernel_release": "6.16", "n_engines": 16,
                        "nr_max_batched_migration": 4096}, ("v3", 16), 16 * MIB, 9),
    "mtcopy-x4-4k": ({"flavour": "v3", "kernel_release": "6.16", "jitter": True, "seed": 4,
                      "nr_max_batched_migration": 1024}, ("mtcopy", 4), 4 * MIB, 0),
    "dcbm-latest-x8-4k-iommu": ({"flavour": "latest", "kernel_release": "6.16",
                                 "n_engines": 16, "iommu": "translated",
                                 "nr_max_batched_migration": 1024}, ("latest", 8), 4 * MIB, 0),
}


def _checksum(m: Any, node: int) -> int:
    """CRC of every byte of RAM on ``node`` that the host has backed."""
    crc = 0
    region = m.platform.mem.nodes[node]
    for idx in sorted(region._chunks):
        crc = zlib.crc32(region._chunks[idx], crc)
    return crc


def fingerprint(name: str) -> dict[str, Any]:
    """Run case ``name`` and return its observable results (JSON-friendly)."""
    kwargs, dcbm, nbytes, order = CASES[name]
    m = build_machine(**kwargs)
    if dcbm is not None and dcbm[0] == "mtcopy":
        mt = m.kernel.subsystem(MtCopy)
        mt.interface, mt.cpuselect = "offc", "spread"
        if mt.set_threads(dcbm[1]) != 0 or mt.set_offloading(True) != 0:
            raise RuntimeError(f"{name}: mtcopy could not be enabled")
    elif dcbm is not None and m.call(m.dcbm.enable, dcbm[0], dcbm[1]) != 0:
        raise RuntimeError(f"{name}: DCBM {dcbm} could not be enabled")
    w = populate_workload(m, nbytes, 1, order=order, seed=11)
    sim = m.platform.sim
    t0 = sim.now
    start = len(m.core.records)
    rc, status = move_pages_to(m, w, 0)
    cpu = m.platform.cpu
    return {
        "rc": rc,
        "status_crc": zlib.crc32(json.dumps(status).encode()),
        "elapsed_ps": sim.now - t0,
        "now_ps": sim.now,
        "records": [[r.t1, r.t2, r.t3, r.t4, r.copy_ps, r.nr_pages, r.nr_folios]
                    for r in m.core.records[start:]],
        "op_counts": dict(sorted(cpu.op_counts.items())),
        "op_cycles": dict(sorted(cpu.op_cycles_charged.items())),
        "busy_cycles": [round(c.busy_cycles, 3) for c in cpu.cores],
        "engines": [e.counters.as_dict() for e in m.engines],
        "node0_crc": _checksum(m, 0),
        "pages": nbytes // PAGE_SIZE,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--update", action="store_true", help=f"rewrite {GOLDEN.name}")
    p.add_argument("--cases", default=None, help="comma-separated subset")
    args = p.parse_args()
    names = args.cases.split(",") if args.cases else list(CASES)
    got = {n: fingerprint(n) for n in names}
    if args.update:
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        print(f"wrote {GOLDEN}")
        return 0
    golden = json.loads(GOLDEN.read_text())
    bad = [n for n in names if golden.get(n) != got[n]]
    for n in bad:
        diff = {k: (golden.get(n, {}).get(k), v) for k, v in got[n].items()
                if golden.get(n, {}).get(k) != v}
        print(f"{n}: DIFFERS {json.dumps(diff)[:2000]}")
    print("all identical" if not bad else f"{len(bad)} of {len(names)} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
