"""Fixtures for the driver-stack tests: a platform with PTDMA engines, probed, and folios."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from drivers.kernel import Kernel
from drivers.mm.folio import FOLIO_CONTENT_COPIED, Folio
from drivers.mm.folio_copy import folio_copy
from drivers.ptdma.ptdma import PtDevice, PtdmaDriverConfig
from drivers.ptdma.ptdma_pci import ptdma_probe_all
from emulator.platform import Platform
from hdl_model.ptdma_engine import attach_ptdma


@dataclass
class Stack:
    """A platform, its kernel, the engines (model side) and the bound PTDMA devices."""

    platform: Platform
    kernel: Kernel
    engines: list[Any]
    pts: list[PtDevice]

    def call(self, fn: Callable[..., Any], *args: Any, core: int = 0) -> Any:
        """Run ``fn(*args)`` as a process on ``core`` to completion."""
        return self.platform.call(fn, *args, core=core)


def make_stack(
    n_engines: int = 1,
    *,
    iommu: str = "off",
    error_reporting: str = "faithful",
    int_en: str = "last_prep",
    seed: int = 1,
    **engine_config: Any,
) -> Stack:
    """Platform + Kernel + ``attach_ptdma`` + ``ptdma_probe_all`` (run as a process)."""
    p = Platform(seed=seed, iommu_mode=iommu)
    k = Kernel(p)
    engines = attach_ptdma(p, n_engines, **engine_config)
    cfg = PtdmaDriverConfig(error_reporting=error_reporting, int_en=int_en)
    pts = p.call(ptdma_probe_all, k, cfg)
    assert len(pts) == n_engines
    return Stack(p, k, engines, pts)


@pytest.fixture
def stack_factory() -> Callable[..., Stack]:
    """``make_stack`` as a fixture."""
    return make_stack


@dataclass
class Batch:
    """Source and destination folios with the source bytes each should end up with."""

    srcs: list[Folio]
    dsts: list[Folio]
    data: list[np.ndarray]


def make_batch(
    p: Platform,
    n: int,
    order: int | list[int] = 0,
    src_node: int = 1,
    dst_node: int = 0,
    seed: int = 0,
) -> Batch:
    """``n`` folio pairs (remote -> local by default), sources filled with random bytes,
    destinations with a 0xAA guard pattern."""
    rng = np.random.default_rng(seed)
    orders = order if isinstance(order, list) else [order] * n
    srcs, dsts, data = [], [], []
    for o in orders[:n]:
        s = Folio(p.alloc_pages(src_node, o), o, src_node)
        d = Folio(p.alloc_pages(dst_node, o), o, dst_node)
        x = rng.integers(0, 256, s.size, dtype=np.uint8)
        p.mem.write(s.phys, x)
        p.mem.fill(d.phys, d.size, 0xAA)
        srcs.append(s)
        dsts.append(d)
        data.append(x)
    return Batch(srcs, dsts, data)


def wrong_folios(p: Platform, b: Batch) -> list[int]:
    """Indices of destination folios whose bytes differ from their source's."""
    return [
        i for i, (d, x) in enumerate(zip(b.dsts, b.data, strict=True))
        if not np.array_equal(p.mem.read(d.phys, d.size), x)
    ]


def core_fallback(k: Kernel, b: Batch) -> int:
    """What the latest migration core does after a batch copy: CPU-copy every destination
    not marked FOLIO_CONTENT_COPIED (and consume the marker). Returns how many it copied."""
    n = 0
    for s, d in zip(b.srcs, b.dsts, strict=True):
        if d.migrate_info & FOLIO_CONTENT_COPIED:
            d.migrate_info &= ~FOLIO_CONTENT_COPIED
        else:
            folio_copy(k, d, s)
            n += 1
    return n
