"""The sweep's worker processes change its wall time, never its rows."""

from __future__ import annotations

from emulator.experiments import sweep as S


def test_sweep_rows_do_not_depend_on_jobs() -> None:
    args = (["4K", "64K"], ["baseline", "dcbm"], [1, 2], 2, 3, 2 << 20)
    seen: list[str] = []
    serial = S.run_sweep(*args, jobs=1)
    parallel = S.run_sweep(*args, jobs=2, progress=seen.append)
    assert [(r.folio_size, r.migrator, r.count, r.gbps.mean, r.gbps.sd) for r in serial] == \
        [(r.folio_size, r.migrator, r.count, r.gbps.mean, r.gbps.sd) for r in parallel]
    assert len(seen) == len(S.scenarios(*args[:3])) * 2  # one progress step per run
