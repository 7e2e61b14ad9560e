"""Wall-time measurement of a 1 GiB migration of 4 KiB pages on the CPU path."""

from __future__ import annotations

import time

import numpy as np
import pytest

from .helpers import checksums, make_env, move, populate


@pytest.mark.slow
@pytest.mark.parametrize("flavour", ["generic", "seed", "latest"])
def test_one_gib_of_4k_pages(flavour: str) -> None:
    env = make_env(flavour)
    t0 = time.perf_counter()
    r = populate(env, 262144, node=1)
    t1 = time.perf_counter()
    before = checksums(env, r)
    t2 = time.perf_counter()
    rc, status = move(env, r, 0)
    t3 = time.perf_counter()
    assert rc == 0 and set(status) == {0}
    assert np.array_equal(checksums(env, r), before)
    rec = env.core.records[-1]
    mig, copy = rec.cycles_per_page()
    print(f"\n{flavour}: populate {t1 - t0:.1f}s, move_pages of 1 GiB {t3 - t2:.1f}s wall; "
          f"simulated {rec.total_ps / 1e12 * 1e3:.1f} ms, {mig:.0f} cycles/page, "
          f"folio_copy {copy:.0f} cycles/page, F={rec.F:.3f}")
